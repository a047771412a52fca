#!/usr/bin/env node
// `node scripts/mint-token.mjs`: a local access token for shell experiments (scripts/commands/mint-token.mjs).
import { runCommand } from './cli.mjs';

export const spec = {
  name: 'mint-token',
  usage: 'node scripts/mint-token.mjs [--sub ID] [--scope "A B"] [--ttl SECONDS] [--alg EdDSA|RS256] [--base-url URL] [--audience URL]',
  summary:
    'Prints an access token signed with the local key in .dev.vars (SIGNING_KEY, or RSA_SIGNING_KEY with --alg RS256), shaped exactly as the token endpoint\'s (RFC 9068: typ at+jwt, kid the key\'s RFC 7638 thumbprint). For trying the proxy from a shell while npm start runs; real tokens come from the OAuth flow (node scripts/oauth-demo.mjs).',
  options: {
    sub: { type: 'string', value: 'ID', default: 'usr_demo', description: 'the user the token is for' },
    scope: { type: 'string', value: '"A B"', default: 'todos:read todos:write', description: 'the scopes it carries, space-separated' },
    ttl: { type: 'string', value: 'SECONDS', default: '3600', description: 'how long it is valid' },
    alg: { type: 'string', value: 'EdDSA|RS256', default: 'EdDSA', description: 'the signature algorithm' },
    'base-url': { type: 'string', value: 'URL', default: 'http://127.0.0.1:8787', description: 'the issuer (the gateway\'s public URL)' },
    audience: { type: 'string', value: 'URL', description: 'the API resource (default: the base URL, the default resource)' },
  },
  examples: ['TOKEN=$(node scripts/mint-token.mjs)', 'curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8787/todos'],
};

await runCommand(spec, () => import('./commands/mint-token.mjs'), { install: 'packages' });

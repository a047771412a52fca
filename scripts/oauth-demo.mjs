#!/usr/bin/env node
// `node scripts/oauth-demo.mjs`: the whole OAuth flow against a running gateway (scripts/commands/oauth-demo.mjs).
import { runCommand } from './cli.mjs';

export const spec = {
  name: 'oauth-demo',
  usage: 'node scripts/oauth-demo.mjs [--base-url URL]',
  summary:
    'Walks the whole OAuth flow against a running gateway with a standard client library (oauth4webapi), as the demo\'s public client portcullis-cli with PKCE and a loopback redirect (RFC 8252): discovery, authorize (it prints a URL: sign in and allow access in your browser), code exchange, a call to GET /todos with the access token, refresh, revocation, and the revoked refresh token refused.',
  options: {
    'base-url': { type: 'string', value: 'URL', default: 'http://127.0.0.1:8787', description: 'the gateway (its issuer)' },
  },
  examples: ['npm start                     # in one shell', 'node scripts/oauth-demo.mjs   # in another'],
};

await runCommand(spec, () => import('./commands/oauth-demo.mjs'), { install: 'packages' });

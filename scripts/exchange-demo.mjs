#!/usr/bin/env node
// `node scripts/exchange-demo.mjs`: token exchange (RFC 8693) against the running demo (scripts/commands/exchange-demo.mjs).
import { join } from 'node:path';
import { root, runCommand, UsageError } from './cli.mjs';

export const spec = {
  name: 'exchange-demo',
  usage: 'node scripts/exchange-demo.mjs [--mcp-url URL] [--todo-url URL] [--dev-vars FILE]',
  summary:
    'Token exchange (RFC 8693) in the demo, step by step. You authorize an MCP client for the demo MCP server in your browser (it prints a URL: sign in as the demo user and allow access); the script checks that token at the MCP server, then, as the MCP server\'s own confidential client demo-mcp-server, trades it at the MCP plugin\'s token endpoint for a token to the todo API: same user, the scopes the plugin\'s token_exchange policy and your roles allow, an act claim naming the MCP server, no refresh token. It verifies the new token with the gateway\'s JWKS, introspects it, and shows a scope the policy does not allow refused. The new token\'s issuer is the MCP plugin: it is for a todo API that checks tokens with the JWKS, since the demo\'s todo plugin, another issuer, takes only its own tokens.',
  options: {
    'mcp-url': { type: 'string', value: 'URL', default: 'http://localhost:8787/mcp', description: 'the demo MCP server on the gateway' },
    'todo-url': { type: 'string', value: 'URL', default: 'http://127.0.0.1:8787', description: 'the todo API: its resource indicator, the target of the exchange' },
    'dev-vars': { type: 'string', value: 'FILE', default: join(root, '.dev.vars'), description: 'where the MCP server client\'s secret is (DEMO_MCP_CLIENT_SECRET)' },
  },
  examples: ['npm start                        # in one shell', 'node scripts/exchange-demo.mjs   # in another'],
};

/** The URLs are checked before anything is installed. */
export function check({ values }) {
  for (const flag of ['mcp-url', 'todo-url']) {
    if (!URL.canParse(values[flag])) throw new UsageError(`--${flag} ${JSON.stringify(values[flag])} is not a URL`);
  }
}

await runCommand(spec, () => import('./commands/exchange-demo.mjs'), { install: 'packages', check });

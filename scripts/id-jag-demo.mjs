#!/usr/bin/env node
// `node scripts/id-jag-demo.mjs`: enterprise-managed authorization (ID-JAG) against the running demo (scripts/commands/id-jag-demo.mjs).
import { join } from 'node:path';
import { root, runCommand, UsageError } from './cli.mjs';

export const spec = {
  name: 'id-jag-demo',
  usage: 'node scripts/id-jag-demo.mjs [--idp URL] [--mcp-url URL] [--employee EMAIL] [--dev-vars FILE]',
  summary:
    'Enterprise-managed authorization (identity assertion JWT authorization grants, ID-JAG) in the demo, step by step and with no browser. An employee of the demo enterprise Acme signs in to its agent app at Acme\'s identity provider (demo/enterprise-idp.mjs, started by npm start); the app trades that ID token at Acme for an identity assertion for the demo MCP server\'s authorization server, and presents it there as a JWT-bearer grant (RFC 7523) as the confidential client demo-agent-app. The gateway checks it with Acme\'s published key, provisions the employee with the member role at the first assertion, and issues an MCP token (no refresh token: the app asks Acme again). The script calls the MCP server\'s whoami tool with it, and shows the same assertion refused a second time.',
  options: {
    idp: { type: 'string', value: 'URL', default: 'http://127.0.0.1:8792', description: 'the enterprise identity provider (its issuer)' },
    'mcp-url': { type: 'string', value: 'URL', default: 'http://localhost:8787/mcp', description: 'the demo MCP server on the gateway' },
    employee: { type: 'string', value: 'EMAIL', default: 'ann@acme.example.com', description: 'who signs in at the provider (with DEMO_PASSWORD)' },
    'dev-vars': { type: 'string', value: 'FILE', default: join(root, '.dev.vars'), description: 'where the secrets are (DEMO_PASSWORD, DEMO_ENTERPRISE_CLIENT_SECRET, DEMO_AGENT_CLIENT_SECRET)' },
  },
  examples: ['npm start                      # in one shell', 'node scripts/id-jag-demo.mjs   # in another'],
};

/** The URLs are checked before anything is installed. */
export function check({ values }) {
  for (const flag of ['idp', 'mcp-url']) {
    if (!URL.canParse(values[flag])) throw new UsageError(`--${flag} ${JSON.stringify(values[flag])} is not a URL`);
  }
}

await runCommand(spec, () => import('./commands/id-jag-demo.mjs'), { install: 'packages', check });

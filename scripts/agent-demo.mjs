#!/usr/bin/env node
// `node scripts/agent-demo.mjs`: a signed agent (Web Bot Auth) against the running demo (scripts/commands/agent-demo.mjs).
import { join } from 'node:path';
import { root, runCommand, UsageError } from './cli.mjs';

export const spec = {
  name: 'agent-demo',
  usage: 'node scripts/agent-demo.mjs [--base-url URL] [--agent URL] [--key-file FILE]',
  summary:
    'Signed agents (HTTP Message Signatures, RFC 9421, in the Web Bot Auth profile) on the demo\'s todo plugin, step by step and with no browser. The script is the demo\'s trusted agent: its key directory is served by demo/signed-agent.mjs (started by npm start), and its private key is in the key file. It calls GET /public/agent, a route only that agent\'s signed calls reach: unsigned (refused), signed with Cloudflare\'s web-bot-auth package (let through, and the origin told who signed), and the same signature replayed (refused: each nonce passes once).',
  options: {
    'base-url': { type: 'string', value: 'URL', default: 'http://127.0.0.1:8787', description: 'the todo plugin on the gateway' },
    agent: { type: 'string', value: 'URL', default: 'http://127.0.0.1:8793', description: 'the agent\'s origin, where its key directory is (the todo plugin trusts it)' },
    'key-file': { type: 'string', value: 'FILE', default: join(root, '.wrangler', 'demo-agent-key.json'), description: 'the agent\'s private key (demo/signed-agent.mjs wrote it)' },
  },
  examples: ['npm start                     # in one shell', 'node scripts/agent-demo.mjs   # in another'],
};

/** The URLs are checked before anything is installed. */
export function check({ values }) {
  for (const flag of ['base-url', 'agent']) {
    if (!URL.canParse(values[flag])) throw new UsageError(`--${flag} ${JSON.stringify(values[flag])} is not a URL`);
  }
}

await runCommand(spec, () => import('./commands/agent-demo.mjs'), { install: 'packages', check });

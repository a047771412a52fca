#!/usr/bin/env node
// `node scripts/dpop-demo.mjs`: DPoP-bound tokens (RFC 9449) against the running demo (scripts/commands/dpop-demo.mjs).
import { runCommand, UsageError } from './cli.mjs';

export const spec = {
  name: 'dpop-demo',
  usage: 'node scripts/dpop-demo.mjs [--base-url URL]',
  summary:
    'DPoP (RFC 9449) on the demo\'s todo API, step by step. The script registers itself (RFC 7591) as a public client with dpop_bound_access_tokens, so the gateway issues it no token without a proof of its key; makes an ES256 key; sends you to authorize it in your browser (it prints a URL: sign in as the demo user and allow access), with the code bound to the key (dpop_jkt); redeems the code with a proof and gets tokens bound to the key (cnf.jkt). It calls GET /todos with a fresh proof, then shows what the gateway refuses: the token sent as a Bearer token, a proof used twice, and a refresh without a proof; and refreshes with one.',
  options: {
    'base-url': { type: 'string', value: 'URL', default: 'http://127.0.0.1:8787', description: 'the todo plugin on the gateway (its issuer)' },
  },
  examples: ['npm start                    # in one shell', 'node scripts/dpop-demo.mjs   # in another'],
};

/** The URLs are checked before anything is installed. */
export function check({ values }) {
  for (const flag of ['base-url']) {
    if (!URL.canParse(values[flag])) throw new UsageError(`--${flag} ${JSON.stringify(values[flag])} is not a URL`);
  }
}

await runCommand(spec, () => import('./commands/dpop-demo.mjs'), { install: 'packages', check });

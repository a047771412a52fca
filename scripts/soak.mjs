#!/usr/bin/env node
// `npm run soak`: bounded mixed traffic, then every write checked (scripts/commands/soak.mjs).
import { runCommand, UsageError } from './cli.mjs';

export const spec = {
  name: 'soak',
  usage: 'npm run soak [-- SECONDS] [--no-new-grants]',
  summary:
    'Mixed traffic against one gateway in local workerd, on loopback, for a bounded time: proxied calls with per-user quotas, code issuance and exchange, refresh rotation, client registration, and admin writes and reads, several loops at once. Then it checks that no answer was a 5xx, that every write is in D1 and every counted call in its Durable Object, and prints workerd\'s memory over the run. Exit 1 when a check fails.',
  positionals: [{ name: 'SECONDS', description: 'how long the traffic runs (default: 180)' }],
  options: {
    'no-new-grants': { type: 'boolean', default: false, description: 'keep rotating three grants instead of starting new ones, so memory shows the Worker\'s own footprint rather than the runtime\'s per-object databases' },
  },
  examples: ['npm run soak -- 300'],
};

export function check({ positionals }) {
  if (positionals[0] !== undefined && !/^[1-9][0-9]*$/.test(positionals[0])) throw new UsageError(`SECONDS ${JSON.stringify(positionals[0])}: a whole number of seconds`);
}

await runCommand(spec, () => import('./commands/soak.mjs'), { install: 'test', check });

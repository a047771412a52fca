#!/usr/bin/env node
// `npm run bench`: the performance suite (scripts/commands/bench.mjs).
import { runCommand, UsageError } from './cli.mjs';

export const spec = {
  name: 'bench',
  usage: 'npm run bench [-- --write | --proxy-only] [--no-scale]',
  summary:
    'Measures what BENCHMARKS.md\'s targets are about and prints a report: the proxy against trivial JavaScript and workers-rs Workers forwarding to the same origin (alternating rounds in one run), each credential type, the OAuth endpoints, the bundle\'s size by crate, native micro-benchmarks, and a bounded run with a million users. Loads go to 127.0.0.1 only and are bounded in time and count. About 25 minutes in all on a 2-core machine.',
  options: {
    write: { type: 'boolean', default: false, description: 'replace the generated section of BENCHMARKS.md with the report' },
    'proxy-only': { type: 'boolean', default: false, description: 'only the proxy table (floors and credentials), for quick comparisons while working' },
    'no-scale': { type: 'boolean', default: false, description: 'leave out the million-user run' },
  },
  examples: ['npm run bench -- --proxy-only', 'npm run bench -- --write'],
};

export function check({ values }) {
  if (values.write && values['proxy-only']) throw new UsageError('--write needs the whole report, not --proxy-only');
}

await runCommand(spec, () => import('./commands/bench.mjs'), { install: 'run', check });

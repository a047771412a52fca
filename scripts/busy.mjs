#!/usr/bin/env node
// `node scripts/busy.mjs`: the isolate's busy time per request (scripts/commands/busy.mjs).
import { runCommand } from './cli.mjs';

export const spec = {
  name: 'busy',
  usage: 'node scripts/busy.mjs',
  summary:
    'The isolate\'s busy time per request for the JavaScript floor and the gateway (an open route, and a reused token), each sampled by workerd\'s V8 profiler while it serves a fixed 150 requests a second for 5 s, three rounds in rotation. Below saturation the load generator and the origin do not compete with the isolate, so this shows differences of a few percent that a throughput run on this machine cannot; the profiler\'s own sampling adds to every row, so read the ratio.',
  examples: ['node scripts/busy.mjs'],
};

await runCommand(spec, () => import('./commands/busy.mjs'), { install: 'run' });

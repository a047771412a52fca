#!/usr/bin/env node
// `node scripts/profile.mjs`: where a proxied request's CPU goes (scripts/commands/profile.mjs).
import { runCommand } from './cli.mjs';

export const spec = {
  name: 'profile',
  usage: 'node scripts/profile.mjs [PATH] [--token none|reused|new] [--seconds N]',
  summary:
    'Starts the gateway (release build, default logging), puts load on one route with autocannon, samples workerd\'s V8 CPU profiler through the inspector meanwhile, and prints the functions with the most self time. Used to write BENCHMARKS.md\'s cost table.',
  positionals: [{ name: 'PATH', description: 'the route to load (default: /public/hello)' }],
  options: {
    token: { type: 'string', value: 'MODE', default: 'none', description: 'none, reused (one token for every call) or new (a new token per call)' },
    seconds: { type: 'string', value: 'N', default: '8', description: 'how long the load runs' },
  },
  examples: ['node scripts/profile.mjs /todos --token reused'],
};

await runCommand(spec, () => import('./commands/profile.mjs'), { install: 'run' });

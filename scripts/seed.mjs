#!/usr/bin/env node
// `node scripts/seed.mjs`: applies a declarative seed file to D1 (scripts/commands/seed.mjs).
import { runCommand } from './cli.mjs';

export const spec = {
  name: 'seed',
  usage: 'node scripts/seed.mjs [--file FILE] [--base-url URL] [--persist-to DIR | --remote]',
  summary:
    'Applies a declarative seed (API resources, permissions, roles, users, clients) to the local D1 database, or the deployed one with --remote. Every row is an upsert keyed by its id, so running it again changes nothing but re-hashed secrets. Passwords and client secrets are read by name (password_env, secret_env) from the environment or .dev.vars and stored only as hashes. The format is demo/seed.json\'s (docs/configuration.md).',
  options: {
    file: { type: 'string', value: 'FILE', description: 'the seed file (JSON; default: the checkout\'s demo/seed.json)' },
    'base-url': { type: 'string', value: 'URL', default: 'http://127.0.0.1:8787', description: 'the gateway\'s public URL, which ${BASE_URL} in the seed stands for' },
    'persist-to': { type: 'string', value: 'DIR', description: 'the local state directory wrangler dev uses (default: .wrangler/state)' },
    remote: { type: 'boolean', default: false, description: 'write to the deployed D1 database (wrangler d1 execute --remote)' },
  },
  examples: ['node scripts/seed.mjs', 'node scripts/seed.mjs --file my-seed.json --base-url https://todo.example.com --remote'],
};

await runCommand(spec, () => import('./commands/seed.mjs'), { install: 'packages' });

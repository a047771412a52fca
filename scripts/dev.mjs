#!/usr/bin/env node
// `npx portcullis dev`: serves what init wrote, on this machine (scripts/commands/dev.mjs).
import { isMain, runCommand } from './cli.mjs';

export const spec = {
  name: 'dev',
  usage: 'npx portcullis dev [--port N] [--env NAME] [--origin URL] [--dir DIR]',
  summary:
    'Serves the gateway that npx portcullis init configured, on this machine: wrangler dev (workerd, local D1, local Durable Objects) on 127.0.0.1, with the owner\'s files under static/. Before it starts it applies the pending D1 migrations to the local database and seeds it as init seeds the deployed one (the API resource with the document\'s scopes, the admin role, the first administrator), with this machine\'s URL as the resource. Locally the Worker gets secrets of its own, made once into .dev.vars (git-ignored): never the deployed ones, so no token made here opens the deployed gateway. Ctrl-C stops it.',
  options: {
    port: { type: 'string', value: 'N', default: '8787', description: 'the port on 127.0.0.1' },
    env: { type: 'string', value: 'NAME', description: 'the [env.NAME] block init wrote (default: the top level)' },
    origin: { type: 'string', value: 'URL', description: 'the origin to forward to here (default: ORIGIN_URL from wrangler.toml)' },
    dir: { type: 'string', value: 'DIR', default: '.', description: 'the directory init wrote' },
  },
  examples: ['npx portcullis dev', 'npx portcullis dev --env production --origin http://127.0.0.1:9000'],
};

/** What it needs installed first (in a clone): the packages. */
export const install = 'packages';

export const load = () => import('./commands/dev.mjs');

if (isMain(import.meta.url)) await runCommand(spec, load, { install });

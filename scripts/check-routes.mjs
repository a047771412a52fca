#!/usr/bin/env node
// `npm run check-routes` / `npx portcullis check-routes` (scripts/commands/check-routes.mjs).
import { isMain, runCommand } from './cli.mjs';

export const spec = {
  name: 'check-routes',
  usage: 'npx portcullis check-routes --url URL [--env NAME | --secrets FILE]   (in a clone: npm run check-routes [-- FLAGS])',
  summary:
    'Lists the OpenAPI document\'s operations beside what the gateway does for each (the admin API\'s route comparison, the console\'s Routes section), and exits 1 where the gateway does otherwise than the document\'s security asks, for CI; 2 when it cannot ask. With --url it asks a running gateway (deployed, or npx portcullis dev); the admin token comes from PORTCULLIS_ADMIN_TOKEN, --secrets, for a gateway on this machine the .dev.vars that npx portcullis dev made, or else the secrets file init kept, and goes only over https or to this machine. A plugin without an OpenAPI document (an MCP server) has nothing to compare: its rules are listed. Without --url, in a clone, it starts a local gateway on wrangler.toml\'s PLUGIN (or the JSON in PORTCULLIS_PLUGIN_JSON), asks it and stops it.',
  options: {
    url: { type: 'string', value: 'URL', description: 'the gateway to ask, such as https://notes.acme.example' },
    env: { type: 'string', value: 'NAME', description: 'read the admin token from .portcullis/NAME.secrets (default: .portcullis/default.secrets)' },
    secrets: { type: 'string', value: 'FILE', description: 'read the admin token (ADMIN_TOKEN=…) from FILE' },
  },
  examples: ['npx portcullis check-routes --url https://notes.acme.example --env production', 'npm run check-routes'],
};

/** What it needs installed first (in a clone). */
export const install = ({ values }) => (values.url ? 'packages' : 'run');

export const load = () => import('./commands/check-routes.mjs');

if (isMain(import.meta.url)) await runCommand(spec, load, { install });

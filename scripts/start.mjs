#!/usr/bin/env node
// `npm start`: installs what running needs, then serves the demo (scripts/commands/start.mjs).
import { runCommand, UsageError } from './cli.mjs';

export const spec = {
  name: 'start',
  usage: 'npm start [-- --port N]',
  summary:
    'Runs the gateway on this machine as a newcomer first meets it: installs what is missing for running (the wasm32 target, worker-build and wasm-bindgen-cli, the npm packages; not the test tools), builds the Worker, applies the D1 migrations and seeds the demo, then serves it with wrangler dev (workerd, local D1, local Durable Objects) on 127.0.0.1 in front of the demo origins: the todo API as a ChatGPT plugin on http://127.0.0.1:PORT and a demo MCP server on http://localhost:PORT/mcp, with a local OpenID provider and a Stripe stand-in. Anyone may sign up there; the mail it sends (sign-up codes, reset links) stays in wrangler\'s local explorer, whose address it prints with where everything else is and the demo user\'s password. State lives under .wrangler/ and survives restarts; Ctrl-C stops everything.',
  options: {
    port: { type: 'string', value: 'N', default: process.env.PORT ?? '8787', description: 'the gateway\'s port, or any free one when it is taken (or set PORT)' },
  },
  notes: 'The demo origins take ORIGIN_PORT (8788), MCP_ORIGIN_PORT (8789), IDP_PORT (8790), STRIPE_PORT (8791), ENTERPRISE_IDP_PORT (8792) and AGENT_PORT (8793) the same way. The first run compiles worker-build and wasm-bindgen-cli (a few minutes); later runs start in seconds.',
  examples: ['npm start', 'npm start -- --port 9000'],
};

/** A port is checked before anything is installed. */
export function check({ values }) {
  if (!/^[1-9][0-9]{0,4}$/.test(values.port) || Number(values.port) > 65535) throw new UsageError(`--port ${JSON.stringify(values.port)}: a port number, 1 to 65535`);
}

await runCommand(spec, () => import('./commands/start.mjs'), { install: 'run', check });

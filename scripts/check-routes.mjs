#!/usr/bin/env node
// `npm run check-routes`: lists the OpenAPI document's operations whose rule at the gateway
// differs from what the document's `security` asks, and exits 1 if there is one (for CI). It asks
// the admin API's route comparison (the console's Routes section):
//   - of a gateway already running, with `--url https://notes.acme.example` (or a local
//     `wrangler dev`), its admin token from PORTCULLIS_ADMIN_TOKEN or `--secrets FILE` (by default
//     `.portcullis/<--env or default>.secrets`, as `portcullis init` wrote it); this is how
//     `npx portcullis check-routes` runs from the published package;
//   - else, in a clone, of a gateway it starts locally on wrangler.toml's PLUGIN (or the JSON in
//     PORTCULLIS_PLUGIN_JSON), and stops.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { root } from './lib.mjs';

/** Prints the comparison; returns whether the check fails. */
export function report(routes, log = console.log) {
  if (routes.problem) {
    log(`The document's operations cannot be compared: ${routes.problem}`);
    return true;
  }
  for (const o of routes.operations) {
    log(`${o.agrees ? 'ok      ' : 'DIFFERS '} ${`${o.method} ${o.path}`.padEnd(32)} document: ${o.document.padEnd(24)} gateway: ${o.gateway}`);
  }
  log(`${routes.operations.length} operations, ${routes.disagreements} where the gateway does otherwise${routes.from_openapi ? ' (rules from the document: routes_from_openapi)' : ''}.`);
  return routes.disagreements > 0;
}

/** The admin API's route comparison of the gateway at `url` (the admin token goes only over
 * https, or to this machine). */
async function routesAt(url, token) {
  const target = new URL(url);
  if (target.protocol !== 'https:' && !['127.0.0.1', 'localhost', '[::1]'].includes(target.hostname)) {
    throw new Error(`${url}: the admin token goes only over https (or to 127.0.0.1, localhost)`);
  }
  let res;
  try {
    res = await fetch(new URL('/admin/api/routes', url), { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(15000) });
  } catch (e) {
    throw new Error(`${url}: ${e.cause?.message ?? e.message}`);
  }
  if (!res.ok) throw new Error(`${url}/admin/api/routes answered ${res.status}${res.status === 401 ? ' (the admin token is not this gateway\'s)' : ''}`);
  return res.json();
}

/** The admin token: the environment's, or the one init kept in the secrets file. */
function adminToken(values) {
  if (process.env.PORTCULLIS_ADMIN_TOKEN) return process.env.PORTCULLIS_ADMIN_TOKEN;
  const file = values.secrets ?? join('.portcullis', `${values.env ?? 'default'}.secrets`);
  if (!existsSync(file)) throw new Error(`no admin token: set PORTCULLIS_ADMIN_TOKEN, or give --secrets (${file} does not exist)`);
  const line = readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith('ADMIN_TOKEN='));
  if (!line) throw new Error(`${file} holds no ADMIN_TOKEN`);
  return line.slice('ADMIN_TOKEN='.length);
}

export async function main(args) {
  try {
    const { values } = parseArgs({ args, options: { url: { type: 'string' }, secrets: { type: 'string' }, env: { type: 'string' } } });
    if (values.url) {
      process.exitCode = report(await routesAt(values.url, adminToken(values))) ? 1 : 0;
      return;
    }
    if (!existsSync(join(root, 'tests', 'e2e', 'harness.mjs'))) {
      throw new Error('give --url: the gateway to ask (deployed, or `npx wrangler dev`); starting one locally needs a clone of the repository');
    }
    const { startGateway } = await import('../tests/e2e/harness.mjs');
    const plugin = process.env.PORTCULLIS_PLUGIN_JSON ? JSON.parse(process.env.PORTCULLIS_PLUGIN_JSON) : undefined;
    const gw = await startGateway({ plugin, seed: false });
    try {
      const failed = report(await routesAt(gw.baseUrl, gw.secrets.ADMIN_TOKEN));
      process.exitCode = failed ? 1 : 0;
    } finally {
      await gw.stop();
    }
  } catch (e) {
    console.error(`check-routes: ${e.message}`);
    process.exitCode = 2;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main(process.argv.slice(2));

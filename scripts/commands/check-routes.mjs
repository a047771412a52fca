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
import { parseDevVars, root } from '../lib.mjs';

/** Host names of this machine: the admin token may go there over plain http. */
const LOCAL_HOSTS = ['127.0.0.1', 'localhost', '[::1]'];

/** Prints the comparison; returns whether the check fails. */
export function report(routes, log = console.log) {
  if (routes.problem) {
    log(`The document's operations cannot be compared: ${routes.problem}`);
    return true;
  }
  if (routes.document === false) {
    log(`No OpenAPI document is deployed with this plugin (an MCP server, or an API without one): nothing to compare. Its ${routes.rules.length} rules:`);
    for (const r of routes.rules) log(`  ${`${r.methods.length ? r.methods.join(',') : 'any'} ${r.path}`.padEnd(32)} ${r.rule}`);
    return false;
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
  if (target.protocol !== 'https:' && !LOCAL_HOSTS.includes(target.hostname)) {
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

/** The admin token: the environment's, `--secrets FILE`'s, for a gateway on this machine the one
 * `npx portcullis dev` made (.dev.vars), else the one init kept (.portcullis/ENV.secrets). The
 * deployed one never goes to this machine's plain http: that is another gateway's. */
function adminToken(values) {
  if (process.env.PORTCULLIS_ADMIN_TOKEN) return process.env.PORTCULLIS_ADMIN_TOKEN;
  const here = LOCAL_HOSTS.includes(new URL(values.url).hostname);
  const devVars = values.env ? `.dev.vars.${values.env}` : '.dev.vars';
  const file = values.secrets ?? (here ? devVars : join('.portcullis', `${values.env ?? 'default'}.secrets`));
  if (here && !values.secrets && !existsSync(file)) {
    throw new Error(`no admin token for a gateway on this machine: npx portcullis dev keeps it in ${file} (run this where that is, give --secrets, or set PORTCULLIS_ADMIN_TOKEN)`);
  }
  if (!existsSync(file)) throw new Error(`no admin token: set PORTCULLIS_ADMIN_TOKEN, or give --secrets (${file} does not exist)`);
  const token = parseDevVars(readFileSync(file, 'utf8')).ADMIN_TOKEN;
  if (!token) throw new Error(`${file} holds no ADMIN_TOKEN`);
  return token;
}

/** `portcullis check-routes`: the flags are described in scripts/check-routes.mjs. Exit 1 where the
 * document and the rules differ, 2 when the gateway cannot be asked. */
export async function main({ values }) {
  try {
    if (values.url) {
      process.exitCode = report(await routesAt(values.url, adminToken(values))) ? 1 : 0;
      return;
    }
    if (!existsSync(join(root, 'tests', 'e2e', 'harness.mjs'))) {
      throw new Error('give --url: the gateway to ask (deployed, or npx portcullis dev on this machine); starting one itself needs a clone of the repository');
    }
    const { startGateway } = await import('../../tests/e2e/harness.mjs');
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

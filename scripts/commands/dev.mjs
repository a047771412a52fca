// `npx portcullis dev`: serves what `portcullis init` wrote, on this machine, with wrangler dev
// (workerd, local D1, local Durable Objects). The deployment's own secrets stay where init put
// them: locally the Worker gets secrets of its own, generated once into `.dev.vars` (git-ignored,
// mode 600), so no token made here is good at the deployed gateway. Each start applies the
// pending migrations to the local database and seeds it as init seeds the deployed one (the API
// resource with the document's scopes, the admin role, the first administrator), with this
// machine's URL as the resource.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { CommandError, UsageError } from '../cli.mjs';
import { parseDevVars, startProcess, stopTogether, waitFor, wranglerBin, wranglerEnv } from '../lib.mjs';
import { firstSeed, GRANT_ALL, secretValues } from './init.mjs';
import { seedSql } from './seed.mjs';

/** The block init wrote for `env` (the top level without one): its vars and its plugin. */
export function deployment(text, env) {
  const config = parseToml(text);
  const block = env ? config.env?.[env] : config;
  if (!block) throw new CommandError(`wrangler.toml has no [env.${env}]: run npx portcullis init --env ${env} first`);
  const plugin = block.vars?.PLUGIN;
  if (!plugin || !block.vars?.PUBLIC_BASE_URL) {
    throw new CommandError(`wrangler.toml${env ? ` [env.${env}]` : ''} was not written by portcullis init (no vars.PLUGIN): run npx portcullis init first`);
  }
  return { vars: block.vars, plugin };
}

/** The plugin as it runs here: its resource (an MCP server's URL) on this machine's base URL. */
export function localPlugin(plugin, publicBase, localBase) {
  const out = { ...plugin };
  if (typeof out.resource === 'string' && out.resource.startsWith(publicBase)) out.resource = `${localBase}${out.resource.slice(publicBase.length)}`;
  return out;
}

/** The answers init's seed is made from, read back from the plugin it wrote. */
function answersOf(plugin, publicBase) {
  const mcp = typeof plugin.resource === 'string' && plugin.resource.startsWith(publicBase) ? plugin.resource.slice(publicBase.length) : undefined;
  return {
    name: plugin.name_for_human,
    'admin-email': plugin.contact_email,
    mcp,
    scope: plugin.auth?.scope,
    openapiInRepo: plugin.openapi_file ? `static${plugin.openapi_file}` : undefined,
  };
}

/** `.dev.vars` (`.dev.vars.ENV` for an environment, as wrangler reads them): the local secrets,
 * made once and kept there. A file that exists is never rewritten: only the secrets it lacks are
 * appended, so the owner's own lines (comments, `export`, multi-line values) stay as they are. */
export function localSecrets(dir, env, auth) {
  const path = join(dir, env ? `.dev.vars.${env}` : '.dev.vars');
  const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
  const existing = parseDevVars(text);
  const secrets = { ...existing, ...secretValues({ auth }, existing) };
  const missing = Object.keys(secrets).filter((k) => !(k in existing));
  if (missing.length) {
    const lines = missing.map((k) => `${k}='${secrets[k]}'`);
    const header = text ? '' : '# Local secrets for npx portcullis dev (wrangler dev), made on this machine: never the deployed ones. Never commit this file.\n';
    writeFileSync(path, `${text}${text && !text.endsWith('\n') ? '\n' : ''}${header}${lines.join('\n')}\n`, { mode: 0o600 });
    chmodSync(path, 0o600);
  }
  return { path, secrets };
}

function wrangler(dir, args, { quiet = true } = {}) {
  const r = spawnSync(wranglerBin, args, { cwd: dir, env: wranglerEnv(), encoding: 'utf8', stdio: quiet ? 'pipe' : 'inherit' });
  if (r.status !== 0) {
    throw new CommandError(`wrangler ${args.join(' ')} failed${r.error ? ` (${r.error.message}: is wrangler installed here? npm install wrangler)` : ''}:\n${r.stdout ?? ''}${r.stderr ?? ''}`);
  }
}

/** `npx portcullis dev`: the flags are described in scripts/dev.mjs. */
export async function main({ values }) {
  const dir = resolve(values.dir);
  const env = values.env ?? null;
  if (!/^[1-9][0-9]{0,4}$/.test(values.port) || Number(values.port) > 65535) throw new UsageError(`--port ${JSON.stringify(values.port)}: a port number, 1 to 65535`);
  const configPath = join(dir, 'wrangler.toml');
  if (!existsSync(configPath)) throw new CommandError(`${configPath} does not exist: run npx portcullis init in ${dir} first`);
  const { vars, plugin } = deployment(readFileSync(configPath, 'utf8'), env);
  const publicBase = vars.PUBLIC_BASE_URL;
  const base = `http://127.0.0.1:${values.port}`;
  const origin = values.origin ?? vars.ORIGIN_URL;
  let originUrl = null;
  try {
    originUrl = new URL(origin);
  } catch {
    /* refused below */
  }
  if (!originUrl || !['http:', 'https:'].includes(originUrl.protocol) || originUrl.username || originUrl.password) {
    throw new UsageError(`--origin ${JSON.stringify(origin)}: an http(s) URL without credentials`);
  }
  const envArgs = env ? ['--env', env] : [];

  const { path: devVarsPath, secrets } = localSecrets(dir, env, plugin.auth?.type);
  const devVars = relative(process.cwd(), devVarsPath) || devVarsPath;
  console.log(`dev: local secrets in ${devVars} (not the deployed ones)`);
  console.log('dev: applying the D1 migrations to the local database');
  wrangler(dir, ['d1', 'migrations', 'apply', 'DB', '--local', ...envArgs]);
  console.log(`dev: seeding the local database: the API resource ${base}${answersOf(plugin, publicBase).mcp ?? ''}, the admin role and ${plugin.contact_email}`);
  const sql = `${seedSql(firstSeed(answersOf(plugin, publicBase), base), { baseUrl: base, secrets, dir })}\n${GRANT_ALL}\n`;
  const tmp = mkdtempSync(join(tmpdir(), 'portcullis-dev-'));
  try {
    writeFileSync(join(tmp, 'seed.sql'), sql, { mode: 0o600 });
    wrangler(dir, ['d1', 'execute', 'DB', '--local', ...envArgs, `--file=${join(tmp, 'seed.sql')}`]);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }

  const args = ['dev', ...envArgs, '--ip', '127.0.0.1', '--port', values.port, '--show-interactive-dev-session=false',
    '--var', `PUBLIC_BASE_URL:${base}`, '--var', `ORIGIN_URL:${origin}`, '--var', `PLUGIN:${JSON.stringify(localPlugin(plugin, publicBase, base))}`];
  const gateway = startProcess(wranglerBin, args, { env: wranglerEnv(), name: 'gateway', cwd: dir, log: 'tee' });
  const stop = stopTogether('dev', gateway, []);
  try {
    await waitFor(`${base}/healthz`, { timeoutMs: 120000, process: gateway });
  } catch (e) {
    console.error(`dev: the gateway did not come up: ${e.message}`);
    await stop(1);
  }
  const document = plugin.openapi_path ?? plugin.openapi_file;
  console.log(`
Portcullis is running here, as ${publicBase} will once deployed.

  Gateway          ${base}  (in front of ${origin})
  Plugin manifest  ${base}/.well-known/ai-plugin.json${document ? `\n  OpenAPI document ${base}${document}` : ''}${answersOf(plugin, publicBase).mcp ? `\n  MCP server       ${base}${answersOf(plugin, publicBase).mcp}` : ''}
  Admin console    ${base}/admin/  (token: ADMIN_TOKEN in ${devVars})
  Administrator    ${plugin.contact_email}  (password: ADMIN_PASSWORD in ${devVars})

Any OAuth client can connect: it reads ${base}/.well-known/oauth-authorization-server,
registers itself at /register (or is made in the console), and sends you to sign in.
Ctrl-C stops it.
`);
}

#!/usr/bin/env node
// `npm run init`: from nothing to a deployable gateway in one command. Asks (or takes as flags)
// the plugin's name, public domain, origin, auth type, admin email and OpenAPI document; writes
// the configuration (a new wrangler.toml, or an [env.NAME] block in an existing one); creates the
// D1 database and records its id; generates the secrets and stores them with
// `wrangler secret put`; applies the migrations; seeds the first admin and the API resource with
// the document's scopes as permissions; then prints what is left (DNS, the connector settings).
//
// Every step looks at what already exists first, so running it again changes nothing, and a run
// that stopped midway picks up where it stopped. Secrets are never printed and never written to a
// tracked file: they go to `wrangler secret put` and to `.portcullis/<env>.secrets` (mode 600,
// ignored by git), where the admin's password and token are for you to read.
//
//   npm run init -- --name "Todo" --domain todo.example.com --origin https://api.example.com \
//     --auth oauth --admin-email you@example.com --openapi <file or URL> [--env production]
//     [--mcp /mcp] [--scope "todos:read todos:write"] [--dir .] [--dry-run] [--yes]
//
// PORTCULLIS_WRANGLER names another wrangler to run (the tests' stand-in for the calls that need
// a Cloudflare account).
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parse as parseToml } from 'smol-toml';
import { root, wranglerBin, wranglerEnv } from './lib.mjs';
import { readDocument, seedSql } from './seed.mjs';

const AUTH_TYPES = ['none', 'service_http', 'user_http', 'oauth'];

/** The answers, from flags or asked for; `ask` is null when nothing may be asked. */
export async function answers(flags, ask) {
  const out = { ...flags };
  const need = async (key, question, check) => {
    while (!out[key] || (check && !check(out[key]))) {
      if (!ask) throw new Error(`--${key} is required${out[key] ? `: ${check.why}` : ''}`);
      out[key] = (await ask(`${question}: `)).trim();
    }
  };
  const domain = Object.assign((d) => /^[a-z0-9.-]+\.[a-z]{2,}(:\d+)?$/i.test(d), { why: 'a host name such as todo.example.com' });
  const url = Object.assign((u) => { try { return ['http:', 'https:'].includes(new URL(u).protocol); } catch { return false; } }, { why: 'an http(s) URL' });
  const email = Object.assign((e) => /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(e), { why: 'an email address' });
  const auth = Object.assign((a) => AUTH_TYPES.includes(a), { why: AUTH_TYPES.join(', ') });
  await need('name', "The plugin's name (as people see it)");
  await need('domain', 'Its public domain (the gateway answers there)', domain);
  await need('origin', 'The origin API it protects (URL)', url);
  await need('auth', `Auth type (${AUTH_TYPES.join(', ')})`, auth);
  await need('admin-email', "The first administrator's email", email);
  if (!out.openapi && !out.mcp && ask) out.openapi = (await ask('The OpenAPI document (a file or a URL; empty for none): ')).trim();
  return out;
}

/** `Todo Demo` → `todo_demo`, as name_for_model allows. */
export function modelName(name) {
  const base = name.toLowerCase().replaceAll(/[^a-z0-9]+/g, '_').replaceAll(/^_|_$/g, '') || 'plugin';
  return base.slice(0, 50);
}

/** The [vars.PLUGIN] table for the answers. */
export function pluginTable(a) {
  const base = `https://${a.domain}`;
  const plugin = {
    name_for_human: a.name.slice(0, 20),
    name_for_model: modelName(a.name),
    description_for_human: a.description ?? `${a.name}, through Portcullis.`,
    description_for_model: a['description-for-model'] ?? `Use ${a.name} for the user.`,
    logo_url: '/logo.svg',
    contact_email: a['admin-email'],
    legal_info_url: `${base}/legal`,
  };
  const scope = a.scope ?? 'read';
  plugin.auth = a.auth === 'oauth' ? { type: 'oauth', scope } : a.auth === 'none' ? { type: 'none' } : { type: a.auth };
  if (a.mcp) {
    // An MCP server: the resource is the endpoint's URL, and its three methods need a token.
    plugin.resource = `${base}${a.mcp}`;
    plugin.routes = [{ path: a.mcp, methods: ['GET', 'POST', 'DELETE'], scopes: a.auth === 'oauth' ? scope.split(' ') : [] }];
  } else if (a.openapi) {
    // Served under its own name, in its own format.
    plugin.openapi_file = `/${a.openapiName ?? documentName(a.openapi)}`;
    plugin.openapi_path = plugin.openapi_file;
    plugin.routes_from_openapi = true;
    plugin.routes = [];
  }
  return plugin;
}

const marker = (env) => [`# >>> portcullis init${env ? `: env ${env}` : ''} (rewritten by npm run init; edit the answers, not this block)`, '# <<< portcullis init'];

/** A TOML value (the subset the configuration needs). */
function tomlValue(v) {
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(', ')}]`;
  if (v && typeof v === 'object') return `{ ${Object.entries(v).map(([k, x]) => `${k} = ${tomlValue(x)}`).join(', ')} }`;
  if (typeof v === 'boolean' || typeof v === 'number') return String(v);
  return JSON.stringify(String(v));
}

/** The configuration block: vars (PUBLIC_BASE_URL, ORIGIN_URL, PLUGIN), the D1 binding, the
 * Durable Objects, the custom domain. Under `[env.NAME]` when `env` is set. */
export function configBlock(a, databaseId, env) {
  const p = env ? `env.${env}.` : '';
  const plugin = pluginTable(a);
  const lines = [
    // An environment of a directory other than this checkout names its own entry.
    ...(env && a.entry ? [`[env.${env}]`, `main = ${tomlValue(a.entry)}`, `rules = [${tomlValue(DATA_RULE)}]`, ''] : []),
    `[${p}vars]`,
    `PUBLIC_BASE_URL = ${tomlValue(`https://${a.domain}`)}`,
    `ORIGIN_URL = ${tomlValue(a.origin)}`,
    '',
    `[${p}vars.PLUGIN]`,
    ...Object.entries(plugin).map(([k, v]) => `${k} = ${tomlValue(v)}`),
    '',
    `[[${p}d1_databases]]`,
    'binding = "DB"',
    `database_name = ${tomlValue(databaseName(a, env))}`,
    `database_id = ${tomlValue(databaseId ?? '00000000-0000-4000-8000-000000000000')}`,
    `migrations_dir = ${tomlValue(a.migrationsDir ?? 'migrations')}`,
    '',
    `[${p}durable_objects]`,
    'bindings = [{ name = "QUOTA", class_name = "QuotaCounter" }, { name = "GRANTS", class_name = "GrantLedger" }]',
    '',
    `[[${p}routes]]`,
    `pattern = ${tomlValue(a.domain)}`,
    'custom_domain = true',
    // Per-client-IP limits on the token endpoints, sign-in, registration, metadata fetches and
    // the admin API (an environment does not inherit them).
    ...RATE_LIMITS.flatMap(([name, id, limit]) => ['', `[[${p}ratelimits]]`, `name = "${name}"`, `namespace_id = "${id}"`, `simple = { limit = ${limit}, period = 60 }`]),
  ];
  return lines.join('\n');
}

const RATE_LIMITS = [
  ['RATE_LIMIT_TOKEN', '1001', 120],
  ['RATE_LIMIT_LOGIN', '1002', 30],
  ['RATE_LIMIT_ADMIN', '1003', 300],
  ['RATE_LIMIT_REGISTER', '1004', 20],
  ['RATE_LIMIT_CLIENT_METADATA', '1005', 20],
];

export function databaseName(a, env) {
  return `portcullis-${modelName(a.name).replaceAll('_', '-')}${env ? `-${env}` : ''}`;
}

const isUrl = (s) => /^https?:\/\//i.test(s);

/** The document's name under static/: its file's, or its URL path's last segment when that names
 * a JSON or YAML file, else `openapi.json` or `openapi.yaml` by what was downloaded. */
export function documentName(openapi, text = '') {
  const name = isUrl(openapi) ? basename(new URL(openapi).pathname) : basename(openapi);
  if (!isUrl(openapi) || /\.(json|ya?ml)$/i.test(name)) return name;
  return text.trimStart().startsWith('{') || !text ? 'openapi.json' : 'openapi.yaml';
}

/** The document at a URL (15 s at most); throws with what went wrong. */
async function download(url) {
  let res;
  try {
    res = await fetch(url, { headers: { accept: 'application/json, application/yaml;q=0.9, */*;q=0.1' }, signal: AbortSignal.timeout(15000) });
  } catch (e) {
    throw new Error(`--openapi ${url}: ${e.cause?.message ?? e.message}`);
  }
  if (!res.ok) throw new Error(`--openapi ${url}: HTTP ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

/** The entry module of a Worker deployed from a directory other than this checkout (the owner's
 * own, with the package installed): a prebuilt Worker cannot compile the owner's files in, so
 * the entry imports those under `static/` and hands them over (src/assets.rs, `provide`). */
export const ENTRY = 'portcullis-worker.mjs';

/** wrangler imports the files under static/ as Data modules: ArrayBuffers of their bytes. */
const DATA_RULE = { type: 'Data', globs: ['./static/**'] };

/** The entry's text, for the files under static/ (paths relative to it) and the Worker's module. */
export function entryModule(files, workerImport) {
  const name = (i) => `file${i}`;
  return [
    '// Written by portcullis init, and again on every run: files go under static/, not here.',
    '// The Worker is Portcullis as its package was built; the files under static/ (the OpenAPI',
    '// document, the logo) reach it here, imported as Data modules (the rule in wrangler.toml).',
    ...files.map((f, i) => `import ${name(i)} from ${JSON.stringify(`./static/${f}`)};`),
    '',
    `globalThis.__PORTCULLIS_FILES = { ${files.map((f, i) => `${JSON.stringify(`/${f}`)}: ${name(i)}`).join(', ')} };`,
    '',
    `export * from ${JSON.stringify(workerImport)};`,
    `export { default } from ${JSON.stringify(workerImport)};`,
    '',
  ].join('\n');
}

/** The files under `dir`, as URL paths without the leading slash; dotfiles left out. */
function filesUnder(dir, prefix = '') {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => !e.name.startsWith('.'))
    .flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]))
    .sort();
}

/** A fresh wrangler.toml for a directory without one: the Worker, its classes, then the block. */
function freshConfig(a, databaseId, workerMain) {
  return [
    '# Written by portcullis init (npm run init, or npx portcullis init). Secrets are not here: see .portcullis/.',
    `name = ${tomlValue(`portcullis-${modelName(a.name).replaceAll('_', '-')}`)}`,
    `main = ${tomlValue(workerMain)}`,
    'compatibility_date = "2026-04-01"',
    'compatibility_flags = ["global_fetch_strictly_public"]',
    ...(a.entry ? ['', '[[rules]]', ...Object.entries(DATA_RULE).map(([k, v]) => `${k} = ${tomlValue(v)}`)] : []),
    '',
    '[[migrations]]',
    'tag = "v1"',
    'new_sqlite_classes = ["QuotaCounter"]',
    '',
    '[[migrations]]',
    'tag = "v2"',
    'new_sqlite_classes = ["GrantLedger"]',
    '',
    '[observability]',
    'enabled = true',
    '',
    '[triggers]',
    'crons = ["17 */6 * * *"]',
    '',
    ...marker(null).slice(0, 1),
    configBlock(a, databaseId, null),
    marker(null)[1],
    '',
  ].join('\n');
}

/** The file with the env's block written in (replacing its old one); the same text when
 * nothing changed. */
export function withEnvBlock(text, a, databaseId, env) {
  const [open, close] = marker(env);
  const block = `${open}\n${configBlock(a, databaseId, env)}\n${close}`;
  const start = text.indexOf(open);
  if (start >= 0) {
    const end = text.indexOf(close, start);
    return text.slice(0, start) + block + text.slice(end + close.length);
  }
  return `${text.replace(/\n*$/, '\n')}\n${block}\n`;
}

/** Reads the database id the configuration holds for `env`, if a real one. */
function recordedDatabaseId(text, env) {
  const config = parseToml(text);
  const dbs = env ? config.env?.[env]?.d1_databases : config.d1_databases;
  const id = dbs?.find((d) => d.binding === 'DB')?.database_id;
  return id && id !== '00000000-0000-4000-8000-000000000000' ? id : null;
}

/** Runs wrangler (or its stand-in) in `dir`. */
function runner(dir) {
  const bin = process.env.PORTCULLIS_WRANGLER ?? wranglerBin;
  return (args, input) => {
    const r = spawnSync(bin, args, { cwd: dir, env: wranglerEnv(), encoding: 'utf8', input, stdio: input === undefined ? ['ignore', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe'] });
    if (r.status !== 0) throw new Error(`wrangler ${args.filter((x) => !x.startsWith('--persist')).join(' ')} failed:\n${r.stdout ?? ''}${r.stderr ?? ''}`);
    return `${r.stdout ?? ''}${r.stderr ?? ''}`;
  };
}

/** Secrets the deployment needs, generated once and kept in `.portcullis/<env>.secrets`. */
function secretsFor(a, file) {
  const kept = existsSync(file) ? Object.fromEntries(readFileSync(file, 'utf8').split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)])) : {};
  const b64 = (n) => randomBytes(n).toString('base64url');
  const want = {
    SIGNING_KEY: () => generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }).d,
    // RS256 ID tokens, which OpenID clients expect by default.
    RSA_SIGNING_KEY: () => JSON.stringify(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' })),
    SESSION_SECRET: () => b64(32),
    ADMIN_TOKEN: () => b64(32),
    ORIGIN_SECRET: () => b64(32),
    ADMIN_PASSWORD: () => b64(18),
    ...(a.auth === 'service_http' ? { SERVICE_TOKEN: () => b64(32) } : {}),
  };
  const out = {};
  for (const [name, make] of Object.entries(want)) out[name] = kept[name] ?? make();
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${Object.entries(out).map(([k, v]) => `${k}=${v}`).join('\n')}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return out;
}

/** The seed for the first admin and the API resource (with the document's scopes). */
export function firstSeed(a) {
  const base = `https://${a.domain}`;
  const indicator = a.mcp ? `${base}${a.mcp}` : base;
  const resource = { id: 'res_api', indicator, name: `${a.name} API`, default: true, access_token_ttl_secs: 3600 };
  if (a.openapiInRepo) resource.permissions_from_openapi = a.openapiInRepo;
  else resource.permissions = (a.scope ?? 'read').split(' ').map((name) => ({ name }));
  return {
    resources: [resource],
    roles: [{ id: 'rol_admin', name: 'admin', description: 'Everything the API offers', permissions: [] }],
    users: [{ id: 'usr_admin', email: a['admin-email'], name: 'Administrator', password_env: 'ADMIN_PASSWORD', roles: ['rol_admin'] }],
  };
}

export async function init(flags, { ask = null, log = console.log } = {}) {
  const dir = resolve(flags.dir ?? process.cwd());
  const env = flags.env || null;
  const a = await answers(flags, ask);
  const dry = Boolean(a['dry-run']);
  const say = (step, what) => log(`${dry ? '[dry run] ' : ''}${step}: ${what}`);
  const wrangler = runner(dir);
  const configPath = join(dir, 'wrangler.toml');
  const envArgs = env ? ['--env', env] : [];

  // 1. The OpenAPI document, under static/: this checkout's build compiles it in, and elsewhere
  //    the entry (step 3b) hands it to the Worker. A URL (the origin's own) is downloaded, and
  //    again on every run, so init keeps the copy current.
  if (a.openapi) {
    const remote = isUrl(a.openapi);
    const source = remote ? a.openapi : resolve(a.openapi);
    // A dry run downloads nothing (its plan names the file by the URL alone).
    const bytes = remote ? (dry ? null : await download(source)) : readFileSync(source);
    if (bytes) {
      try {
        readDocument(bytes.toString('utf8'));
      } catch (e) {
        throw new Error(`--openapi ${a.openapi}: ${e.message}`);
      }
    }
    a.openapiName = documentName(a.openapi, bytes?.toString('utf8'));
    const target = join(dir, 'static', a.openapiName);
    a.openapiInRepo = relative(dir, target);
    if (source === target) say('openapi', `${a.openapiInRepo} is in place`);
    else if (bytes && existsSync(target) && readFileSync(target).equals(bytes)) say('openapi', `${a.openapiInRepo} is up to date`);
    else {
      say('openapi', `${remote ? 'downloading' : 'copying'} ${a.openapi} to ${a.openapiInRepo}`);
      if (!dry) { mkdirSync(dirname(target), { recursive: true }); writeFileSync(target, bytes); }
    }
  }

  // 2. The configuration, and 3. the database (its id written back into it).
  const existing = existsSync(configPath) ? readFileSync(configPath, 'utf8') : null;
  if (existing && !env && !existing.includes(marker(null)[0])) {
    throw new Error('wrangler.toml exists and was not written by init: name an environment to add to it (--env production)');
  }
  const name = databaseName(a, env);
  let databaseId = existing ? recordedDatabaseId(existing, env) : null;
  if (!databaseId && !dry) {
    const listed = JSON.parse(wrangler(['d1', 'list', '--json']).replace(/^[^[]*/, ''));
    databaseId = listed.find((d) => d.name === name)?.uuid ?? null;
    if (databaseId) say('database', `${name} exists (${databaseId})`);
    else {
      const created = wrangler(['d1', 'create', name]);
      databaseId = created.match(/database_id["\s:=]+"?([0-9a-f-]{36})/)?.[1];
      if (!databaseId) throw new Error(`wrangler d1 create printed no database id:\n${created}`);
      say('database', `created ${name} (${databaseId})`);
    }
  } else if (databaseId) say('database', `${name} is recorded (${databaseId})`);
  else say('database', `would create ${name}`);
  // This checkout compiles static/ into its own build; any other directory deploys the built
  // Worker through an entry that hands it that directory's static/.
  const checkout = realpathSync(dir) === realpathSync(root);
  if (!checkout) a.entry = ENTRY;
  const workerMain = checkout ? 'build/worker/shim.mjs' : ENTRY;
  a.migrationsDir = relative(dir, join(root, 'migrations')) || 'migrations';
  const next = existing
    ? (env ? withEnvBlock(existing, a, databaseId, env) : withEnvBlock(existing, a, databaseId, null))
    : freshConfig(a, databaseId, workerMain);
  if (next === existing) say('config', 'wrangler.toml is up to date');
  else {
    say('config', `${existing ? 'updating' : 'writing'} wrangler.toml${env ? ` [env.${env}]` : ''}`);
    if (!dry) writeFileSync(configPath, next);
  }

  // 3b. The entry, listing the files under static/ (rewritten when they change).
  if (a.entry) {
    const installed = realpathSync(root) === (existsSync(join(dir, 'node_modules', 'portcullis')) && realpathSync(join(dir, 'node_modules', 'portcullis')));
    const workerImport = installed ? 'portcullis/worker' : `./${relative(dir, join(root, 'build', 'index.js')).split(sep).join('/')}`;
    // The document copied in step 1 (not yet there on a dry run), and whatever else is there.
    const files = [...new Set([...filesUnder(join(dir, 'static')), ...(a.openapiInRepo ? [relative(join(dir, 'static'), join(dir, a.openapiInRepo)).split(sep).join('/')] : [])])].sort();
    const reserved = files.find((f) => f.startsWith('admin/') || f.startsWith('portal/'));
    if (reserved) throw new Error(`static/${reserved}: the paths under /admin/ and /portal/ are the gateway's own; move it`);
    const text = entryModule(files, workerImport);
    const path = join(dir, ENTRY);
    if (existsSync(path) && readFileSync(path, 'utf8') === text) say('entry', `${ENTRY} is up to date`);
    else {
      say('entry', `writing ${ENTRY} (${files.length ? files.map((f) => `static/${f}`).join(', ') : 'no files under static/'})`);
      if (!dry) writeFileSync(path, text);
    }
  }

  // 4. Secrets: generated once, stored with `wrangler secret put` unless already there.
  const secretFile = join(dir, '.portcullis', `${env ?? 'default'}.secrets`);
  const gitignore = join(dir, '.gitignore');
  if (!dry && (!existsSync(gitignore) || !readFileSync(gitignore, 'utf8').split('\n').includes('/.portcullis'))) {
    writeFileSync(gitignore, `${existsSync(gitignore) ? readFileSync(gitignore, 'utf8').replace(/\n*$/, '\n') : ''}/.portcullis\n`);
  }
  const secrets = dry ? {} : secretsFor(a, secretFile);
  const stored = dry ? [] : JSON.parse(wrangler(['secret', 'list', '--format', 'json', ...envArgs]).replace(/^[^[]*/, '')).map((s) => s.name);
  for (const secret of ['SIGNING_KEY', 'RSA_SIGNING_KEY', 'SESSION_SECRET', 'ADMIN_TOKEN', 'ORIGIN_SECRET', ...(a.auth === 'service_http' ? ['SERVICE_TOKEN'] : [])]) {
    if (stored.includes(secret)) say('secret', `${secret} is stored`);
    else {
      say('secret', `storing ${secret}`);
      if (!dry) wrangler(['secret', 'put', secret, ...envArgs], secrets[secret]);
    }
  }

  // 5. Migrations (only the pending ones run), then 6. the first admin and the resource.
  say('migrations', 'applying the pending D1 migrations');
  if (!dry) wrangler(['d1', 'migrations', 'apply', 'DB', '--remote', ...envArgs]);
  const seed = firstSeed(a);
  const admin = seed.users[0];
  const present = dry ? '' : wrangler(['d1', 'execute', 'DB', '--remote', '--json', ...envArgs, `--command=SELECT id FROM users WHERE email = '${admin.email.replaceAll("'", "''")}'`]);
  if (present.includes('"id"')) say('seed', `${admin.email} exists: the seed is not applied again`);
  else {
    say('seed', `the API resource ${seed.resources[0].indicator}, the admin role and ${admin.email}`);
    if (!dry) {
      const sql = seedSql(seed, { baseUrl: `https://${a.domain}`, secrets, placeholders: {}, dir })
        // The admin role holds every permission the resource has.
        + `\nINSERT OR IGNORE INTO role_permissions (role_id, permission_id) SELECT 'rol_admin', id FROM permissions WHERE resource_id = 'res_api';\n`;
      const file = join(dir, '.portcullis', `${env ?? 'default'}.seed.sql`);
      writeFileSync(file, sql, { mode: 0o600 });
      wrangler(['d1', 'execute', 'DB', '--remote', ...envArgs, `--file=${file}`]);
    }
  }

  // 7. What is left.
  const base = `https://${a.domain}`;
  log('');
  log('Left for you:');
  log(`  - Deploy: npx wrangler deploy${env ? ` --env ${env}` : ''} (the custom domain ${a.domain} is created with it when its zone is in your Cloudflare account; otherwise add a CNAME for it first).`);
  log(`  - The admin console: ${base}/admin/ with the ADMIN_TOKEN in ${relative(process.cwd(), secretFile)}; ${a['admin-email']} signs in with ADMIN_PASSWORD from the same file.`);
  if (a.mcp) {
    log(`  - ChatGPT: Settings → Connectors → Create, MCP server URL ${base}${a.mcp}, authentication OAuth (it registers itself).`);
    log(`  - Claude: Settings → Connectors → Add custom connector, URL ${base}${a.mcp}.`);
  } else {
    log(`  - ChatGPT plugin or GPT Action: the manifest is ${base}/.well-known/ai-plugin.json, the OpenAPI document ${base}${pluginTable(a).openapi_file ?? '/openapi.json'}.`);
    if (a.auth === 'oauth') log(`    OAuth: authorization URL ${base}/authorize, token URL ${base}/token; register the client in the console (its callback URL from the GPT editor).`);
  }
  return { dir, env, databaseId, secretFile };
}

/** The command line: flags as in the header; asks for what is missing on a terminal. */
export async function main(args) {
  const options = {};
  for (const k of ['name', 'domain', 'origin', 'auth', 'admin-email', 'openapi', 'env', 'mcp', 'scope', 'dir', 'description']) options[k] = { type: 'string' };
  options['dry-run'] = { type: 'boolean' };
  options.yes = { type: 'boolean' };
  const { values } = parseArgs({ args, options, allowPositionals: true });
  const rl = values.yes || !process.stdin.isTTY ? null : createInterface({ input: process.stdin, output: process.stdout });
  try {
    await init(values, { ask: rl ? (q) => rl.question(q) : null });
  } catch (e) {
    console.error(`init: ${e.message}`);
    process.exitCode = 1;
  } finally {
    rl?.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main(process.argv.slice(2));

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
// The flags are described in scripts/init.mjs (`--help`). With --local, the calls that need a
// Cloudflare account go to a stand-in (local-account.mjs) that keeps the "account" in
// .portcullis/local-account.json and the database where `wrangler dev` keeps its own.
// PORTCULLIS_WRANGLER names another wrangler to run (the tests give it the same stand-in).
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { parse as parseToml } from 'smol-toml';
import { CommandError } from '../cli.mjs';
import { root, wranglerBin, wranglerEnv } from '../lib.mjs';
import { createTwoFilesPatch } from 'diff';
import { formatOf, openapiScopes, permissionsSql, readDocument, seedSql } from './seed.mjs';
import { changeLines, ruleChanges, rulesInForce } from './rules.mjs';

const AUTH_TYPES = ['none', 'service_http', 'user_http', 'oauth'];

/** Hosts of this machine: the only ones a document may come from over plain http. */
const LOOPBACK = ['127.0.0.1', 'localhost', '[::1]'];

/** Whether a document URL may be fetched: https, or http from this machine (local development). */
const fetchable = (url) => url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.includes(url.hostname));

/** A scope token as the gateway checks the manifest's (RFC 6749 §3.3, src/config/auth.rs). */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

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
  // No credentials in it: the URL is written to wrangler.toml and printed.
  const url = Object.assign((u) => { try { const parsed = new URL(u); return ['http:', 'https:'].includes(parsed.protocol) && !parsed.username && !parsed.password; } catch { return false; } }, { why: 'an http(s) URL without credentials (the gateway authenticates to the origin with ORIGIN_SECRET)' });
  const email = Object.assign((e) => /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(e), { why: 'an email address' });
  const auth = Object.assign((a) => AUTH_TYPES.includes(a), { why: AUTH_TYPES.join(', ') });
  await need('name', "The plugin's name (as people see it)");
  await need('domain', 'Its public domain (the gateway answers there)', domain);
  await need('origin', 'The origin API it protects (URL)', url);
  await need('auth', `Auth type (${AUTH_TYPES.join(', ')})`, auth);
  await need('admin-email', "The first administrator's email", email);
  if (!out.openapi && !out.mcp && ask) out.openapi = (await ask('The OpenAPI document (a file or a URL; empty for none): ')).trim();
  // What reaches wrangler.toml, SQL and the entry module: printable text only.
  for (const [key, value] of Object.entries(out)) {
    if (typeof value === 'string' && (/[\u0000-\u001f\u007f-\u009f]/.test(value) || !value.isWellFormed())) {
      throw new Error(`--${key} holds a control character or broken Unicode`);
    }
  }
  if (out.env && (!/^[A-Za-z0-9_-]+$/.test(out.env) || out.env === 'default')) {
    throw new Error('--env: a name of letters, digits, - and _ (not "default"), such as production');
  }
  // As the gateway's rules take a path: plain segments, no `*`, `;`, `%`, dot segments or trailing /.
  if (out.mcp && !(/^(\/[A-Za-z0-9._~!$&'()+,=:@-]+)+$/.test(out.mcp) && out.mcp.split('/').every((s, i) => i === 0 || (s !== '.' && s !== '..')))) {
    throw new Error('--mcp: the endpoint\'s path, such as /mcp');
  }
  // As the gateway checks the manifest's values (src/config: scope tokens, 120 characters).
  if (out.scope !== undefined && !out.scope.split(' ').every((s) => SCOPE_TOKEN.test(s))) {
    throw new Error('--scope: scope tokens separated by single spaces, such as "notes:read notes:write"');
  }
  if (out.description !== undefined && [...out.description].length > 120) throw new Error('--description: at most 120 characters');
  // The document decides who may call what (routes_from_openapi): anyone on the path could rewrite
  // one fetched over plain http.
  if (out.openapi && isUrl(out.openapi)) {
    let url = null;
    try {
      url = new URL(out.openapi);
    } catch {
      throw new Error(`--openapi ${out.openapi}: not a URL`);
    }
    if (!fetchable(url)) throw new Error(`--openapi ${shown(out.openapi)}: plain http is refused, as the document decides who may call what; use https (http only from 127.0.0.1, localhost or [::1], for local development)`);
  }
  if ([...out.name].length > 100) throw new Error('--name: at most 100 characters');
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
  const shortName = [...a.name].slice(0, 20).join('');
  const plugin = {
    name_for_human: shortName,
    name_for_model: modelName(a.name),
    description_for_human: a.description ?? `${shortName}, through Portcullis.`,
    description_for_model: a['description-for-model'] ?? `Use ${a.name} for the user.`,
    logo_url: '/logo.svg',
    contact_email: a['admin-email'],
    legal_info_url: `${base}/legal`,
  };
  const scope = a.scope ?? 'read';
  plugin.auth = a.auth === 'oauth' ? { type: 'oauth', scope } : a.auth === 'none' ? { type: 'none' } : { type: a.auth };
  // New plugins hear the caller only on the common headers; the owner lists any others the API reads.
  plugin.forward_headers = [];
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
  // JSON's escapes are TOML's, but for DEL, which TOML wants escaped too.
  return JSON.stringify(String(v)).replaceAll('\x7f', '\\u007f');
}

/** The configuration block: vars (PUBLIC_BASE_URL, ORIGIN_URL, PLUGIN), the D1 binding, the
 * Durable Objects, the custom domain. Under `[env.NAME]` when `env` is set. */
export function configBlock(a, databaseId, env) {
  const p = env ? `env.${env}.` : '';
  const plugin = pluginTable(a);
  const lines = [
    // An environment of a directory other than this checkout names its own entry.
    ...(env && a.entry && a.envHeader !== false ? [`[env.${env}]`, `main = ${tomlValue(a.entry)}`, `rules = [${tomlValue(DATA_RULE)}]`, ''] : []),
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

/** The document's name under static/ (and the path the gateway serves it at): its file's, or its
 * URL path's last segment, when that is a plain name ending in .json, .yaml or .yml; else
 * `openapi.json` or `openapi.yaml` by its content. In this checkout, a name the demo's own
 * document has is prefixed with the plugin's, so the demo's is never written over. */
export function documentName(openapi, text = '', { checkout = false, model = 'plugin' } = {}) {
  const last = isUrl(openapi) ? basename(new URL(openapi).pathname) : basename(openapi);
  const name = /^[A-Za-z0-9_-][A-Za-z0-9._-]*\.(json|ya?ml)$/i.test(last) ? last : text.replace(/^\uFEFF/, '').trimStart().startsWith('{') || !text ? 'openapi.json' : 'openapi.yaml';
  return checkout && DEMO_DOCUMENTS.includes(name) ? `${model}-${name}` : name;
}

/** The demo's documents under this checkout's static/. */
const DEMO_DOCUMENTS = ['openapi.json'];

/** The largest document the gateway reads (src/openapi.rs, MAX_DOCUMENT_BYTES). */
const MAX_DOCUMENT_BYTES = 2 * 1024 * 1024;

/** Checks a document's bytes as the gateway will read them: UTF-8, at most 2 MiB, JSON or YAML as
 * its name says, and OpenAPI. */
function checkDocument(bytes, name) {
  if (bytes.length > MAX_DOCUMENT_BYTES) throw new Error(`larger than the gateway reads (${MAX_DOCUMENT_BYTES} bytes)`);
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new Error('not UTF-8');
  }
  const doc = readDocument(text, formatOf(name));
  // The gateway's limits: 250,000 nodes, and JSON nested at most 128 deep.
  let nodes = 0;
  const walk = (v, depth) => {
    if (++nodes > 250_000) throw new Error('more than 250,000 nodes, more than the gateway reads');
    if (depth > 128) throw new Error('nested more than 128 deep, more than the gateway reads');
    if (v && typeof v === 'object') for (const x of Object.values(v)) walk(x, depth + 1);
  };
  walk(doc, 1);
  return doc;
}

/** The base path of the document's server (`servers[0].url`, or Swagger's `basePath`), if it
 * names one: operation paths are relative to it. */
export function serverPath(doc) {
  const url = doc.servers?.[0]?.url ?? doc.basePath;
  if (typeof url !== 'string' || url.includes('{')) return null;
  let path;
  try {
    path = new URL(url, 'https://server.invalid').pathname.replace(/\/+$/, '');
  } catch {
    return null;
  }
  return path || null;
}

/** A URL as it may be printed: no credentials, no query. */
const shown = (url) => { const u = new URL(url); return `${u.origin}${u.pathname}`; };

/** The document at a URL (15 s at most, a little over the gateway's limit at most, never from
 * https to http, never to plain http off this machine); throws with what went wrong. */
async function download(url) {
  const fail = (why) => new Error(`--openapi ${shown(url)}: ${why}`);
  try {
    // Redirects are followed here, each target checked before it is asked: never to plain http
    // but on this machine, never from https to http.
    let at = new URL(url);
    let res;
    for (let hops = 0; ; hops++) {
      res = await fetch(at, { headers: { accept: 'application/json, application/yaml;q=0.9, */*;q=0.1' }, redirect: 'manual', signal: AbortSignal.timeout(15000) });
      const location = res.status >= 300 && res.status < 400 ? res.headers.get('location') : null;
      if (!location) break;
      if (hops === 5) throw fail('more than 5 redirects');
      const next = new URL(location, at);
      if (at.protocol === 'https:' && next.protocol !== 'https:') throw fail('redirected from https to http');
      if (!fetchable(next)) throw fail(`redirected to plain http (${shown(next.href)})`);
      at = next;
    }
    if (!res.ok) throw fail(`HTTP ${res.status}`);
    const chunks = [];
    let size = 0;
    for await (const chunk of res.body ?? []) {
      size += chunk.length;
      if (size > MAX_DOCUMENT_BYTES) throw fail(`larger than the gateway reads (${MAX_DOCUMENT_BYTES} bytes)`);
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  } catch (e) {
    throw e.message.startsWith('--openapi') ? e : fail(e.cause?.message ?? e.message);
  }
}

/** The entry module of a Worker deployed from a directory other than this checkout (the owner's
 * own, with the package installed): a prebuilt Worker cannot compile the owner's files in, so
 * the entry imports those under `static/` and hands them over (src/assets.rs, `provide`). */
export const ENTRY = 'portcullis-worker.mjs';

/** wrangler imports the files under static/ as Data modules: ArrayBuffers of their bytes. No
 * other rule applies to them (`fallthrough = false`, which also keeps wrangler from warning). */
const DATA_RULE = { type: 'Data', globs: ['./static/**'], fallthrough: false };

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

/** A square logo with the name's first letter or digit. */
export function placeholderLogo(name) {
  const letter = (name.match(/[A-Za-z0-9]/)?.[0] ?? 'P').toUpperCase();
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64" role="img" aria-label="${letter}">\n  <rect width="64" height="64" rx="12" fill="#334155"/>\n  <text x="32" y="43" text-anchor="middle" font-family="sans-serif" font-size="32" font-weight="700" fill="#f8fafc">${letter}</text>\n</svg>\n`;
}

/** The files under `dir`, as URL paths without the leading slash; dotfiles left out. */
function filesUnder(dir, prefix = '') {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => !e.name.startsWith('.'))
    .flatMap((e) => {
      let directory;
      try {
        directory = statSync(join(dir, e.name)).isDirectory();
      } catch (error) {
        throw new Error(`static/${prefix}${e.name}: ${error.code === 'ENOENT' ? 'a broken link' : error.code ?? error.message}`);
      }
      return directory ? filesUnder(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`];
    })
    .sort();
}

/** A fresh wrangler.toml for a directory without one: the Worker, its classes, then the block. */
function freshConfig(a, databaseId, workerMain, env) {
  return [
    '# Written by portcullis init (npm run init, or npx portcullis init). Secrets are not here: see .portcullis/.',
    `name = ${tomlValue(`portcullis-${modelName(a.name).replaceAll('_', '-')}`)}`,
    `main = ${tomlValue(workerMain)}`,
    'compatibility_date = "2026-11-10"',
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
    ...marker(env).slice(0, 1),
    configBlock(a, databaseId, env),
    marker(env)[1],
    '',
  ].join('\n');
}

/** The file with the env's block written in (replacing its old one); the same text when
 * nothing changed. */
export function withEnvBlock(text, a, databaseId, env) {
  const [open, close] = marker(env);
  const start = text.indexOf(open);
  // The file's own [env.NAME] table, if it has one, must name the entry itself: TOML lets a table
  // be defined once.
  const outside = start >= 0 ? text.slice(0, start) + text.slice(text.indexOf(close, start) + close.length) : text;
  const own = env ? parseToml(outside).env?.[env] : undefined;
  if (own) {
    const clash = ['vars', 'd1_databases', 'durable_objects', 'routes', 'ratelimits'].filter((k) => k in own);
    if (clash.length) throw new Error(`wrangler.toml's own [env.${env}] sets ${clash.join(', ')}, which init writes: remove them there, or name another environment`);
    if (a.entry && (own.main !== a.entry || JSON.stringify(own.rules) !== JSON.stringify([DATA_RULE]))) {
      throw new Error(`wrangler.toml has its own [env.${env}]: add main = ${tomlValue(a.entry)} and rules = [${tomlValue(DATA_RULE)}] to it, then run init again`);
    }
    a = { ...a, envHeader: false };
  }
  const block = `${open}\n${configBlock(a, databaseId, env)}\n${close}`;
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

/** The ids the local account gives its databases (local-account.mjs): recognised in a
 * wrangler.toml even where .portcullis/ (git-ignored) is not, as in a fresh clone. */
const LOCAL_DATABASE_ID = /^00000000-10ca-4000-8000-[0-9a-f]{12}$/;

/** The stand-in for a Cloudflare account that `--local` runs instead of wrangler. */
export const LOCAL_ACCOUNT = join(root, 'scripts', 'commands', 'local-account.mjs');

/** Runs wrangler in `dir`: PORTCULLIS_WRANGLER's, the local account with `local`, or the
 * installed one. */
function runner(dir, { local = false } = {}) {
  const bin = local ? LOCAL_ACCOUNT : process.env.PORTCULLIS_WRANGLER ?? wranglerBin;
  const [command, prefix] = bin.endsWith('.mjs') ? [process.execPath, [bin]] : [bin, []];
  const env = wranglerEnv(local ? {
    LOCAL_ACCOUNT_IDS: 'local',
    LOCAL_ACCOUNT_FILE: process.env.LOCAL_ACCOUNT_FILE ?? join(dir, '.portcullis', 'local-account.json'),
    LOCAL_ACCOUNT_D1: process.env.LOCAL_ACCOUNT_D1 ?? join(dir, '.wrangler', 'state'),
  } : {});
  // Its output, or with `{ json: true }` the JSON it printed on stdout (warnings go to stderr).
  return (args, input, { json = false } = {}) => {
    if (local) mkdirSync(join(dir, '.portcullis'), { recursive: true });
    const r = spawnSync(command, [...prefix, ...args], { cwd: dir, env, encoding: 'utf8', input, stdio: input === undefined ? ['ignore', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe'] });
    if (r.status !== 0) throw new Error(`wrangler ${args.filter((x) => !x.startsWith('--persist')).join(' ')} failed:\n${r.error ? `${r.error.message} (is wrangler installed? npm install wrangler)\n` : ''}${r.stdout ?? ''}${r.stderr ?? ''}`);
    return json ? JSON.parse((r.stdout ?? '').replace(/^[^[{]*/, '')) : `${r.stdout ?? ''}${r.stderr ?? ''}`;
  };
}

/** The secrets a deployment needs: those `kept` has, and new ones for the rest. */
export function secretValues(a, kept = {}) {
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
  return out;
}

/** Secrets the deployment needs, generated once and kept in `file` (`.portcullis/<env>.secrets`). */
function secretsFor(a, file) {
  const kept = existsSync(file) ? Object.fromEntries(readFileSync(file, 'utf8').split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)])) : {};
  const out = secretValues(a, kept);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${Object.entries(out).map(([k, v]) => `${k}=${v}`).join('\n')}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return out;
}

/**
 * The scopes the manifest and clients ask for: `--scope`, which may name only scopes the document
 * has, or else every scope the document names (an OAuth plugin asking for fewer than its
 * operations need would get tokens that open nothing).
 */
export function chooseScope(a, documentScopes, say) {
  const bad = documentScopes.find((s) => !SCOPE_TOKEN.test(s));
  if (bad !== undefined) throw new Error(`the document names the scope ${JSON.stringify(bad)}, which is not a scope token (RFC 6749 §3.3: printable ASCII, no space, " or \\)`);
  if (a.scope === undefined && a.recordedScope !== undefined) {
    // A run again keeps what the configuration asks for: a document that grew does not widen it.
    a.scope = a.recordedScope;
    const unknown = a.scope.split(' ').filter((s) => !documentScopes.includes(s));
    if (unknown.length && documentScopes.length) throw new Error(`wrangler.toml asks for ${unknown.join(' ')}, which the document no longer names; give --scope`);
    const more = documentScopes.filter((s) => !a.scope.split(' ').includes(s));
    say('scope', `kept the scope wrangler.toml asks for: ${a.scope}${more.length ? ` (the document also names ${more.join(' ')}: --scope "${[...a.scope.split(' '), ...more].join(' ')}" asks for them)` : ''}`);
    return;
  }
  if (a.scope !== undefined) {
    const unknown = a.scope.split(' ').filter((s) => !documentScopes.includes(s));
    if (unknown.length && documentScopes.length) {
      throw new Error(`--scope names ${unknown.join(' ')}, which the document does not; it names ${documentScopes.join(' ')}`);
    }
    return;
  }
  if (a.auth !== 'oauth') return;
  if (!documentScopes.length) {
    // ChatGPT refuses a manifest without one (src/config/auth.rs).
    a.scope = 'read';
    say('scope', 'the document names no OAuth scope, so its operations need a token and no scope in it; the manifest asks for "read", as it must ask for one (--scope names another)');
    return;
  }
  a.scope = documentScopes.join(' ');
  say('scope', `the manifest and clients ask for every scope the document names: ${a.scope} (--scope chooses fewer)`);
}

/** The PLUGIN, base URL and origin a wrangler.toml gives (at the top level, or in [env.NAME]). */
function recordedPlugin(text, env) {
  let config;
  try {
    config = parseToml(text);
  } catch {
    return null;
  }
  const vars = (env ? config.env?.[env] : config)?.vars;
  return vars?.PLUGIN && typeof vars.PLUGIN === 'object' ? { plugin: plain(vars.PLUGIN), baseUrl: vars.PUBLIC_BASE_URL, originUrl: vars.ORIGIN_URL } : null;
}

/** TOML tables come without a prototype: as plain data. */
const plain = (v) => JSON.parse(JSON.stringify(v));

/** The document file a PLUGIN names under `dir`/static, as the Worker is handed it. */
function staticFiles(dir, plugin, bytes) {
  const path = plugin.openapi_file;
  if (typeof path !== 'string' || !path.startsWith('/')) return {};
  if (bytes) return { [path]: bytes };
  const file = join(dir, 'static', ...path.slice(1).split('/'));
  return existsSync(file) ? { [path]: readFileSync(file) } : {};
}

/**
 * Compares the rules the configuration in force gives (wrangler.toml's PLUGIN and the document
 * under static/) with those this run would give (its PLUGIN and the document it brings), both as
 * the gateway derives them (rules.mjs), and prints the changes. One that widens access (a rule
 * removed, a scope or plan dropped, token or deny to public, a new public route) is refused
 * unless --yes says so or the user confirms on a terminal. A dry run shows them and asks nothing.
 */
async function checkRuleChanges(a, { dir, env, existing, document, say, dry, ask }) {
  const recorded = recordedPlugin(existing, env);
  if (!recorded) return;
  const next = pluginTable(a);
  const base = `https://${a.domain}`;
  let after;
  try {
    after = await rulesInForce({ baseUrl: base, originUrl: a.origin, plugin: next, files: staticFiles(dir, next, document?.bytes) });
  } catch (e) {
    throw new Error(`the gateway would refuse the new configuration: ${e.message}`);
  }
  let before;
  try {
    before = await rulesInForce({ baseUrl: recorded.baseUrl ?? base, originUrl: recorded.originUrl ?? a.origin, plugin: recorded.plugin, files: staticFiles(dir, recorded.plugin) });
  } catch (e) {
    say('routes', `the rules in force cannot be derived (${e.message}): every new rule counts as a change`);
    before = [];
  }
  const changes = ruleChanges(before, after);
  if (!changes.length) {
    say('routes', `the ${after.length} rules are those in force`);
    return;
  }
  say('routes', `the rules the gateway enforces change (- in force, + new):\n${changeLines(changes).join('\n')}`);
  const widening = changes.filter((c) => c.widens).length;
  if (!widening || dry) return;
  if (a.yes) {
    say('routes', `${widening} change${widening > 1 ? 's widen' : ' widens'} access: written, as --yes says`);
    return;
  }
  if (ask && /^y(es)?$/i.test((await ask(`${widening} change${widening > 1 ? 's widen' : ' widens'} access. Write them? [y/N] `)).trim())) return;
  throw new Error(`${widening} rule change${widening > 1 ? 's widen' : ' widens'} access (listed above); nothing was written: run again with --yes to write ${widening > 1 ? 'them' : 'it'}${ask ? '' : ', or on a terminal to be asked'}`);
}

/** A planned write as a person reads it: a unified diff, or a line for secrets and large or
 * binary files. */
function fileDiff(dir, { path, data, secret }) {
  const name = relative(dir, path).split(sep).join('/');
  const old = existsSync(path) ? readFileSync(path) : null;
  if (secret) return `${name}: ${old ? 'replaced' : 'new'}, ${secret} (never shown)`;
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data);
  if (old && old.equals(bytes)) return `${name}: unchanged`;
  let text;
  let before = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    if (old) before = new TextDecoder('utf-8', { fatal: true }).decode(old);
  } catch {
    text = null;
  }
  if (text === null || bytes.length > 64 * 1024) return `${name}: ${old ? 'replaced' : 'new'}, ${bytes.length.toLocaleString('en-US')} bytes`;
  return createTwoFilesPatch(old ? `a/${name}` : '/dev/null', `b/${name}`, before, text, '', '', { context: 3 })
    .split('\n').filter((l) => !/^=+$/.test(l) && !l.startsWith('Index: ')).join('\n').trimEnd();
}

/** The admin role holds every permission the API resource has. */
export const GRANT_ALL = `INSERT OR IGNORE INTO role_permissions (role_id, permission_id) SELECT r.id, p.id FROM roles r JOIN permissions p ON p.resource_id = 'res_api' WHERE r.id = 'rol_admin';`;

/** The seed for the first admin and the API resource (with the document's scopes). */
export function firstSeed(a, base = `https://${a.domain}`) {
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
  const wrangler = runner(dir, { local: Boolean(a.local) });
  const configPath = join(dir, 'wrangler.toml');
  const envArgs = env ? ['--env', env] : [];
  // What a run writes; a dry run keeps it, to show each file as a diff at the end.
  const planned = [];
  const put = (path, data) => {
    if (dry) planned.push({ path, data });
    else {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, data);
    }
  };

  // Where the Worker comes from. This checkout compiles static/ into its own build; any other
  // directory deploys a built Worker (the installed package's, or a clone's) through an entry
  // that hands it that directory's static/.
  const real = (path) => (existsSync(path) ? realpathSync(path) : resolve(path));
  const checkout = real(dir) === real(root);
  const installed = real(join(dir, 'node_modules', 'portcullis')) === real(root);
  if (!checkout && !installed && !existsSync(join(root, 'Cargo.toml'))) {
    throw new Error('install the package in this directory first (npm install portcullis wrangler), so the Worker and its migrations are in node_modules');
  }
  if (!checkout) a.entry = ENTRY;
  a.migrationsDir = relative(dir, join(root, 'migrations')).split(sep).join('/') || 'migrations';

  // Everything is checked before anything is written or created.
  // 1. The OpenAPI document, under static/: this checkout's build compiles it in, and elsewhere
  //    the entry hands it to the Worker. A URL (the origin's own) is downloaded, and again on
  //    every run, so init keeps the copy current; a dry run downloads nothing.
  // The scope an earlier run wrote, which a run without --scope keeps (chooseScope).
  if (existsSync(configPath)) {
    try {
      const config = parseToml(readFileSync(configPath, 'utf8'));
      const scope = (env ? config.env?.[env] : config)?.vars?.PLUGIN?.auth?.scope;
      if (typeof scope === 'string' && scope) a.recordedScope = scope;
    } catch {
      /* read again, and refused with a reason, below */
    }
  }
  let document = null;
  if (a.openapi) {
    const remote = isUrl(a.openapi);
    const source = remote ? a.openapi : resolve(a.openapi);
    const shownSource = remote ? shown(source) : a.openapi;
    let bytes = null;
    if (!remote) {
      try {
        bytes = readFileSync(source);
      } catch (e) {
        throw new Error(`--openapi ${a.openapi}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
      }
    } else bytes = await download(source); // a dry run too: what it would write is shown
    a.openapiName = documentName(a.openapi, bytes?.toString('utf8'), { checkout, model: modelName(a.name) });
    if (bytes) {
      let doc;
      try {
        doc = checkDocument(bytes, a.openapiName);
      } catch (e) {
        throw new Error(`--openapi ${shownSource}: ${e.message}`);
      }
      // The gateway forwards GET /todos to ORIGIN_URL/todos: a server base path belongs in it.
      const base = serverPath(doc);
      if (base && !new URL(a.origin).pathname.replace(/\/+$/, '').endsWith(base)) {
        say('openapi', `note: the document's operations are under ${base} on its server; if that is the origin, --origin should end with ${base}`);
      }
    }
    const target = join(dir, 'static', a.openapiName);
    a.openapiInRepo = relative(dir, target).split(sep).join('/');
    document = { source, shownSource, remote, bytes, target };
    if (bytes) chooseScope(a, openapiScopes(bytes.toString('utf8'), formatOf(a.openapiName)).map((p) => p.name), say);
  } else if (a.auth === 'oauth' && a.scope === undefined) {
    a.scope = a.recordedScope ?? 'read';
    say('scope', a.recordedScope
      ? `kept the scope wrangler.toml asks for: ${a.scope}`
      : `no OpenAPI document names the scopes: the ${a.mcp ? 'MCP server\'s' : 'API\'s'} one scope is "read" (--scope names others)`);
  }
  // The manifest's logo_url is /logo.svg: outside this checkout (whose build has the demo's), a
  // placeholder until the owner puts theirs there.
  const logo = a.entry && !existsSync(join(dir, 'static', 'logo.svg'));
  // The files the entry lists: those under static/, the document and the logo (not there yet on
  // a first or dry run), each a path the gateway takes (src/assets.rs, `provide`).
  const files = a.entry ? [...new Set([...filesUnder(join(dir, 'static')), ...(a.openapiName ? [a.openapiName] : []), ...(logo ? ['logo.svg'] : [])])].sort() : [];
  for (const f of files) {
    if (f.startsWith('admin/') || f.startsWith('portal/')) throw new Error(`static/${f}: the paths under /admin/ and /portal/ are the gateway's own; move it`);
    if (!f.split('/').every((seg) => seg && seg !== '.' && seg !== '..' && !/[?#\\]/.test(seg))) throw new Error(`static/${f}: a name the gateway cannot serve (no ?, # or \\); rename or remove it`);
  }
  const existing = existsSync(configPath) ? readFileSync(configPath, 'utf8') : null;
  if (existing && !env && !existing.includes(marker(null)[0])) {
    const written = existing.match(/^# >>> portcullis init: env (\S+)/m)?.[1];
    throw new Error(written
      ? `wrangler.toml was written by init for an environment: name it (--env ${written})`
      : 'wrangler.toml exists and was not written by init: name an environment to add to it (--env production)');
  }
  let databaseId = existing ? recordedDatabaseId(existing, env) : null;
  // A run with an account after one with --local: the id recorded is the local account's.
  const localAccount = join(dir, '.portcullis', 'local-account.json');
  const localId = (id) => LOCAL_DATABASE_ID.test(id) || (existsSync(localAccount) && JSON.parse(readFileSync(localAccount, 'utf8')).databases?.some((d) => d.uuid === id));
  if (databaseId && !a.local && localId(databaseId)) {
    say('database', `the id recorded (${databaseId}) is the local account's (--local): the account's own database replaces it`);
    databaseId = null;
  }
  const configFor = (id) => {
    const text = existing ? withEnvBlock(existing, a, id, env) : freshConfig(a, id, checkout ? 'build/worker/shim.mjs' : ENTRY, env);
    try {
      parseToml(text);
    } catch (e) {
      throw new Error(`init would write a wrangler.toml that does not read back (${e.message.split('\n')[0]}); nothing was written`);
    }
    return text;
  };
  configFor(databaseId);

  // 1b. The rules: a run again shows how the routes the gateway will enforce differ from those the
  //     configuration in force gives, and writes a change that widens access only with --yes or
  //     once confirmed on a terminal.
  if (existing) await checkRuleChanges(a, { dir, env, existing, document, say, dry, ask });

  if (document) {
    const { source, shownSource, remote, bytes, target } = document;
    if (source === target) say('openapi', `${a.openapiInRepo} is in place`);
    else if (bytes && existsSync(target) && readFileSync(target).equals(bytes)) say('openapi', `${a.openapiInRepo} is up to date`);
    else {
      say('openapi', `${remote ? 'downloading' : 'copying'} ${shownSource} to ${a.openapiInRepo}`);
      put(target, bytes);
    }
  }

  if (logo) {
    say('logo', 'writing static/logo.svg, a placeholder: put your own there');
    put(join(dir, 'static', 'logo.svg'), placeholderLogo(a.name));
  }

  // 2. The database (its id written back into the configuration), and 3. the configuration.
  const name = databaseName(a, env);
  if (!databaseId && !dry) {
    const listed = wrangler(['d1', 'list', '--json'], undefined, { json: true });
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
  const next = configFor(databaseId);
  if (next === existing) say('config', 'wrangler.toml is up to date');
  else {
    say('config', `${existing ? 'updating' : 'writing'} wrangler.toml${env ? ` [env.${env}]` : ''}`);
    put(configPath, next);
  }

  // 3b. The entry, listing the files under static/ (rewritten when they change).
  if (a.entry) {
    const built = relative(dir, join(root, 'build', 'index.js')).split(sep).join('/');
    const workerImport = installed ? 'portcullis/worker' : built.startsWith('../') ? built : `./${built}`;
    const text = entryModule(files, workerImport);
    const path = join(dir, ENTRY);
    if (existsSync(path) && readFileSync(path, 'utf8') === text) say('entry', `${ENTRY} is up to date`);
    else {
      say('entry', `writing ${ENTRY} (${files.length ? files.map((f) => `static/${f}`).join(', ') : 'no files under static/'})`);
      put(path, text);
    }
  }

  // 4. Secrets: generated once, stored with `wrangler secret put` unless already there.
  const secretFile = join(dir, '.portcullis', `${env ?? 'default'}.secrets`);
  const gitignore = join(dir, '.gitignore');
  const ignored = existsSync(gitignore) ? readFileSync(gitignore, 'utf8').split('\n') : [];
  const ignore = ['/.portcullis', '/.dev.vars*', '/.wrangler'].filter((line) => !ignored.includes(line));
  if (ignore.length) put(gitignore, `${existsSync(gitignore) ? readFileSync(gitignore, 'utf8').replace(/\n*$/, '\n') : ''}${ignore.join('\n')}\n`);
  if (dry && !existsSync(secretFile)) planned.push({ path: secretFile, secret: 'the generated secrets' });
  const secrets = dry ? {} : secretsFor(a, secretFile);
  const stored = dry ? [] : wrangler(['secret', 'list', '--format', 'json', ...envArgs], undefined, { json: true }).map((s) => s.name);
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
  const grantAll = GRANT_ALL;
  if (present.includes('"id"')) {
    say('seed', `${admin.email} exists: the seed is not applied again`);
    // The document may have changed since: its new scopes become permissions the admin role
    // holds, as it held the first ones (none is removed, and what an administrator took from the
    // role stays taken).
    const resource = seed.resources[0];
    if (resource.permissions_from_openapi && existsSync(join(dir, resource.permissions_from_openapi))) {
      const scopes = openapiScopes(readFileSync(join(dir, resource.permissions_from_openapi), 'utf8'), formatOf(resource.permissions_from_openapi));
      const known = dry ? [] : wrangler(['d1', 'execute', 'DB', '--remote', '--json', ...envArgs, `--command=SELECT name FROM permissions WHERE resource_id = '${resource.id}'`], undefined, { json: true })[0].results.map((r) => r.name);
      const fresh = scopes.filter((p) => !known.includes(p.name));
      say('seed', fresh.length ? `the document's new scopes as permissions of the API resource: ${fresh.map((p) => p.name).join(' ')}` : 'the document names no new scope');
      if (!dry && fresh.length) {
        const names = fresh.map((p) => `'${p.name.replaceAll("'", "''")}'`).join(', ');
        const grant = `INSERT OR IGNORE INTO role_permissions (role_id, permission_id) SELECT r.id, p.id FROM roles r JOIN permissions p ON p.resource_id = '${resource.id}' AND p.name IN (${names}) WHERE r.id = 'rol_admin';`;
        const file = join(dir, '.portcullis', `${env ?? 'default'}.permissions.sql`);
        writeFileSync(file, `${permissionsSql(resource.id, fresh).join('\n')}\n${grant}\n`, { mode: 0o600 });
        wrangler(['d1', 'execute', 'DB', '--remote', ...envArgs, `--file=${file}`]);
      }
    }
  } else {
    say('seed', `the API resource ${seed.resources[0].indicator}, the admin role and ${admin.email}`);
    if (dry) planned.push({ path: join(dir, '.portcullis', `${env ?? 'default'}.seed.sql`), secret: 'the seed\'s SQL, with the administrator\'s password hash' });
    else {
      const sql = seedSql(seed, { baseUrl: `https://${a.domain}`, secrets, placeholders: {}, dir })
        // The admin role holds every permission the resource has.
        + `\n${grantAll}\n`;
      const file = join(dir, '.portcullis', `${env ?? 'default'}.seed.sql`);
      writeFileSync(file, sql, { mode: 0o600 });
      wrangler(['d1', 'execute', 'DB', '--remote', ...envArgs, `--file=${file}`]);
    }
  }

  if (dry) {
    log('');
    log(planned.length ? 'The files a run would write:' : 'A run would write no file.');
    for (const w of planned) log(fileDiff(dir, w));
  }

  // 7. What is left.
  const base = `https://${a.domain}`;
  log('');
  log('Left for you:');
  const devCommand = installed ? 'npx portcullis dev' : checkout ? 'npm run dev --' : `node ${relative(process.cwd(), join(root, 'scripts', 'dev.mjs'))} --dir ${relative(process.cwd(), dir) || '.'}`;
  log(`  - Try it on this machine: ${devCommand}${env ? ` --env ${env}` : ''} (workerd with local D1 and Durable Objects, and secrets of its own in .dev.vars${env ? `.${env}` : ''}).`);
  if (a.local) {
    log('  - Deploy: this run used a local account (--local), so nothing reached Cloudflare. Run the same command without --local after npx wrangler login; it creates the real database and stores the secrets.');
    return { dir, env, databaseId, secretFile };
  }
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

/** `portcullis init`: the flags are described in scripts/init.mjs; asks for what is missing on a
 * terminal. A refused answer or a failed step is a CommandError (exit 1). */
export async function main({ values }) {
  let rl = null;
  try {
    rl = values.yes || !process.stdin.isTTY ? null : createInterface({ input: process.stdin, output: process.stdout });
    await init(values, { ask: rl ? (q) => rl.question(q) : null });
  } catch (e) {
    throw e.name === 'UsageError' ? e : new CommandError(e.message);
  } finally {
    rl?.close();
  }
}

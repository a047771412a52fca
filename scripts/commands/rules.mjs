// The route rules a plugin's configuration puts in force, as the gateway itself derives them: the
// built Worker (build/index.js, what the package deploys) runs in this process on the
// configuration and the files given, and answers its admin API's route table
// (`GET /admin/api/routes`, the table the console's Routes section and check-routes show). There is
// no second deriver: the Rust code that decides at the edge (src/proxy/derived.rs) decides here.
//
// Each call runs a fresh instance of the Worker (a module imported anew), as the configuration and
// the files are read once per isolate. Nothing it runs reaches the network or storage: the route
// table needs neither (its D1 binding is a stand-in no query reaches), and its secrets are random.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { register } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { root } from '../lib.mjs';

/** Loader hooks: `cloudflare:workers` as the one class the Worker extends, and its wasm import as
 * a compiled module, as workerd hands them over. */
const HOOKS = `
export async function resolve(specifier, context, next) {
  if (!context.parentURL?.includes('portcullis-rules=')) return next(specifier, context);
  if (specifier === 'cloudflare:workers') return { url: 'data:text/javascript,export class WorkerEntrypoint { constructor(ctx, env) { this.ctx = ctx; this.env = env; } }', shortCircuit: true };
  if (specifier.endsWith('.wasm')) return { url: new URL(specifier, context.parentURL).href.replace(/\\?.*$/, '') + '?portcullis-wasm', shortCircuit: true };
  return next(specifier, context);
}
export async function load(url, context, next) {
  if (!url.endsWith('?portcullis-wasm')) return next(url, context);
  const path = JSON.stringify(new URL(url).pathname);
  return { format: 'module', source: 'import { readFileSync } from "node:fs"; export default new WebAssembly.Module(readFileSync(' + path + '));', shortCircuit: true };
}
`;

let hooked = false;
let instances = 0;

/** The built Worker this package deploys. */
export const WORKER = join(root, 'build', 'index.js');

/**
 * The rules `plugin` (a PLUGIN table) puts in force with `files` (URL path → bytes, the files
 * under static/ it names), as the gateway's admin API lists them: `[{ path, methods, rule, plan }]`
 * with `rule` as `token a b`, `public` or `deny`. Throws with the gateway's reason when it would
 * refuse the configuration.
 */
export async function rulesInForce({ baseUrl, originUrl, plugin, files = {} }) {
  if (!existsSync(WORKER)) throw new Error(`no built Worker at ${WORKER} to derive the rules with (node scripts/build.mjs)`);
  if (!hooked) {
    // The Worker's wasm uses exception references, which Node 22 compiles only when asked (Node 24
    // does by default; workerd too).
    setFlagsFromString('--experimental-wasm-exnref');
    register(`data:text/javascript,${encodeURIComponent(HOOKS)}`);
    hooked = true;
  }
  globalThis.__PORTCULLIS_FILES = Object.fromEntries(Object.entries(files).map(([path, bytes]) => [path, new Uint8Array(bytes).buffer]));
  globalThis.addEventListener ??= () => {};
  const lines = [];
  const { log, error, warn } = console;
  const keep = (...args) => lines.push(args.join(' '));
  Object.assign(console, { log: keep, error: keep, warn: keep });
  try {
    const { default: Worker } = await import(`${pathToFileURL(WORKER).href}?portcullis-rules=${++instances}`);
    const secret = () => randomBytes(32).toString('base64url');
    const adminToken = secret();
    const env = {
      DB: new (class D1Database {})(),
      PUBLIC_BASE_URL: baseUrl,
      ORIGIN_URL: originUrl,
      PLUGIN: plugin,
      SIGNING_KEY: secret(),
      SESSION_SECRET: secret(),
      ADMIN_TOKEN: adminToken,
      SERVICE_TOKEN: secret(),
      REQUEST_LOG_SAMPLE_RATE: '0',
    };
    const worker = new Worker({ waitUntil() {}, passThroughOnException() {} }, env);
    const res = await worker.fetch(new Request(new URL('/admin/api/routes', baseUrl), { headers: { authorization: `Bearer ${adminToken}` } }));
    const body = await res.text();
    if (res.status !== 200) {
      const reason = lines.map((l) => /configuration error: [^"\\]*/.exec(l)?.[0]).find(Boolean);
      throw new Error(reason ?? `the gateway answered ${res.status}: ${body.slice(0, 200)}`);
    }
    return JSON.parse(body).rules;
  } finally {
    Object.assign(console, { log, error, warn });
    delete globalThis.__PORTCULLIS_FILES;
  }
}

/** A rule's key in a comparison: its methods and path. */
const keyOf = (r) => `${r.methods.length ? r.methods.join(',') : 'any'} ${r.path}`;

/** `token a b` → { access: 'token', scopes: ['a', 'b'] }. */
function parse(rule) {
  const [access, ...scopes] = rule.split(' ');
  return { access, scopes };
}

/** Why going from rule `before` to `after` widens access, or null when it does not. */
function widens(before, after) {
  const [b, a] = [parse(before.rule), parse(after.rule)];
  if (b.access === 'deny' && a.access !== 'deny') return `${a.access} where it was denied`;
  if (b.access === 'token' && a.access === 'public') return 'public where it needed a token';
  if (b.access === 'token' && a.access === 'token') {
    const dropped = b.scopes.filter((s) => !a.scopes.includes(s));
    if (dropped.length) return `no longer needs ${dropped.join(' ')}`;
  }
  if (before.plan && before.plan !== after.plan) return `no longer needs the plan ${before.plan}`;
  return null;
}

/**
 * What changes from the rules in force (`before`) to the new ones (`after`): rules added, removed
 * and changed (access, scopes, plan), each with why it widens access when it does: a rule removed
 * (its calls fall to another rule, or to none), a scope or plan dropped, token or deny to public,
 * a new public route.
 */
export function ruleChanges(before, after) {
  const index = (rules) => {
    const out = new Map();
    for (const r of rules) if (!out.has(keyOf(r))) out.set(keyOf(r), r);
    return out;
  };
  const [old, now] = [index(before), index(after)];
  const changes = [];
  for (const [key, r] of old) {
    const next = now.get(key);
    if (!next) changes.push({ kind: '-', key, text: r.rule, widens: 'the rule is removed' });
    else if (next.rule !== r.rule || (next.plan ?? null) !== (r.plan ?? null)) {
      const plan = (x) => (x.plan ? ` (plan ${x.plan})` : '');
      changes.push({ kind: '~', key, text: `${r.rule}${plan(r)} → ${next.rule}${plan(next)}`, widens: widens(r, next) });
    }
  }
  for (const [key, r] of now) {
    if (!old.has(key)) changes.push({ kind: '+', key, text: r.rule, widens: parse(r.rule).access === 'public' ? 'a new public route' : null });
  }
  return changes;
}

/** One line per change, as init prints them. */
export const changeLines = (changes) => changes.map((c) => `  ${c.kind} ${c.key.padEnd(30)} ${c.text}${c.widens ? `   (widens access: ${c.widens})` : ''}`);

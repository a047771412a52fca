// Applies a declarative seed file (resources, permissions, roles, users, clients) to the local D1
// database, idempotently: every row is an upsert keyed by its id, so running it again changes
// nothing but re-hashed secrets. Secrets are read from the environment or .dev.vars by name
// (`password_env`, `secret_env`) and stored only as hashes.
//
//   node scripts/seed.mjs --help (the entry) says how it is called.
import { pbkdf2Sync, randomBytes, createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CommandError } from '../cli.mjs';
import { parseDevVars, root, wrangler } from '../lib.mjs';

/** PBKDF2-SHA256 iterations: the most Workers' WebCrypto allows (100,000). */
export const PBKDF2_ITERATIONS = 100000;

export function hashPassword(password) {
  const salt = randomBytes(16);
  const hash = pbkdf2Sync(password, salt, PBKDF2_ITERATIONS, 32, 'sha256');
  return `pbkdf2-sha256$${PBKDF2_ITERATIONS}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

export function sha256Hex(text) {
  return createHash('sha256').update(text).digest('hex');
}

/** An OpenAPI document's text read, as JSON or YAML (`format`, else by its first character);
 * throws when it is not that, or not OpenAPI. */
export function readDocument(text, format) {
  const body = text.replace(/^\uFEFF/, '');
  const json = format ? format === 'json' : body.trimStart().startsWith('{');
  const doc = json ? JSON.parse(body) : parseYaml(body);
  // As the gateway reads it: an `openapi` or `swagger` field, of any type.
  if (!doc || typeof doc !== 'object' || Array.isArray(doc) || !('openapi' in doc || 'swagger' in doc)) {
    throw new Error('not an OpenAPI document (no openapi or swagger field)');
  }
  return doc;
}

/** The format a document's file name says (`.json`, else YAML), as the gateway reads it. */
export const formatOf = (name) => (/\.json$/i.test(name) ? 'json' : 'yaml');

/** A path item, or the one its local `$ref` names (as the gateway follows it). */
function pathItem(doc, item) {
  const ref = item?.$ref;
  if (typeof ref !== 'string' || !ref.startsWith('#')) return item;
  let target = doc;
  try {
    for (const token of decodeURIComponent(ref.slice(1)).split('/').slice(1)) target = target?.[token.replaceAll('~1', '/').replaceAll('~0', '~')];
  } catch {
    return item;
  }
  return { ...(target ?? {}), ...item };
}

/**
 * The scopes an OpenAPI document names, as permissions: every scope of its OAuth 2 flows (with
 * the description the document gives it) and every scope an operation's, or the document's,
 * `security` asks for. OpenAPI 3 and Swagger 2.0, JSON or YAML.
 */
export function openapiScopes(text, format) {
  const doc = readDocument(text, format);
  const out = new Map();
  const add = (name, description = '') => {
    if (typeof name !== 'string' || !name || /\s/.test(name)) return;
    if (!out.has(name) || (!out.get(name) && description)) out.set(name, description);
  };
  const schemes = doc?.components?.securitySchemes ?? doc?.securityDefinitions ?? {};
  for (const scheme of Object.values(schemes)) {
    // OpenAPI 3: flows.<flow>.scopes; Swagger 2.0: scopes on the scheme itself.
    for (const scopes of [...Object.values(scheme?.flows ?? {}).map((f) => f?.scopes), scheme?.scopes]) {
      for (const [name, description] of Object.entries(scopes ?? {})) add(name, typeof description === 'string' ? description : '');
    }
  }
  const requirements = [...(doc?.security ?? [])];
  for (const item of Object.values(doc?.paths ?? {})) {
    for (const operation of Object.values(pathItem(doc, item) ?? {})) requirements.push(...(operation?.security ?? []));
  }
  for (const requirement of requirements) {
    for (const scopes of Object.values(requirement ?? {})) for (const name of scopes ?? []) add(name);
  }
  return [...out].map(([name, description]) => ({ name, description }));
}

const q = (v) => (v === null || v === undefined ? 'NULL' : typeof v === 'number' ? String(v) : `'${String(v).replaceAll("'", "''")}'`);

/**
 * The SQL for a seed document; `secrets` maps env names to values. `{{PUBLIC_BASE_URL}}` in a
 * string is `baseUrl`; other `{{NAME}}`s come from `placeholders`, and an unknown one is an error.
 */
/** Statements that give a resource these permissions (a description is updated; nothing is
 * removed), when the resource exists. */
export function permissionsSql(resourceId, permissions) {
  return permissions.map(
    (p) =>
      `INSERT INTO permissions (id, resource_id, name, description) SELECT ${q(`${resourceId}:${p.name}`)}, ${q(resourceId)}, ${q(p.name)}, ${q(p.description ?? '')}` +
      ` WHERE EXISTS (SELECT 1 FROM api_resources WHERE id = ${q(resourceId)}) ON CONFLICT(id) DO UPDATE SET description = excluded.description;`,
  );
}

export function seedSql(seed, { baseUrl, secrets, placeholders = {}, now = Math.floor(Date.now() / 1000), dir = root }) {
  const values = { PUBLIC_BASE_URL: baseUrl, ...placeholders };
  const sub = (s) =>
    typeof s === 'string'
      ? s.replaceAll(/\{\{([A-Z_]+)\}\}/g, (_, name) => {
          if (values[name] === undefined) throw new Error(`seed: no value for {{${name}}}`);
          return values[name];
        })
      : s;
  const secret = (name, what) => {
    const value = secrets[name];
    if (!value) throw new Error(`seed: ${what} needs the secret ${name} (set it in .dev.vars or the environment)`);
    return value;
  };
  const out = [];
  for (const r of seed.resources ?? []) {
    out.push(
      `INSERT INTO api_resources (id, indicator, name, is_default, access_token_ttl_secs, access_token_alg, created_at) VALUES (${q(r.id)}, ${q(sub(r.indicator))}, ${q(r.name)}, ${r.default ? 1 : 0}, ${q(r.access_token_ttl_secs ?? 3600)}, ${q(r.access_token_alg ?? 'EdDSA')}, ${now})` +
        ` ON CONFLICT(id) DO UPDATE SET indicator = excluded.indicator, name = excluded.name, is_default = excluded.is_default, access_token_ttl_secs = excluded.access_token_ttl_secs, access_token_alg = excluded.access_token_alg;`,
    );
    // `permissions_from_openapi`: the document's scopes (a path under `dir`, the repository
    // unless init says otherwise), beside any listed; a listed one keeps its own description.
    const listed = r.permissions ?? [];
    const fromDocument = r.permissions_from_openapi
      ? openapiScopes(readFileSync(join(dir, r.permissions_from_openapi), 'utf8'), formatOf(r.permissions_from_openapi)).filter((p) => !listed.some((l) => l.name === p.name))
      : [];
    out.push(...permissionsSql(r.id, [...listed, ...fromDocument]));
  }
  for (const role of seed.roles ?? []) {
    out.push(
      `INSERT INTO roles (id, name, description, created_at) VALUES (${q(role.id)}, ${q(role.name)}, ${q(role.description ?? '')}, ${now})` +
        ` ON CONFLICT(id) DO UPDATE SET name = excluded.name, description = excluded.description;`,
    );
    for (const p of role.permissions ?? []) {
      out.push(`INSERT OR IGNORE INTO role_permissions (role_id, permission_id) VALUES (${q(role.id)}, ${q(`${p.resource}:${p.name}`)});`);
    }
  }
  for (const u of seed.users ?? []) {
    const hash = u.password_env ? hashPassword(secret(u.password_env, `user ${u.email}`)) : null;
    out.push(
      `INSERT INTO users (id, email, name, password_hash, created_at, updated_at) VALUES (${q(u.id)}, ${q(u.email)}, ${q(u.name ?? '')}, ${q(hash)}, ${now}, ${now})` +
        // A changed password signs the user out of every portal session (migration 0006).
        ` ON CONFLICT(id) DO UPDATE SET email = excluded.email, name = excluded.name, password_hash = excluded.password_hash,` +
        ` session_epoch = users.session_epoch + (users.password_hash IS NOT excluded.password_hash), updated_at = excluded.updated_at;`,
    );
    for (const roleId of u.roles ?? []) {
      out.push(`INSERT OR IGNORE INTO user_roles (user_id, role_id) VALUES (${q(u.id)}, ${q(roleId)});`);
    }
  }
  for (const c of seed.clients ?? []) {
    const hash = c.kind === 'confidential' ? sha256Hex(secret(c.secret_env, `client ${c.id}`)) : null;
    out.push(
      `INSERT INTO oauth_clients (id, name, secret_hash, redirect_uris, kind, first_party, created_at) VALUES (${q(c.id)}, ${q(c.name)}, ${q(hash)}, ${q(JSON.stringify((c.redirect_uris ?? []).map(sub)))}, ${q(c.kind)}, ${c.first_party ? 1 : 0}, ${now})` +
        ` ON CONFLICT(id) DO UPDATE SET name = excluded.name, secret_hash = excluded.secret_hash, redirect_uris = excluded.redirect_uris, kind = excluded.kind, first_party = excluded.first_party;`,
    );
    // A confidential client's own roles: what it may do as a machine (client_credentials).
    for (const roleId of c.roles ?? []) {
      out.push(`INSERT OR IGNORE INTO client_roles (client_id, role_id) VALUES (${q(c.id)}, ${q(roleId)});`);
    }
  }
  return out.join('\n');
}

/** Writes the seed to the local D1 database through wrangler. */
export function applySeed({ file = join(root, 'demo', 'seed.json'), baseUrl, secrets, placeholders, persistTo, remote = false } = {}) {
  const seed = JSON.parse(readFileSync(file, 'utf8'));
  const sql = seedSql(seed, { baseUrl, secrets, placeholders });
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-seed-'));
  const path = join(dir, 'seed.sql');
  writeFileSync(path, sql, { mode: 0o600 });
  try {
    const args = ['d1', 'execute', 'DB', remote ? '--remote' : '--local', `--file=${path}`];
    if (persistTo) args.push(`--persist-to=${persistTo}`);
    wrangler(args);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `node scripts/seed.mjs`: the flags are described in that entry. */
export async function main({ values }) {
  const devVarsPath = join(root, '.dev.vars');
  const secrets = { ...(existsSync(devVarsPath) ? parseDevVars(readFileSync(devVarsPath, 'utf8')) : {}), ...process.env };
  const file = values.file ?? join(root, 'demo', 'seed.json');
  if (!existsSync(file)) throw new CommandError(`${file} does not exist`);
  applySeed({ file, baseUrl: values['base-url'], secrets, persistTo: values['persist-to'], remote: values.remote });
  console.log(`seeded ${file}`);
}

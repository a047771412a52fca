// Scale: the same operations against a small directory (100 users, 10 roles, 100 clients) and a
// large one (1,000,000 users, 1,000 roles, 10,000 clients), each in its own local D1, measured the
// same way one after the other. Costs that grow with the tables would show as a ratio above 1.
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { wrangler } from './lib.mjs';
import { applySeed, hashPassword } from './commands/seed.mjs';
import { startGateway } from '../tests/e2e/harness.mjs';
import { FormBrowser, signIn } from '../tests/e2e/browser.mjs';
import { benchPlugin } from './bench-plugin.mjs';

const PASSWORD = 'scale-bench-password';
/** Users in the large directory. */
const LARGE_USERS = 1_000_000;

/**
 * SQL that adds `users` users, `roles` roles and `clients` clients to the seeded directory. The
 * rows are generated inside SQLite (a recursive sequence), so a million users take a few short
 * statements rather than a file of a million inserts.
 */
function populationSql({ users, roles, clients }) {
  const now = Math.floor(Date.now() / 1000);
  const hash = hashPassword(PASSWORD);
  const seq = (count) => `WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < ${count - 1}) SELECT i FROM seq`;
  return [
    `INSERT INTO roles (id, name, description, created_at) SELECT printf('rol_s%06d', i), 'scale-role-' || i, '', ${now} FROM (${seq(roles)});`,
    `INSERT INTO role_permissions (role_id, permission_id) SELECT r.id, p.id FROM roles r, permissions p WHERE r.id LIKE 'rol_s%' AND p.resource_id = 'res_todos';`,
    `INSERT INTO users (id, email, name, password_hash, created_at, updated_at) SELECT printf('usr_s%06d', i), 'user' || i || '@scale.example', 'Scale ' || i, '${hash}', ${now}, ${now} FROM (${seq(users)});`,
    `INSERT INTO user_roles (user_id, role_id) SELECT printf('usr_s%06d', i), printf('rol_s%06d', i % ${roles}) FROM (${seq(users)});`,
    `INSERT OR IGNORE INTO user_roles (user_id, role_id) SELECT printf('usr_s%06d', i), printf('rol_s%06d', (i * 7 + 3) % ${roles}) FROM (${seq(users)});`,
    `INSERT INTO oauth_clients (id, name, secret_hash, redirect_uris, kind, first_party, created_at) SELECT printf('cli_s%06d', i), 'Scale client ' || i, NULL, '["http://127.0.0.1/cb' || i || '"]', 'public', 0, ${now} FROM (${seq(clients)});`,
  ].join('\n');
}

/** Bytes of the local D1 database files under a `--persist-to` directory. */
function databaseBytes(state) {
  const dir = join(state, 'v3', 'd1');
  let total = 0;
  const walk = (d) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.sqlite(-wal)?$/.test(entry.name)) total += statSync(path).size;
    }
  };
  walk(dir);
  return total;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function time(count, fn) {
  const samples = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await fn(i);
    samples.push(performance.now() - t);
  }
  return median(samples);
}

/** Measures one population; returns medians in ms. */
async function measure(population, { seedFile, env }) {
  const scratch = mkdtempSync(join(tmpdir(), 'portcullis-scale-'));
  const sqlFile = join(scratch, 'population.sql');
  writeFileSync(sqlFile, populationSql(population));
  const seeding = performance.now();
  const gw = await startGateway({
    plugin: benchPlugin,
    beforeStart: ({ state, baseUrl, secrets }) => {
      applySeed({ file: seedFile, baseUrl, secrets, persistTo: state });
      wrangler(['d1', 'execute', 'DB', '--local', `--persist-to=${state}`, `--file=${sqlFile}`], { env });
    },
  });
  const seededSecs = (performance.now() - seeding) / 1000;
  const dbBytes = databaseBytes(gw.state);
  try {
    const target = Math.floor(population.users / 2);
    const email = `user${target}@scale.example`;
    const authorizeUrl = (state) =>
      `${gw.baseUrl}/authorize?${new URLSearchParams({ response_type: 'code', client_id: 'bench', redirect_uri: 'https://bench.invalid/cb', scope: 'todos:read', state })}`;
    // Warm the isolate and every path once, untimed.
    const warm = new FormBrowser(gw.baseUrl);
    const warmLogin = await warm.get(authorizeUrl('warm'));
    await signIn(warm, warmLogin, email, PASSWORD);
    for (let i = 0; i < 5; i++) {
      await warm.get(authorizeUrl(`w${i}`));
      await fetch(`${gw.baseUrl}/admin/api/users?limit=50`, { headers: { authorization: `Bearer ${gw.secrets.ADMIN_TOKEN}` } }).then((r) => r.arrayBuffer());
    }
    // Sign-in: the login form, then the password check (PBKDF2 in WebCrypto) and the user lookup.
    const browsers = [];
    const login = await time(12, async (i) => {
      const browser = new FormBrowser(gw.baseUrl);
      const page = await browser.get(authorizeUrl(`l${i}`));
      const res = await signIn(browser, page, email, PASSWORD);
      if (res.status !== 303) throw new Error(`scale sign-in: ${res.status} ${res.text_.slice(0, 200)}`);
      browsers.push(browser);
    });
    // Token issuance: a code for the signed-in user (first-party client), then its exchange.
    const browser = browsers[0];
    const codes = [];
    const authorize = await time(40, async (i) => {
      const res = await browser.get(authorizeUrl(`a${i}`));
      codes.push(new URL(res.headers.get('location')).searchParams.get('code'));
    });
    const basic = `Basic ${Buffer.from(`bench:${gw.secrets.DEMO_CLIENT_SECRET}`).toString('base64')}`;
    const exchange = await time(40, async (i) => {
      const res = await fetch(`${gw.baseUrl}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic, 'cf-connecting-ip': `198.18.1.${i}` },
        body: new URLSearchParams({ grant_type: 'authorization_code', code: codes[i], redirect_uri: 'https://bench.invalid/cb' }),
      });
      if (res.status !== 200) throw new Error(`scale exchange: ${res.status} ${await res.text()}`);
    });
    const admin = (path) => async () => {
      const res = await fetch(`${gw.baseUrl}/admin/api${path}`, { headers: { authorization: `Bearer ${gw.secrets.ADMIN_TOKEN}` } });
      if (res.status !== 200) throw new Error(`scale admin ${path}: ${res.status}`);
      await res.arrayBuffer();
    };
    const middleUser = `usr_s${String(target).padStart(6, '0')}`;
    // The users list pages by email; its cursor is the last email, base64url.
    const middleCursor = Buffer.from(email).toString('base64url');
    return {
      seededSecs,
      dbBytes,
      login,
      authorize,
      exchange,
      usersFirst: await time(30, admin('/users?limit=50')),
      usersDeep: await time(30, admin(`/users?limit=50&cursor=${middleCursor}`)),
      usersSearch: await time(30, admin(`/users?q=${encodeURIComponent(`USER${target}@`)}`)),
      usersSearchWide: await time(30, admin('/users?q=user1&limit=50')),
      userOne: await time(30, admin(`/users/${middleUser}`)),
      roles: await time(30, admin('/roles?limit=50')),
      clients: await time(30, admin('/clients?limit=50')),
    };
  } finally {
    await gw.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

export async function scaleBench({ say, seedFile, env }) {
  const small = await measure({ users: 100, roles: 10, clients: 100 }, { seedFile, env });
  const large = await measure({ users: LARGE_USERS, roles: 1_000, clients: 10_000 }, { seedFile, env });
  say();
  say(`### Scale: 100 users / 10 roles / 100 clients vs ${LARGE_USERS.toLocaleString('en-US')} / 1,000 / 10,000 (local D1, sequential, medians)`);
  say();
  say('| operation | small ms | large ms | ratio |');
  say('|---|---|---|---|');
  const rows = [
    ['sign-in (login form post: user by email, PBKDF2, session)', 'login'],
    ['authorize with a session (client, user, scope decision, grant)', 'authorize'],
    ['code exchange', 'exchange'],
    ['admin: first page of users (50, with roles)', 'usersFirst'],
    ['admin: a page of users from the middle (cursor)', 'usersDeep'],
    ['admin: users by an email prefix, one match (any case)', 'usersSearch'],
    ['admin: users by an email prefix, first page of 50 of many', 'usersSearchWide'],
    ['admin: one user', 'userOne'],
    ['admin: first page of roles (50, with permissions)', 'roles'],
    ['admin: first page of clients (50)', 'clients'],
  ];
  const ratios = [];
  for (const [label, key] of rows) {
    const ratio = large[key] / small[key];
    ratios.push(ratio);
    say(`| ${label} | ${small[key].toFixed(1)} | ${large[key].toFixed(1)} | ${ratio.toFixed(2)} |`);
  }
  say();
  const seededRows = LARGE_USERS * 3 + 11_000;
  const mib = (bytes) => (bytes / 2 ** 20).toFixed(0);
  say(`Seeding the large directory (migrations, demo seed, about ${seededRows.toLocaleString('en-US')} rows generated inside SQLite through \`wrangler d1 execute\`) and starting the gateway took ${large.seededSecs.toFixed(0)} s. Worst ratio: **${Math.max(...ratios).toFixed(2)}** (target ≤ 1.2).`);
  say();
  const perUser = (large.dbBytes - small.dbBytes) / (LARGE_USERS - 100);
  say(`The database files: ${mib(small.dbBytes)} MiB small, ${mib(large.dbBytes)} MiB large: about ${perUser.toFixed(0)} bytes per user with two roles (the row, its email index and its role rows), so D1's 10 GB per database holds about ${(10e9 / perUser / 1e6).toFixed(0)} million such users before grants, consents and API keys.`);
  return Math.max(...ratios);
}

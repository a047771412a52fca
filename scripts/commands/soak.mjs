// `npm run soak [-- SECONDS]` (default 180): mixed traffic against one gateway in local workerd,
// on loopback, for a bounded time: proxied calls with per-user quotas, code issuance and exchange,
// refresh rotation, client registration, and admin writes and reads, several loops at once. Then
// it checks that no answer was a 5xx, that every write is in D1 and every counted call in its
// Durable Object, and prints workerd's memory over the run.
import { execSync } from 'node:child_process';
import { startGateway } from '../../tests/e2e/harness.mjs';
import { UsageError } from '../cli.mjs';
import { FormBrowser, signIn } from '../../tests/e2e/browser.mjs';
import { root, wrangler } from '../lib.mjs';
import { applySeed } from './seed.mjs';
import { benchPlugin } from '../bench-plugin.mjs';
import { join } from 'node:path';

/** `npm run soak`: the flags are described in scripts/soak.mjs. */
export async function main({ values, positionals }) {

  const seconds = Number(positionals[0] ?? 180);
    if (!Number.isInteger(seconds) || seconds < 1) throw new UsageError(`SECONDS ${JSON.stringify(positionals[0])}: a whole number of seconds`);
  // With --no-new-grants the token loop keeps rotating three grants instead of starting new ones,
  // so no new Durable Objects (one per grant) appear during the run: memory then shows the Worker's
  // own footprint rather than the local runtime's per-object SQLite databases.
  const newGrants = !values['no-new-grants'];
  process.env.PORTCULLIS_LOG_LEVEL ??= 'error';

  const gw = await startGateway({
    plugin: { ...benchPlugin, quota: { limit: 1_000_000_000, period_secs: 86_400 } },
    beforeStart: ({ state, baseUrl, secrets }) =>
      applySeed({ file: join(root, 'scripts', 'bench-seed.json'), baseUrl, secrets, persistTo: state }),
  });
  const statuses = new Map();
  let fiveHundreds = [];
  const record = (what, status) => {
    const key = `${what} ${status}`;
    statuses.set(key, (statuses.get(key) ?? 0) + 1);
    if (status >= 500) fiveHundreds.push(key);
  };
  const deadline = Date.now() + seconds * 1000;
  const running = () => Date.now() < deadline;
  const adminHeaders = { authorization: `Bearer ${gw.secrets.ADMIN_TOKEN}`, 'content-type': 'application/json' };

  const workerdRss = () =>
    execSync('ps -e -o pgid=,rss=,comm=', { encoding: 'utf8' })
      .split('\n')
      .map((r) => r.trim().split(/\s+/))
      .filter(([pgid, , comm]) => Number(pgid) === gw.gateway.pid && /workerd/.test(comm ?? ''))
      .reduce((sum, [, rss]) => sum + Number(rss), 0);

  try {
    // Users whose quota counts the proxy loop checks afterwards.
    const users = [];
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${gw.baseUrl}/admin/api/users`, { method: 'POST', headers: adminHeaders, body: JSON.stringify({ email: `soak${i}@example.com`, password: 'correct horse battery' }) });
      users.push((await res.json()).id);
    }
    const accepted = new Map(users.map((u) => [u, 0]));
    const tokens = await Promise.all(users.map((sub) => gw.token({ sub, scope: 'todos:read' })));
    let created = 0;
    let registered = 0;
    let exchanged = 0;
    let rotations = 0;

    const proxy = async (lane) => {
      for (let n = 0; running(); n++) {
        const i = (lane + n) % users.length;
        const res = await fetch(`${gw.baseUrl}/todos`, { headers: { authorization: `Bearer ${tokens[i]}` } });
        await res.arrayBuffer();
        record('proxy', res.status);
        if (res.status === 200) accepted.set(users[i], accepted.get(users[i]) + 1);
      }
    };
    const basic = `Basic ${Buffer.from(`bench:${gw.secrets.DEMO_CLIENT_SECRET}`).toString('base64')}`;
    const tokenCall = async (body, ip) => {
      const res = await fetch(`${gw.baseUrl}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic, 'cf-connecting-ip': ip }, body: new URLSearchParams(body) });
      record(`token:${body.grant_type}`, res.status);
      return { status: res.status, body: await res.json() };
    };
    const codes = async () => {
      const browser = new FormBrowser(gw.baseUrl);
      const url = (s) => `/authorize?${new URLSearchParams({ response_type: 'code', client_id: 'bench', redirect_uri: 'https://bench.invalid/cb', scope: 'todos:read', state: s })}`;
      const login = await browser.get(url('x'));
      const signed = await signIn(browser, login, 'demo@example.com', gw.secrets.DEMO_PASSWORD);
      record('login', signed.status);
      const chains = [];
      for (let n = 0; running() && (newGrants || n < 3); n++) {
        const res = await browser.get(url(`s${n}`));
        record('authorize', res.status);
        const code = new URL(res.headers.get('location')).searchParams.get('code');
        const t = await tokenCall({ grant_type: 'authorization_code', code, redirect_uri: 'https://bench.invalid/cb' }, `198.18.2.${n % 250}`);
        if (t.status === 200) exchanged++;
        chains.push(t.body.refresh_token);
        // Rotate this grant's refresh token a few times.
        for (let r = 0; r < 3 && chains[n] && running(); r++) {
          const next = await tokenCall({ grant_type: 'refresh_token', refresh_token: chains[n] }, `198.18.3.${(n + r) % 250}`);
          if (next.status === 200) rotations++;
          chains[n] = next.body.refresh_token;
        }
      }
      for (let n = 0; running(); n++) {
        const i = n % chains.length;
        const next = await tokenCall({ grant_type: 'refresh_token', refresh_token: chains[i] }, `198.18.3.${n % 250}`);
        if (next.status === 200) rotations++;
        chains[i] = next.body.refresh_token;
      }
    };
    const admin = async () => {
      for (let n = 0; running(); n++) {
        const headers = { ...adminHeaders, 'cf-connecting-ip': `198.18.5.${n % 250}` };
        const res = await fetch(`${gw.baseUrl}/admin/api/users`, { method: 'POST', headers, body: JSON.stringify({ email: `made${n}@soak.example`, password: 'correct horse battery' }) });
        record('admin:create', res.status);
        if (res.status === 201) created++;
        const list = await fetch(`${gw.baseUrl}/admin/api/users?limit=20`, { headers });
        record('admin:list', list.status);
        await list.arrayBuffer();
      }
    };
    const register = async () => {
      for (let n = 0; running(); n++) {
        const res = await fetch(`${gw.baseUrl}/register`, { method: 'POST', headers: { 'content-type': 'application/json', 'cf-connecting-ip': `198.18.4.${n % 250}` }, body: JSON.stringify({ redirect_uris: ['http://127.0.0.1/cb'], token_endpoint_auth_method: 'none' }) });
        record('register', res.status);
        if (res.status === 201) registered++;
        await new Promise((r) => setTimeout(r, 200));
      }
    };

    const rss = [workerdRss()];
    const sampler = setInterval(() => rss.push(workerdRss()), 30_000);
    await Promise.all([proxy(0), proxy(1), proxy(2), codes(), admin(), register()]);
    clearInterval(sampler);
    rss.push(workerdRss());
    // Then idle: the runtime may evict the Durable Objects the traffic woke (one per grant).
    await new Promise((r) => setTimeout(r, 90_000));
    const idleRss = workerdRss();
    const objects = execSync(`find ${JSON.stringify(gw.state)} -name '*.sqlite' | wc -l`, { encoding: 'utf8' }).trim();
    const stateKib = Number(execSync(`du -sk ${JSON.stringify(gw.state)}`, { encoding: 'utf8' }).split(/\s+/)[0]);
    const walKib = Number(execSync(`find ${JSON.stringify(gw.state)} -name '*-wal' -exec du -ck {} + | tail -n 1`, { encoding: 'utf8' }).split(/\s+/)[0] || 0);

    // Everything counted must be stored.
    const problems = [];
    for (const user of users) {
      const view = await (await fetch(`${gw.baseUrl}/admin/api/users/${user}/quota`, { headers: adminHeaders })).json();
      // The console shows calls made, exactly once every isolate has told what it made of its
      // leases, else at most the calls counted: ahead of the calls accepted by what isolates still
      // hold (under 64 each) until they report, never behind.
      const ahead = view.quota.used - accepted.get(user);
      if (view.quota.used_exact && ahead !== 0) problems.push(`quota ${user}: ${accepted.get(user)} accepted, exactly ${view.quota.used} made`);
      if (ahead < 0 || ahead >= 64 * 4) problems.push(`quota ${user}: ${accepted.get(user)} accepted, ${view.quota.used} counted`);
    }
    const d1 = (sql) => {
      const out = wrangler(['d1', 'execute', 'DB', '--local', `--persist-to=${gw.state}`, '--json', `--command=${sql}`]);
      return JSON.parse(out.slice(out.indexOf('[')))[0].results[0].n;
    };
    const madeUsers = d1("SELECT COUNT(*) AS n FROM users WHERE email LIKE '%@soak.example'");
    if (madeUsers !== created) problems.push(`users: ${created} created, ${madeUsers} in D1`);
    const dynamicClients = d1("SELECT COUNT(*) AS n FROM oauth_clients WHERE registered_via = 'dynamic'");
    if (dynamicClients !== registered) problems.push(`registrations: ${registered} answered 201, ${dynamicClients} in D1`);
    const grants = d1("SELECT COUNT(*) AS n FROM user_grants WHERE client_id = 'bench'");
    if (grants < exchanged) problems.push(`grants: ${exchanged} exchanged, ${grants} indexed in D1`);
    const total = [...statuses.values()].reduce((a, b) => a + b, 0);
    console.log(`soak: ${seconds} s, ${total} requests`);
    for (const [key, count] of [...statuses].sort()) console.log(`  ${key.padEnd(28)} ${count}`);
    console.log(`  users created ${created}, clients registered ${registered}, codes exchanged ${exchanged}, refresh rotations ${rotations}`);
    console.log(`  proxied calls counted per user: ${[...accepted.values()].join(', ')}`);
    console.log(`  workerd RSS (MiB, every 30 s): ${rss.map((k) => (k / 1024).toFixed(0)).join(' → ')}; after 90 s idle: ${(idleRss / 1024).toFixed(0)}`);
    console.log(`  SQLite databases in the local state (D1, and one per Durable Object): ${objects}, ${(stateKib / 1024).toFixed(0)} MiB on disk, of which write-ahead logs ${(walKib / 1024).toFixed(0)} MiB`);
    console.log(`  5xx answers: ${fiveHundreds.length}; lost writes: ${problems.length}`);
    for (const p of problems) console.log(`  PROBLEM ${p}`);
    if (fiveHundreds.length > 0 || problems.length > 0) process.exitCode = 1;
  } finally {
    await gw.stop();
  }
}

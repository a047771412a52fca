// Faults. The origin misbehaving (too slow, resetting, gone): the gateway answers in bounded time
// with 504 and 502, never a 5xx of its own making or a hang. Storage failing: 503, nothing
// half-written. The local runtime restarting: users, grants, keys and counts survive.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway } from './harness.mjs';
import { FormBrowser, decide, signIn } from './browser.mjs';
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { root, stopProcess, wrangler } from '../../scripts/lib.mjs';

let gw;
before(async () => {
  gw = await startGateway({ vars: { ORIGIN_TIMEOUT_MS: '1000' } });
});
after(async () => {
  await gw?.stop();
});

describe('origin faults', () => {
  test('an origin slower than ORIGIN_TIMEOUT_MS gets 504 in bounded time', async () => {
    const started = Date.now();
    const res = await fetch(`${gw.baseUrl}/public/slow?ms=5000`);
    const elapsed = Date.now() - started;
    assert.equal(res.status, 504);
    assert.equal((await res.json()).error, 'gateway_timeout');
    assert.ok(elapsed < 4000, `answered after ${elapsed} ms`);
  });

  test('an origin that resets the connection gets 502 in bounded time', async () => {
    const started = Date.now();
    const res = await fetch(`${gw.baseUrl}/public/reset`);
    assert.equal(res.status, 502);
    assert.equal((await res.json()).error, 'bad_gateway');
    assert.ok(Date.now() - started < 4000);
  });

  test('an origin that is down gets 502', async () => {
    await stopProcess(gw.origin);
    const started = Date.now();
    const res = await fetch(`${gw.baseUrl}/public/hello`);
    assert.equal(res.status, 502);
    const body = await res.json();
    assert.equal(body.error, 'bad_gateway');
    assert.ok(!JSON.stringify(body).includes('127.0.0.1'), 'no internal address in the answer');
    assert.ok(Date.now() - started < 4000);
  });
});

describe('quota and calls that reach no API', () => {
  // Issue 29, finding 7: a 502 or 504 charged the caller's quota, and a forwarded
  // `Expect: 100-continue` turned every call into a 502 (99 → 97).
  let metered;
  let token;
  before(async () => {
    const todo = parseToml(readFileSync(join(root, 'wrangler.toml'), 'utf8')).vars.PLUGIN;
    metered = await startGateway({
      plugin: {
        ...todo,
        quota: { limit: 4, period_secs: 3600, exact: true },
        routes: [{ path: '/public/*', scopes: ['todos:read'] }, ...todo.routes],
      },
      vars: { ORIGIN_TIMEOUT_MS: '1000' },
    });
    token = await metered.token({ scope: 'todos:read todos:write', sub: 'usr_refunds' });
  });
  after(async () => {
    await metered?.stop();
  });
  const remaining = (res) => Number(/remaining=(\d+)/.exec(res.headers.get('ratelimit') ?? '')?.[1]);
  const call = (path, init = {}) => fetch(`${metered.baseUrl}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...init.headers } });

  test('502s and 504s give the call back', async () => {
    for (let i = 0; i < 6; i++) assert.equal((await call('/public/reset')).status, 502);
    assert.equal((await call('/public/slow?ms=3000')).status, 504);
    const ok = await call('/public/hello');
    assert.equal(ok.status, 200, 'six failures did not spend a quota of four');
    assert.equal(remaining(ok), 3);
  });

  test('a POST with Expect: 100-continue is answered by the API and counted once', async () => {
    const body = JSON.stringify({ title: 'continue' });
    const { status, ratelimit } = await new Promise((resolve, reject) => {
      const req = request(`${metered.baseUrl}/todos`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), expect: '100-continue' },
      });
      req.on('continue', () => req.end(body));
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode, ratelimit: res.headers.ratelimit }));
      });
      req.on('error', reject);
      req.setTimeout(10_000, () => req.destroy(new Error('no answer')));
    });
    assert.equal(status, 201);
    assert.match(ratelimit, /remaining=2/);
  });
});

describe('storage failing', () => {
  let bare;
  before(async () => {
    // No migrations: every D1 query fails (no tables), as when D1 is down.
    bare = await startGateway({ migrate: false });
  });
  after(async () => {
    await bare?.stop();
  });

  test('the token endpoint, authorize, the admin API and health answer 503, not 500', async () => {
    const token = await fetch(`${bare.baseUrl}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('chatgpt:x').toString('base64')}` },
      body: 'grant_type=authorization_code&code=a.b',
    });
    assert.equal(token.status, 503);
    assert.equal((await token.json()).error, 'temporarily_unavailable');
    const authorize = await fetch(`${bare.baseUrl}/authorize?response_type=code&client_id=chatgpt`, { redirect: 'manual' });
    assert.equal(authorize.status, 503);
    const admin = await fetch(`${bare.baseUrl}/admin/api/users`, { headers: { authorization: `Bearer ${bare.secrets.ADMIN_TOKEN}` } });
    assert.equal(admin.status, 503);
    const health = await fetch(`${bare.baseUrl}/healthz`);
    assert.equal(health.status, 503);
    // What needs no storage still works: a valid token on the proxy, and discovery.
    const proxied = await fetch(`${bare.baseUrl}/todos`, { headers: { authorization: `Bearer ${await bare.token()}` } });
    assert.equal(proxied.status, 200);
    assert.equal((await fetch(`${bare.baseUrl}/.well-known/ai-plugin.json`)).status, 200);
  });

  test('a registration that cannot be stored is 503 and leaves nothing behind', async () => {
    const res = await fetch(`${bare.baseUrl}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: ['http://127.0.0.1/cb'], token_endpoint_auth_method: 'none' }),
    });
    assert.equal(res.status, 503);
    assert.equal((await res.json()).error, 'temporarily_unavailable');
  });
});

describe('a Durable Object namespace failing', () => {
  let noGrants;
  let noQuota;
  before(async () => {
    // One gateway cannot reach its grant objects, the other its quota counters: their bindings
    // are gone from the Worker. One after the other: a start migrates and seeds with blocking
    // wrangler calls, which would stall the other start's readiness clock.
    noGrants = await startGateway({ wranglerConfig: (text) => text.replace('{ name = "GRANTS",', '{ name = "GRANTS_OFF",') });
    noQuota = await startGateway({ wranglerConfig: (text) => text.replace('{ name = "QUOTA",', '{ name = "QUOTA_OFF",') });
  });
  after(async () => {
    await Promise.all([noGrants?.stop(), noQuota?.stop()]);
  });

  test('a consent that cannot create its grant is 503 and indexes nothing', async () => {
    const callback = 'https://chatgpt.com/aip/plugin-todo-demo/oauth/callback';
    const browser = new FormBrowser(noGrants.baseUrl);
    const login = await browser.get(`/authorize?${new URLSearchParams({ response_type: 'code', client_id: 'chatgpt', redirect_uri: callback, scope: 'todos:read', state: 's' })}`);
    const signedIn = await signIn(browser, login, 'demo@example.com', noGrants.secrets.DEMO_PASSWORD);
    assert.equal(signedIn.status, 303);
    const back = await decide(browser, await browser.get(signedIn.headers.get('location')));
    assert.equal(back.status, 503);
    assert.equal(back.headers.get('location'), null, 'no code was handed out');
    const out = wrangler(['d1', 'execute', 'DB', '--local', `--persist-to=${noGrants.state}`, '--json', '--command=SELECT (SELECT COUNT(*) FROM user_grants) + (SELECT COUNT(*) FROM consents) AS n']);
    assert.equal(JSON.parse(out.slice(out.indexOf('[')))[0].results[0].n, 0, 'no grant indexed and no consent remembered in D1');
  });

  test('a quota that cannot be counted is 503, and the origin sees nothing', async () => {
    await noQuota.clearOriginRequests();
    const res = await fetch(`${noQuota.baseUrl}/todos`, { headers: { authorization: `Bearer ${await noQuota.token()}` } });
    assert.equal(res.status, 503);
    assert.equal((await res.json()).error, 'temporarily_unavailable');
    assert.deepEqual(await noQuota.originRequests(), []);
  });
});

describe('a restart of the local runtime', () => {
  let gwr;
  before(async () => {
    gwr = await startGateway({ plugin: undefined, testScheduled: true });
  });
  after(async () => {
    await gwr?.stop();
  });

  test('keeps users, grants, API keys and quota counts', async () => {
    const admin = (path, init = {}) =>
      fetch(`${gwr.baseUrl}/admin/api${path}`, {
        ...init,
        headers: { authorization: `Bearer ${gwr.secrets.ADMIN_TOKEN}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
      }).then(async (r) => ({ status: r.status, body: await r.json() }));
    const user = await admin('/users', { method: 'POST', body: JSON.stringify({ email: 'restart@example.com', password: 'correct horse battery' }) });
    assert.equal(user.status, 201);
    const key = await admin('/api-keys', { method: 'POST', body: JSON.stringify({ user_id: 'usr_demo', name: 'restart', scopes: 'todos:read' }) });
    assert.equal(key.status, 201);
    const { token, tokens } = await demoGrant(gwr);
    // Quota: the demo plugin counts per user; spend three calls.
    const access = await gwr.token({ sub: 'usr_restart_quota' });
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${gwr.baseUrl}/todos`, { headers: { authorization: `Bearer ${access}` } })).status, 200);
    const quotaBefore = (await fetch(`${gwr.baseUrl}/todos`, { headers: { authorization: `Bearer ${access}` } })).headers.get('ratelimit');

    await gwr.restart();

    assert.equal((await admin(`/users/${user.body.id}`)).status, 200);
    assert.equal((await admin(`/api-keys?user_id=usr_demo`)).body.items.some((k) => k.id === key.body.id), true);
    const refreshed = await token({ grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token });
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    const after = await fetch(`${gwr.baseUrl}/todos`, { headers: { authorization: `Bearer ${access}` } });
    const remaining = (header) => Number(/remaining=(\d+)/.exec(header ?? '')?.[1]);
    // The counter carried over; the calls the old isolate had leased and not used went with it
    // (under 64: quotas never over-admit, and may refuse early by what isolates held).
    const lost = remaining(quotaBefore) - 1 - remaining(after.headers.get('ratelimit'));
    assert.ok(lost >= 0 && lost < 64, `the count carried over (lost ${lost})`);
  });

  test('a revocation sweep the grant objects interrupt is finished by the cron', async () => {
    const { token, tokens } = await demoGrant(gwr);
    const grants = () => {
      const out = wrangler(['d1', 'execute', 'DB', '--local', `--persist-to=${gwr.state}`, '--json', "--command=SELECT COUNT(*) AS live, COUNT(revoke_requested_at) AS asked FROM user_grants WHERE user_id = 'usr_demo' AND revoked_at IS NULL"]);
      return JSON.parse(out.slice(out.indexOf('[')))[0].results[0];
    };
    const live = grants().live;
    assert.ok(live >= 1);

    // The grant objects are out of reach while an administrator disables the user.
    await gwr.restart({ wranglerConfig: (text) => text.replace('{ name = "GRANTS",', '{ name = "GRANTS_OFF",') });
    const disabled = await fetch(`${gwr.baseUrl}/admin/api/users/usr_demo`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${gwr.secrets.ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ disabled: true }),
    });
    assert.equal(disabled.status, 503);
    assert.deepEqual(grants(), { live, asked: live }, 'every revocation is asked for in D1, none marked done');

    await gwr.restart();
    const run = await fetch(`${gwr.baseUrl}/__scheduled?cron=17+*/6+*+*+*`);
    assert.equal(run.status, 200);
    assert.deepEqual(grants(), { live: 0, asked: 0 }, 'the cron finished every one');
    // The cron's line comes through wrangler's output a moment after its answer.
    await gwr.waitForLog(/"event":"revocations_finished","finished":[1-9]\d*,"failed":0/);
    const refreshed = await token({ grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token });
    assert.equal(refreshed.status, 400);
    assert.equal(refreshed.body.error, 'invalid_grant');
  });
});

/**
 * A grant for the demo user to the `chatgpt` client: sign in, consent, exchange. Returns the
 * tokens and a caller of the token endpoint as that client.
 */
async function demoGrant(gw) {
  const callback = 'https://chatgpt.com/aip/plugin-todo-demo/oauth/callback';
  const browser = new FormBrowser(gw.baseUrl);
  const login = await browser.get(`/authorize?${new URLSearchParams({ response_type: 'code', client_id: 'chatgpt', redirect_uri: callback, scope: 'todos:read', state: 's' })}`);
  const signedIn = await signIn(browser, login, 'demo@example.com', gw.secrets.DEMO_PASSWORD);
  const back = await decide(browser, await browser.get(signedIn.headers.get('location')));
  const code = new URL(back.headers.get('location')).searchParams.get('code');
  const basic = `Basic ${Buffer.from(`chatgpt:${gw.secrets.DEMO_CLIENT_SECRET}`).toString('base64')}`;
  const token = (body) =>
    fetch(`${gw.baseUrl}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic }, body: new URLSearchParams(body) }).then(async (r) => ({ status: r.status, body: await r.json() }));
  const tokens = await token({ grant_type: 'authorization_code', code, redirect_uri: callback });
  assert.equal(tokens.status, 200);
  return { token, tokens };
}

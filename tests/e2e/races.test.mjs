// Races, 50 at a time against real workerd: one code redeemed by 50 requests, one refresh token
// presented by 50, a quota charged by 50, a password guessed by 50 from one address and then by 50
// from 50. Elsewhere each request comes from its own client address, so the per-IP rate limits are
// not what decides.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway } from './harness.mjs';
import { FormBrowser, decide, formFields, signIn } from './browser.mjs';
import { benchPlugin } from '../../scripts/bench-plugin.mjs';

const CALLBACK = 'https://chatgpt.com/aip/plugin-todo-demo/oauth/callback';
const QUOTA = 30;

let gw;
before(async () => {
  gw = await startGateway({
    plugin: { ...benchPlugin, quota: { limit: QUOTA, period_secs: 3600 } },
  });
});
after(async () => {
  await gw?.stop();
});

const basic = () => `Basic ${Buffer.from(`chatgpt:${gw.secrets.DEMO_CLIENT_SECRET}`).toString('base64')}`;
const ip = (i) => `198.51.100.${i + 1}`;

function tokenRequest(body, i) {
  return fetch(`${gw.baseUrl}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(), 'cf-connecting-ip': ip(i) },
    body: new URLSearchParams(body),
  }).then(async (r) => ({ status: r.status, body: await r.json() }));
}

async function code() {
  const browser = new FormBrowser(gw.baseUrl);
  const url = `/authorize?${new URLSearchParams({ response_type: 'code', client_id: 'chatgpt', redirect_uri: CALLBACK, scope: 'todos:read', state: 's' })}`;
  const login = await browser.get(url);
  const signedIn = await signIn(browser, login, 'demo@example.com', gw.secrets.DEMO_PASSWORD);
  const consent = await browser.get(signedIn.headers.get('location'));
  const back = await decide(browser, consent);
  return new URL(back.headers.get('location')).searchParams.get('code');
}

const fifty = (fn) => Promise.all(Array.from({ length: 50 }, (_, i) => fn(i)));

describe('races, 50 at a time', () => {
  test('one code redeemed by 50 requests: exactly one token, and the replays revoke the grant', async () => {
    const c = await code();
    const results = await fifty((i) => tokenRequest({ grant_type: 'authorization_code', code: c, redirect_uri: CALLBACK }, i));
    const won = results.filter((r) => r.status === 200);
    assert.equal(won.length, 1, JSON.stringify(results.map((r) => r.status)));
    assert.ok(results.filter((r) => r.status !== 200).every((r) => r.status === 400 && r.body.error === 'invalid_grant'));
    const refresh = await tokenRequest({ grant_type: 'refresh_token', refresh_token: won[0].body.refresh_token }, 60);
    assert.equal(refresh.status, 400, 'a replayed code revokes the grant it made');
  });

  test('one refresh token presented by 50 requests: exactly one rotation, and the reuse revokes the grant', async () => {
    const first = await tokenRequest({ grant_type: 'authorization_code', code: await code(), redirect_uri: CALLBACK }, 70);
    assert.equal(first.status, 200);
    const results = await fifty((i) => tokenRequest({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token }, i + 100));
    const won = results.filter((r) => r.status === 200);
    assert.equal(won.length, 1, JSON.stringify(results.map((r) => r.status)));
    assert.ok(results.filter((r) => r.status !== 200).every((r) => r.body.error === 'invalid_grant'));
    const next = await tokenRequest({ grant_type: 'refresh_token', refresh_token: won[0].body.refresh_token }, 160);
    assert.equal(next.status, 400, 'presenting a rotated token revokes the family, the winner included');
  });

  test('a quota of 30 charged by 50 parallel calls: exactly 30 reach the origin', async () => {
    const token = await gw.token({ sub: 'usr_race', scope: 'todos:read' });
    await gw.clearOriginRequests();
    const statuses = await fifty((i) =>
      fetch(`${gw.baseUrl}/todos`, { headers: { authorization: `Bearer ${token}`, 'cf-connecting-ip': ip(i) } }).then((r) => r.status),
    );
    assert.equal(statuses.filter((s) => s === 200).length, QUOTA, statuses.join(','));
    assert.equal(statuses.filter((s) => s === 429).length, 50 - QUOTA);
    assert.equal((await gw.originRequests()).length, QUOTA);
  });

  test('50 parallel password guesses for one account from one address: exactly 5 are checked, all fail, the rest are refused', async () => {
    const browser = new FormBrowser(gw.baseUrl);
    const login = await browser.get(`/authorize?${new URLSearchParams({ response_type: 'code', client_id: 'chatgpt', redirect_uri: CALLBACK, state: 's' })}`);
    const fields = formFields(login.text_, '/login');
    const guesser = '198.51.100.200';
    const attempt = (password, from) =>
      browser
        .request('/login', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'cf-connecting-ip': from },
          body: new URLSearchParams({ ...fields, email: 'demo@example.com', password }).toString(),
        })
        .then((r) => r.status);
    const statuses = await fifty((i) => attempt(`guess-${i}`, guesser));
    const checked = statuses.filter((s) => s !== 429);
    assert.equal(checked.length, 5, `checked ${checked.length}: ${statuses.join(',')}`);
    assert.ok(checked.every((s) => s === 401), `every checked guess failed: ${statuses.join(',')}`);
    // The guessing address is refused, right password or not; the user, elsewhere, is not.
    assert.equal(await attempt(gw.secrets.DEMO_PASSWORD, guesser), 429);
    assert.equal(await attempt(gw.secrets.DEMO_PASSWORD, '198.51.100.201'), 303);
  });

  test('50 parallel password guesses for one account from 50 addresses: each is checked and fails, and the user still signs in, only later', async () => {
    const browser = new FormBrowser(gw.baseUrl);
    const login = await browser.get('/login');
    const fields = formFields(login.text_, '/login');
    const attempt = (password, from) =>
      browser
        .request('/login', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'cf-connecting-ip': from },
          body: new URLSearchParams({ ...fields, email: 'demo@example.com', password }).toString(),
        })
        .then((r) => r.status);
    const statuses = await fifty((i) => attempt(`guess-${i}`, `192.0.2.${i + 1}`));
    assert.deepEqual(statuses, Array(50).fill(401), 'none refused, none succeeded');
    // The account is now far past the attempts that go undelayed: the answer waits its bound (2 s).
    const started = performance.now();
    assert.equal(await attempt(gw.secrets.DEMO_PASSWORD, '192.0.2.200'), 200);
    assert.ok(performance.now() - started >= 1900, `answered after ${Math.round(performance.now() - started)} ms`);
  });
});

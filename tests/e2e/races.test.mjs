// Races, 50 at a time against real workerd: one code redeemed by 50 requests, one refresh token
// presented by 50, a quota charged by 50, a password guessed by 50. Each request comes from its
// own client address, so the per-IP rate limits are not what decides.
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

  test('50 parallel password guesses for one account: at most 5 are checked, the rest are refused', async () => {
    const browser = new FormBrowser(gw.baseUrl);
    const login = await browser.get(`/authorize?${new URLSearchParams({ response_type: 'code', client_id: 'chatgpt', redirect_uri: CALLBACK, state: 's' })}`);
    const fields = formFields(login.text_, '/login');
    const statuses = await fifty((i) =>
      browser
        .request('/login', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'cf-connecting-ip': ip(i) },
          body: new URLSearchParams({ ...fields, email: 'demo@example.com', password: `guess-${i}` }).toString(),
        })
        .then((r) => r.status),
    );
    const checked = statuses.filter((s) => s !== 429);
    assert.ok(checked.length <= 5, `checked ${checked.length}: ${statuses.join(',')}`);
    assert.ok(checked.every((s) => s === 401 || s === 400 || s === 200), statuses.join(','));
    // The right password is refused too while the account is throttled.
    const right = await signIn(browser, login, 'demo@example.com', gw.secrets.DEMO_PASSWORD);
    assert.equal(right.status, 429);
  });
});

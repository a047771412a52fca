// user_http: each user sends their own API key (made in the admin API or by the user on the
// account page, stored hashed in D1).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway } from './harness.mjs';
import { benchPlugin } from '../../scripts/bench-plugin.mjs';
import { closeBrowser, launchBrowser } from './chromium.mjs';

const plugin = {
  ...benchPlugin,
  auth: { type: 'user_http', authorization_type: 'bearer' },
  routes: [
    { path: '/todos', methods: ['GET'], scopes: ['todos:read'] },
    { path: '/todos', methods: ['POST'], scopes: ['todos:write'] },
    { path: '/public/*', access: 'public' },
  ],
};

let gw;
let key;
let browser;
before(async () => {
  [gw, browser] = await Promise.all([startGateway({ plugin, vars: { API_KEY_CACHE_SECS: '1' } }), launchBrowser()]);
  const res = await fetch(`${gw.baseUrl}/admin/api/api-keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${gw.secrets.ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ user_id: 'usr_demo', name: 'e2e', scopes: 'todos:read' }),
  });
  key = await res.json();
});
after(async () => {
  await closeBrowser(browser);
  await gw?.stop();
});

const call = (secret, init = {}) =>
  fetch(`${gw.baseUrl}/todos`, { ...init, headers: { ...(secret ? { authorization: `Bearer ${secret}` } : {}), ...(init.headers ?? {}) } });

describe('user_http API keys', () => {
  test('the manifest says user_http with bearer', async () => {
    const manifest = await (await fetch(`${gw.baseUrl}/.well-known/ai-plugin.json`)).json();
    assert.deepEqual(manifest.auth, { type: 'user_http', authorization_type: 'bearer' });
  });

  test('a live key passes as its user, and the origin never sees the key', async () => {
    await gw.clearOriginRequests();
    const res = await call(key.key);
    assert.equal(res.status, 200);
    const [seen] = await gw.originRequests();
    assert.equal(seen.headers['x-portcullis-user'], 'usr_demo');
    assert.equal(seen.headers['x-portcullis-auth'], 'user_http');
    assert.ok(!JSON.stringify(seen).includes(key.key));
  });

  test('a key without the route scope is 403, an unknown key 401, no key 401', async () => {
    const write = await call(key.key, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"title":"x"}' });
    assert.equal(write.status, 403);
    assert.equal((await call('pk_not-a-real-key')).status, 401);
    const none = await call(null);
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate'), /^Bearer realm="todo_demo"/);
  });

  test('use is recorded, without a write per request', async () => {
    for (let i = 0; i < 5; i++) await call(key.key);
    await new Promise((r) => setTimeout(r, 300));
    const list = await (await fetch(`${gw.baseUrl}/admin/api/api-keys?user_id=usr_demo`, { headers: { authorization: `Bearer ${gw.secrets.ADMIN_TOKEN}` } })).json();
    const mine = list.items.find((k) => k.id === key.id);
    assert.ok(mine.last_used_at > 0);
  });

  test('a revoked key stops working once the isolate cache (1 s here) expires', async () => {
    const res = await fetch(`${gw.baseUrl}/admin/api/api-keys/${key.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${gw.secrets.ADMIN_TOKEN}` } });
    assert.equal(res.status, 200);
    await new Promise((r) => setTimeout(r, 1200));
    await gw.clearOriginRequests();
    const refused = await call(key.key);
    assert.equal(refused.status, 401);
    assert.equal((await refused.json()).error_description, 'the API key was revoked');
    assert.deepEqual(await gw.originRequests(), []);
  });
});

describe("a user's own keys, made on the account page", () => {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  test('a user signs in, makes a key, calls the API with it; rotated and revoked, it is refused', async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    // Nothing of OAuth on a user_http plugin: only the portal's pages.
    assert.equal((await fetch(`${gw.baseUrl}/authorize`)).status, 404);
    await page.goto(`${gw.baseUrl}/account`);
    await page.fill('input[name=email]', 'demo@example.com');
    await page.fill('input[name=password]', gw.secrets.DEMO_PASSWORD);
    await page.click('form[action="/login"] button[type=submit]');
    await page.waitForSelector('text=Signed in as demo@example.com');

    await page.fill('.new-key-form input[name=name]', 'ChatGPT');
    const made = await Promise.all([page.waitForNavigation(), page.click('.new-key-form button')]).then(([r]) => r);
    assert.equal(made.status(), 200);
    assert.equal(new URL(page.url()).search, '', 'the key is in no URL');
    const mine = await page.inputValue('.new-key input.key');
    assert.match(mine, /^pk_[A-Za-z0-9_-]{43}$/);
    assert.match(await page.textContent('.new-key'), /shown only this once/);

    await gw.clearOriginRequests();
    const res = await call(mine);
    assert.equal(res.status, 200);
    const [seen] = await gw.originRequests();
    assert.equal(seen.headers['x-portcullis-user'], 'usr_demo');
    assert.ok(!JSON.stringify(seen).includes(mine));

    // The page again: the key by its prefix only.
    await page.goto(`${gw.baseUrl}/account`);
    assert.ok(!(await page.content()).includes(mine));
    const row = page.locator('li', { hasText: `${mine.slice(0, 12)}… ChatGPT` });
    await row.waitFor();

    // Rotated: the new key works, the old one is refused once the isolate's cache (1 s) ends.
    await Promise.all([page.waitForNavigation(), row.locator('button', { hasText: 'Rotate' }).click()]);
    const rotated = await page.inputValue('.new-key input.key');
    assert.notEqual(rotated, mine);
    await sleep(1200);
    assert.equal((await call(mine)).status, 401);
    assert.equal((await call(rotated)).status, 200);

    // Revoked: refused, and the origin hears nothing.
    await page.goto(`${gw.baseUrl}/account`);
    await Promise.all([
      page.waitForNavigation(),
      page.locator('li', { hasText: `${rotated.slice(0, 12)}… ChatGPT` }).locator('button', { hasText: 'Revoke' }).click(),
    ]);
    await sleep(1200);
    await gw.clearOriginRequests();
    const refused = await call(rotated);
    assert.equal(refused.status, 401);
    assert.equal((await refused.json()).error_description, 'the API key was revoked');
    assert.deepEqual(await gw.originRequests(), []);
    await context.close();
  });
});

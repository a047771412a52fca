// user_http: each user sends their own API key (made in the admin API, stored hashed in D1).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway } from './harness.mjs';
import { benchPlugin } from '../../scripts/bench-plugin.mjs';

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
before(async () => {
  gw = await startGateway({ plugin, vars: { API_KEY_CACHE_SECS: '1' } });
  const res = await fetch(`${gw.baseUrl}/admin/api/api-keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${gw.secrets.ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ user_id: 'usr_demo', name: 'e2e', scopes: 'todos:read' }),
  });
  key = await res.json();
});
after(async () => {
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

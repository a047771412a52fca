// Several plugins on one deployment, each on its own host: the Host header picks the plugin, each
// has its own manifest, issuer, resource and auth type, and a credential for one never opens
// another. wrangler dev passes the Host header through to the Worker's request URL, so one local
// gateway plays three custom domains.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { randomBytes } from 'node:crypto';
import { startGateway } from './harness.mjs';
import { FormBrowser, decide, signIn } from './browser.mjs';
import { benchPlugin } from '../../scripts/bench-plugin.mjs';

const WEATHER_TOKEN = randomBytes(24).toString('base64url');

const plugins = ({ port }) => [
  // The seeded demo: its resource is the seeded default one.
  { ...benchPlugin, hosts: [`127.0.0.1:${port}`], public_base_url: `http://127.0.0.1:${port}` },
  {
    ...benchPlugin,
    name_for_human: 'Weather',
    name_for_model: 'weather',
    hosts: ['weather.example'],
    auth: { type: 'service_http', authorization_type: 'bearer', verification_token: 'openai-weather-proof' },
    service_token_secret: 'WEATHER_TOKEN',
    // The demo origin's /public/* needs no user: here the whole tree needs the service secret.
    routes: [{ path: '/public/*' }],
  },
  {
    ...benchPlugin,
    name_for_human: 'Notes',
    name_for_model: 'notes',
    hosts: ['notes.example', 'notes.example:8443'],
    auth: { type: 'oauth', scope: 'todos:read' },
  },
  // Two plugins that take users' API keys: a key issued at one must not open the other.
  ...['keys_a', 'keys_b'].map((name) => ({
    ...benchPlugin,
    name_for_human: name,
    name_for_model: name,
    hosts: [`${name.replace('_', '-')}.example`],
    auth: { type: 'user_http', authorization_type: 'bearer' },
    quota: { limit: 5, period_secs: 3600 },
    routes: [{ path: '/todos', methods: ['GET'], scopes: ['todos:read'] }],
  })),
];

let gw;
before(async () => {
  gw = await startGateway({ plugins, vars: { WEATHER_TOKEN } });
});
after(async () => {
  await gw?.stop();
});

/** A request to the gateway addressed to `host` (fetch cannot set Host). */
function call(host, path, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: gw.port, path, method, headers: { ...headers, host } }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body, json: () => JSON.parse(body) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const bearer = (token) => ({ authorization: `Bearer ${token}` });

describe('several plugins on one deployment', () => {
  test('each host serves its own manifest, issuer and resource metadata', async () => {
    const local = `127.0.0.1:${gw.port}`;
    const todo = (await call(local, '/.well-known/ai-plugin.json')).json();
    assert.equal(todo.name_for_model, 'todo_demo');
    assert.equal(todo.auth.type, 'oauth');
    assert.equal(todo.auth.client_url, `http://${local}/authorize`);

    const weather = (await call('weather.example', '/.well-known/ai-plugin.json')).json();
    assert.equal(weather.name_for_model, 'weather');
    assert.deepEqual(weather.auth, {
      type: 'service_http',
      authorization_type: 'bearer',
      verification_tokens: { openai: 'openai-weather-proof' },
    });
    assert.equal(weather.api.url, 'https://weather.example/openapi.json');

    const notes = (await call('NOTES.example:8443', '/.well-known/ai-plugin.json')).json();
    assert.equal(notes.name_for_model, 'notes');
    assert.equal(notes.auth.authorization_url, 'https://notes.example/token');
    const server = (await call('notes.example', '/.well-known/oauth-authorization-server')).json();
    assert.equal(server.issuer, 'https://notes.example');
    const resource = (await call('notes.example', '/.well-known/oauth-protected-resource')).json();
    assert.equal(resource.resource, 'https://notes.example');
    assert.deepEqual(resource.authorization_servers, ['https://notes.example']);
    // No secret of any plugin in any public document.
    for (const doc of [todo, weather, notes, server, resource]) {
      assert.ok(!JSON.stringify(doc).includes(WEATHER_TOKEN));
    }
  });

  test('a host no plugin serves gets 421 and reaches nothing', async () => {
    await gw.clearOriginRequests();
    const res = await call('unknown.example', '/public/hello');
    assert.equal(res.status, 421);
    assert.equal(res.json().error, 'misdirected_request');
    assert.deepEqual(await gw.originRequests(), []);
  });

  test('the service_http plugin takes its own secret only', async () => {
    await gw.clearOriginRequests();
    const ok = await call('weather.example', '/public/hello', { headers: bearer(WEATHER_TOKEN) });
    assert.equal(ok.status, 200, ok.body);
    const [seen] = await gw.originRequests();
    assert.equal(seen.headers['x-portcullis-auth'], 'service_http');
    assert.equal(seen.headers.authorization, undefined);
    assert.ok(!JSON.stringify(seen).includes(WEATHER_TOKEN));

    await gw.clearOriginRequests();
    const wrong = await call('weather.example', '/public/hello', { headers: bearer(`${WEATHER_TOKEN}x`) });
    assert.equal(wrong.status, 401);
    const none = await call('weather.example', '/public/hello');
    assert.equal(none.status, 401);
    // The weather secret is nothing on the OAuth plugins.
    const elsewhere = await call('notes.example', '/todos', { headers: bearer(WEATHER_TOKEN) });
    assert.equal(elsewhere.status, 401);
    assert.deepEqual(await gw.originRequests(), []);
  });

  test("a token for one plugin is refused by another, and the origin never sees it", async () => {
    const notesToken = await gw.token({ issuer: 'https://notes.example', audience: 'https://notes.example', scope: 'todos:read' });
    const todoToken = await gw.token({ scope: 'todos:read' });
    await gw.clearOriginRequests();
    assert.equal((await call('notes.example', '/todos', { headers: bearer(notesToken) })).status, 200);
    assert.equal((await call(`127.0.0.1:${gw.port}`, '/todos', { headers: bearer(todoToken) })).status, 200);
    assert.equal((await gw.originRequests()).length, 2);

    await gw.clearOriginRequests();
    const crossed = await call('notes.example', '/todos', { headers: bearer(todoToken) });
    assert.equal(crossed.status, 401);
    assert.match(crossed.headers['www-authenticate'], /error="invalid_token"/);
    // The plugin's own metadata (https). wrangler dev's proxy rewrites every URL of the request's
    // host in response headers to the URL it was called on (http), so either scheme is its.
    assert.match(crossed.headers['www-authenticate'], /resource_metadata="https?:\/\/notes\.example\/\.well-known\/oauth-protected-resource"/);
    const back = await call(`127.0.0.1:${gw.port}`, '/todos', { headers: bearer(notesToken) });
    assert.equal(back.status, 401);
    const asService = await call('weather.example', '/public/hello', { headers: bearer(todoToken) });
    assert.equal(asService.status, 401);
    assert.deepEqual(await gw.originRequests(), []);
  });

  test('an API key issued at one user_http plugin is refused at another, cached or not, and costs no quota there', async () => {
    const issued = await call('keys-a.example', '/admin/api/api-keys', {
      method: 'POST',
      headers: { ...bearer(gw.secrets.ADMIN_TOKEN), 'content-type': 'application/json' },
      body: JSON.stringify({ user_id: 'usr_demo', name: 'a', scopes: 'todos:read' }),
    });
    assert.equal(issued.status, 201, issued.body);
    const key = issued.json();
    assert.equal(key.plugin, 'keys_a');
    const remaining = (res) => Number(/remaining=(\d+)/.exec(res.headers.ratelimit ?? '')?.[1]);
    await gw.clearOriginRequests();
    // Twice at A: the second is served from the isolate's cache.
    const seen = [];
    for (let i = 0; i < 2; i++) {
      const ok = await call('keys-a.example', '/todos', { headers: bearer(key.key) });
      assert.equal(ok.status, 200, ok.body);
      seen.push(remaining(ok));
    }
    assert.equal(seen[1], seen[0] - 1);
    assert.equal((await gw.originRequests()).length, 2);
    await gw.clearOriginRequests();
    for (let i = 0; i < 2; i++) {
      const crossed = await call('keys-b.example', '/todos', { headers: bearer(key.key) });
      assert.equal(crossed.status, 401);
      assert.match(crossed.headers['www-authenticate'], /^Bearer realm="keys_b".*error="invalid_token"/);
      assert.equal(crossed.json().error, 'invalid_token');
      assert.equal(crossed.headers.ratelimit, undefined, 'a refusal is charged no quota');
    }
    assert.deepEqual(await gw.originRequests(), []);
    // The user's calls at A: one more than before, whatever was refused at B.
    const again = await call('keys-a.example', '/todos', { headers: bearer(key.key) });
    assert.equal(remaining(again), seen[1] - 1);
  });

  test("a code and a refresh token issued by one plugin are invalid_grant at another's token endpoint", async () => {
    const callback = 'https://chatgpt.com/aip/plugin-todo-demo/oauth/callback';
    const browser = new FormBrowser(gw.baseUrl);
    const query = new URLSearchParams({ response_type: 'code', client_id: 'chatgpt', redirect_uri: callback, state: 's', scope: 'todos:read' });
    const login = await browser.get(`/authorize?${query}`);
    const signedIn = await signIn(browser, login, 'demo@example.com', gw.secrets.DEMO_PASSWORD);
    const back = await decide(browser, await browser.get(signedIn.headers.get('location')));
    const code = new URL(back.headers.get('location')).searchParams.get('code');
    const token = (host, params) =>
      call(host, '/token', {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`chatgpt:${gw.secrets.DEMO_CLIENT_SECRET}`).toString('base64')}`,
        },
        body: new URLSearchParams(params).toString(),
      });
    const redeem = { grant_type: 'authorization_code', code, redirect_uri: callback };
    const crossed = await token('notes.example', redeem);
    assert.equal(crossed.status, 400, crossed.body);
    assert.equal(crossed.json().error, 'invalid_grant');
    const own = await token(`127.0.0.1:${gw.port}`, redeem);
    assert.equal(own.status, 200, `the refused attempt left the code redeemable: ${own.body}`);
    const refresh = { grant_type: 'refresh_token', refresh_token: own.json().refresh_token };
    assert.equal((await token('notes.example', refresh)).json().error, 'invalid_grant');
    assert.equal((await token(`127.0.0.1:${gw.port}`, refresh)).status, 200);
  });

  test('each request is logged under the plugin that served it', async () => {
    await call('weather.example', '/public/hello', { headers: bearer(WEATHER_TOKEN) });
    const lines = gw
      .logs()
      .split('\n')
      .filter((l) => l.startsWith('{"'))
      .map((l) => JSON.parse(l));
    assert.ok(lines.some((l) => l.plugin === 'weather' && l.route === 'proxy' && l.status === 200));
    assert.ok(lines.some((l) => l.plugin === 'notes'));
  });
});

// The first slice end to end, in workerd with real local D1 and Durable Objects: discovery
// documents, health, the protected route's refusals and the forward to the origin.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { startGateway } from './harness.mjs';

let gw;
before(async () => {
  gw = await startGateway();
});
after(async () => {
  await gw?.stop();
});

const get = (path, init) => fetch(`${gw.baseUrl}${path}`, init);
const bearer = (token) => ({ headers: { authorization: `Bearer ${token}` } });

describe('discovery', () => {
  test('the plugin manifest is built from config and points at our endpoints', async () => {
    const res = await get('/.well-known/ai-plugin.json');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /application\/json/);
    const manifest = await res.json();
    assert.equal(manifest.schema_version, 'v1');
    assert.equal(manifest.name_for_model, 'todo_demo');
    assert.equal(manifest.auth.type, 'oauth');
    assert.equal(manifest.auth.client_url, `${gw.baseUrl}/authorize`);
    assert.equal(manifest.auth.authorization_url, `${gw.baseUrl}/token`);
    assert.equal(manifest.api.url, `${gw.baseUrl}/openapi.json`);
    assert.equal(manifest.logo_url, `${gw.baseUrl}/logo.svg`);
  });

  test('no secret appears in any public document', async () => {
    const bodies = await Promise.all(
      ['/.well-known/ai-plugin.json', '/.well-known/jwks.json', '/openapi.json', '/.well-known/oauth-protected-resource', '/healthz'].map(
        async (p) => (await get(p)).text(),
      ),
    );
    for (const secret of Object.values(gw.secrets)) {
      for (const body of bodies) assert.ok(!body.includes(secret), 'a secret leaked into a public response');
    }
  });

  test('the OpenAPI document is served with servers pointing at the gateway', async () => {
    const doc = await (await get('/openapi.json')).json();
    assert.equal(doc.openapi, '3.1.0');
    assert.deepEqual(doc.servers, [{ url: gw.baseUrl }]);
  });

  test('the logo is served from static/', async () => {
    const res = await get('/logo.svg');
    assert.equal(res.status, 200);
    assert.match(await res.text(), /<svg/);
  });

  test('the protected-resource metadata names the resource and the issuer', async () => {
    const doc = await (await get('/.well-known/oauth-protected-resource')).json();
    assert.equal(doc.resource, gw.baseUrl);
    assert.deepEqual(doc.authorization_servers, [gw.baseUrl]);
    assert.deepEqual(doc.scopes_supported, ['todos:read', 'todos:write']);
  });
});

describe('health', () => {
  test('healthz reports D1 migrated and Durable Objects answering', async () => {
    const res = await get('/healthz');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok', d1: 'ok', durable_objects: 'ok' });
  });
});

describe('the protected route', () => {
  test('without a token: 401 with an RFC 6750 challenge, and the origin sees nothing', async () => {
    await gw.clearOriginRequests();
    const res = await get('/todos');
    assert.equal(res.status, 401);
    const challenge = res.headers.get('www-authenticate');
    assert.match(challenge, /^Bearer realm="todo_demo"/);
    assert.ok(challenge.includes(`resource_metadata="${gw.baseUrl}/.well-known/oauth-protected-resource"`));
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal((await res.json()).error, 'unauthorized');
    assert.deepEqual(await gw.originRequests(), []);
  });

  test('first-seen tokens are verified by WebCrypto; a bad signature is still refused', async () => {
    for (let i = 0; i < 3; i++) {
      const token = await gw.token({ sub: `usr_webcrypto_${i}` });
      assert.equal((await get('/todos', bearer(token))).status, 200);
      // The same token again: served from the isolate's cache of verified tokens.
      assert.equal((await get('/todos', bearer(token))).status, 200);
    }
    const token = await gw.token({ sub: 'usr_forged' });
    const [header, payload, signature] = token.split('.');
    const flipped = `${signature.slice(0, 10)}${signature[10] === 'A' ? 'B' : 'A'}${signature.slice(11)}`;
    const forged = await get('/todos', bearer(`${header}.${payload}.${flipped}`));
    assert.equal(forged.status, 401);
    assert.match(forged.headers.get('www-authenticate'), /signature is invalid/);
    assert.ok(!gw.logs().includes('webcrypto_ed25519_unavailable'), 'WebCrypto verified the new tokens');
  });

  test('with a valid token: forwarded with the verified identity and without the token', async () => {
    await gw.clearOriginRequests();
    const token = await gw.token({ sub: 'usr_forward' });
    const res = await get('/todos?limit=5', bearer(token));
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), []);
    const [seen] = await gw.originRequests();
    assert.equal(seen.path, '/todos?limit=5');
    assert.equal(seen.headers['x-portcullis-user'], 'usr_forward');
    assert.equal(seen.headers['x-portcullis-scopes'], 'todos:read todos:write');
    assert.equal(seen.headers['x-portcullis-client'], 'dev-cli');
    assert.equal(seen.headers.authorization, undefined);
    assert.ok(!JSON.stringify(seen).includes(token));
    assert.match(seen.headers['x-request-id'], /^[0-9a-f]{32}$/);
    assert.equal(res.headers.get('x-request-id'), seen.headers['x-request-id']);
  });

  test('the origin gets an assertion it can verify with the JWKS, and a per-request signature', async () => {
    await gw.clearOriginRequests();
    const token = await gw.token({ sub: 'usr_asserted', scope: 'todos:read' });
    await get('/todos?page=2', { headers: { authorization: `Bearer ${token}`, 'x-portcullis-assertion': 'forged' } });
    const [seen] = await gw.originRequests();
    const jwks = createRemoteJWKSet(new URL(`${gw.baseUrl}/.well-known/jwks.json`));
    const { payload } = await jwtVerify(seen.headers['x-portcullis-assertion'], jwks, {
      issuer: gw.baseUrl,
      audience: gw.originUrl,
      typ: 'portcullis-assertion+jwt',
    });
    assert.equal(payload.sub, 'usr_asserted');
    assert.equal(payload.scope, 'todos:read');
    assert.ok(payload.exp - payload.iat <= 60);
    // Bound to its call: the method and the origin URL without the query.
    assert.equal(payload.htm, 'GET');
    assert.equal(payload.htu, `${gw.originUrl.replace(/\/$/, '')}/todos`);
    // Signed by workerd's native Ed25519, not the wasm fallback.
    assert.ok(!gw.logs().includes('webcrypto_ed25519_signing_unavailable'), 'WebCrypto signed the assertion');
    const { createHmac } = await import('node:crypto');
    const [, t, v1] = seen.headers['x-portcullis-signature'].match(/^t=(\d+), v1=([0-9a-f]{64})$/);
    const expected = createHmac('sha256', gw.secrets.ORIGIN_SECRET)
      .update(`${t}\nGET\n/todos?page=2\n${seen.headers['x-request-id']}\nusr_asserted`)
      .digest('hex');
    assert.equal(v1, expected);
  });

  test('a write round-trips through the gateway', async () => {
    const token = await gw.token({ sub: 'usr_writer' });
    const created = await fetch(`${gw.baseUrl}/todos`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'buy milk' }),
    });
    assert.equal(created.status, 201);
    const todo = await created.json();
    const listed = await (await get('/todos', bearer(token))).json();
    assert.deepEqual(listed, [todo]);
  });

  test('a caller cannot forge the identity headers', async () => {
    await gw.clearOriginRequests();
    const token = await gw.token({ sub: 'usr_honest' });
    await get('/todos', { headers: { authorization: `Bearer ${token}`, 'x-portcullis-user': 'usr_admin' } });
    const [seen] = await gw.originRequests();
    assert.equal(seen.headers['x-portcullis-user'], 'usr_honest');
  });

  test('an expired token: 401 invalid_token', async () => {
    const token = await gw.token({ now: Math.floor(Date.now() / 1000) - 7200, ttl: 60 });
    const res = await get('/todos', bearer(token));
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate'), /error="invalid_token"/);
    assert.equal((await res.json()).error_description, 'the access token expired');
  });

  test('a token for another resource: 401 invalid_token', async () => {
    const token = await gw.token({ audience: 'https://other.example.com' });
    const res = await get('/todos', bearer(token));
    assert.equal(res.status, 401);
    assert.equal((await res.json()).error_description, 'the access token is for another resource');
  });

  test('a token signed by another key: 401', async () => {
    const other = (await import('../../scripts/lib.mjs')).generateSecrets().SIGNING_KEY;
    const { mintAccessToken } = await import('../../scripts/commands/mint-token.mjs');
    const token = await mintAccessToken({ seed: other, issuer: gw.baseUrl, audience: gw.baseUrl, sub: 'x', scope: 'todos:read' });
    const res = await get('/todos', bearer(token));
    assert.equal(res.status, 401);
    assert.equal((await res.json()).error_description, 'the access token was signed by an unknown key');
  });

  test('a token without the route scope: 403 insufficient_scope naming it', async () => {
    await gw.clearOriginRequests();
    const token = await gw.token({ scope: 'todos:read' });
    const res = await fetch(`${gw.baseUrl}/todos`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{"title":"x"}',
    });
    assert.equal(res.status, 403);
    assert.match(res.headers.get('www-authenticate'), /error="insufficient_scope".*scope="todos:write"/);
    assert.deepEqual(await gw.originRequests(), []);
  });

  test('public routes pass without a token', async () => {
    const res = await get('/public/hello');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { hello: 'world' });
  });

  test('a body over the route cap: 413, origin untouched', async () => {
    await gw.clearOriginRequests();
    const token = await gw.token();
    const res = await fetch(`${gw.baseUrl}/todos`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'x'.repeat(20000) }),
    });
    assert.equal(res.status, 413);
    assert.deepEqual(await gw.originRequests(), []);
  });

  test('server-sent events stream through unbuffered', async () => {
    const started = Date.now();
    const res = await get('/public/stream');
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    const reader = res.body.getReader();
    const first = await reader.read();
    const firstAt = Date.now() - started;
    assert.match(new TextDecoder().decode(first.value), /data: 0/);
    let rest = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    assert.match(rest, /data: 2/);
    // The origin takes 600 ms in all; the first event must arrive before the last is sent.
    assert.ok(firstAt < 550, `first event after ${firstAt} ms: the stream was buffered`);
  });
});

describe('what comes back from the origin', () => {
  test('the origin cannot set the portal cookies nor clear them; other cookies pass', async () => {
    const res = await get('/public/cookies');
    const cookies = res.headers.getSetCookie();
    assert.deepEqual(cookies.map((c) => c.split('=')[0]), ['theme']);
    assert.equal(res.headers.get('clear-site-data'), null);
  });

  test('proxied responses are sandboxed and never sniffed', async () => {
    const res = await get('/public/hello');
    assert.equal(res.headers.get('content-security-policy'), 'sandbox');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  });

  test('origin redirects to its own URL are rewritten to the gateway', async () => {
    const res = await get('/public/moved', { redirect: 'manual' });
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), `${gw.baseUrl}/public/hello`);
  });
});

describe('tokens verify with a third-party JOSE library against our JWKS', () => {
  test('jose verifies a gateway-signed token with /.well-known/jwks.json', async () => {
    const jwks = createRemoteJWKSet(new URL(`${gw.baseUrl}/.well-known/jwks.json`));
    const token = await gw.token();
    const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: gw.baseUrl, audience: gw.baseUrl, typ: 'at+jwt' });
    assert.equal(protectedHeader.alg, 'EdDSA');
    assert.equal(payload.sub, 'usr_demo');
  });
});

describe('bad input', () => {
  test('unknown routes: 404 JSON', async () => {
    const res = await get('/nope');
    assert.equal(res.status, 404);
    assert.equal((await res.json()).error, 'not_found');
  });

  test('unsupported methods: 405 with Allow', async () => {
    const res = await fetch(`${gw.baseUrl}/.well-known/ai-plugin.json`, { method: 'DELETE' });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'GET, HEAD');
    const put = await fetch(`${gw.baseUrl}/todos`, { method: 'PUT' });
    assert.equal(put.status, 405);
    assert.equal(put.headers.get('allow'), 'GET, HEAD, POST');
  });

  test('encoded traversal: 400, origin untouched', async () => {
    await gw.clearOriginRequests();
    for (const path of ['/todos%2f1', '/public/%2e%2e%2ftodos', '/public/a%5cb', '/public/%00']) {
      const res = await get(path);
      assert.equal(res.status, 400, path);
      assert.equal((await res.json()).error, 'invalid_request');
    }
    assert.deepEqual(await gw.originRequests(), []);
  });

  test('a trailing slash matches the rule without it', async () => {
    const res = await get('/todos/', bearer(await gw.token()));
    assert.equal(res.status, 200);
  });

  test('semicolons and method or path override headers never reach the origin', async () => {
    await gw.clearOriginRequests();
    assert.equal((await get('/public;x/hello')).status, 400);
    await get('/public/hello', { headers: { 'x-http-method-override': 'DELETE', 'x-original-url': '/todos' } });
    const [seen] = await gw.originRequests();
    assert.equal(seen.headers['x-http-method-override'], undefined);
    assert.equal(seen.headers['x-original-url'], undefined);
  });

  test('a POST whose body names another method by _method: 400, origin untouched', async () => {
    // Laravel, Symfony, Rails and Express's method-override would run these as a DELETE under
    // the rule checked for POST.
    await gw.clearOriginRequests();
    const authorization = `Bearer ${await gw.token()}`;
    const form = new FormData();
    form.append('title', 'x');
    form.append('_method', 'DELETE');
    const bodies = [
      ['form', { 'content-type': 'application/x-www-form-urlencoded' }, 'title=x&%5Fmethod=DELETE'],
      ['JSON', { 'content-type': 'application/json' }, '{"title":"x","_method":"delete"}'],
      ['multipart', {}, form],
      ['no content type', {}, new TextEncoder().encode('title=x&.method=PUT')],
    ];
    for (const [kind, headers, body] of bodies) {
      const res = await fetch(`${gw.baseUrl}/todos`, { method: 'POST', headers: { authorization, ...headers }, body });
      assert.equal(res.status, 400, kind);
      const error = await res.json();
      assert.equal(error.error, 'invalid_request', kind);
      assert.match(error.error_description, /_method in the body/, kind);
    }
    assert.deepEqual(await gw.originRequests(), []);
    // A body the gateway read reaches the origin as it was sent.
    const created = await fetch(`${gw.baseUrl}/todos`, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json' },
      body: '{"title":"caf\u00e9 _method","_method":"POST"}',
    });
    assert.equal(created.status, 201);
    assert.equal((await created.json()).title, 'café _method');
  });

  test('a streamed body without a length on a capped route: 411, origin untouched', async () => {
    await gw.clearOriginRequests();
    const body = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode('{"title":"streamed"}'));
        c.close();
      },
    });
    const res = await fetch(`${gw.baseUrl}/todos`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await gw.token()}`, 'content-type': 'application/json' },
      body,
      duplex: 'half',
    });
    assert.equal(res.status, 411);
    assert.deepEqual(await gw.originRequests(), []);
  });

  test('two bearer tokens: refused', async () => {
    const token = await gw.token();
    const res = await get('/todos', { headers: [['authorization', `Bearer ${token}`], ['authorization', `Bearer ${token}`]] });
    assert.ok([400, 401].includes(res.status));
  });

  test('garbage to every route never gets a 5xx', async () => {
    const paths = [
      '/', '/healthz', '/.well-known/ai-plugin.json', '/.well-known/jwks.json', '/openapi.json', '/logo.svg',
      '/todos', '/todos/1', '/public/hello', '/.well-known/oauth-protected-resource', '/%', '/%ff', '/a'.repeat(500),
      '/authorize', '/authorize?client_id=chatgpt&response_type=code&state=%ff%fe', '/authorize?client_id=%00&redirect_uri=javascript:alert(1)',
      '/login', '/logout', '/token', '/revoke', '/introspect', '/userinfo', '/.well-known/oauth-authorization-server',
      '/.well-known/openid-configuration', '/portal/portal.css',
    ];
    const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'];
    const headerSets = [
      {},
      { authorization: 'Bearer' },
      { authorization: 'Bearer a.b.c' },
      { authorization: 'Bearer eyJhbGciOiJub25lIn0.e30.' },
      { authorization: `Bearer ${'x'.repeat(9000)}` },
      { authorization: 'Basic !!!' },
      { 'content-type': 'application/json', 'content-length': 'abc' },
      { 'content-type': 'application/json' },
      { 'content-type': 'application/x-www-form-urlencoded', cookie: 'portcullis_session=a.b; portcullis_csrf=%%%' },
      { 'content-type': 'multipart/form-data; boundary=x' },
    ];
    const failures = [];
    for (const path of paths) {
      for (const method of methods) {
        for (const headers of headerSets) {
          let res;
          try {
            res = await fetch(`${gw.baseUrl}${path}`, { method, headers, body: ['GET', 'HEAD'].includes(method) ? undefined : '\u0000{"garbage'});
          } catch {
            continue; // the client itself refused to send it (e.g. a bad content-length)
          }
          await res.arrayBuffer();
          if (res.status >= 500) failures.push(`${method} ${path.slice(0, 40)} ${JSON.stringify(headers).slice(0, 60)} → ${res.status}`);
        }
      }
    }
    assert.deepEqual(failures, []);
  });
});

describe('quotas in a Durable Object', () => {
  test('responses carry RateLimit headers, and calls the origin marks exempt do not count', async () => {
    const token = await gw.token({ sub: 'usr_metered' });
    const first = await get('/todos', bearer(token));
    assert.equal(first.headers.get('ratelimit'), 'limit=1000, remaining=999, reset=' + first.headers.get('ratelimit').split('reset=')[1]);
    const missing = await get('/todos/no-such-todo', bearer(token));
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get('x-portcullis-quota'), null, 'the gateway consumes the hint');
    await new Promise((r) => setTimeout(r, 200));
    const next = await get('/todos', bearer(token));
    assert.match(next.headers.get('ratelimit'), /remaining=998,/);
  });

  test('the configured per-user quota is counted exactly, then 429 with Retry-After', async () => {
    // The default config allows 1000 calls per hour per user; spend them for one user.
    const token = await gw.token({ sub: 'usr_quota' });
    const batch = 50;
    let ok = 0;
    for (let sent = 0; sent < 1000; sent += batch) {
      const statuses = await Promise.all(
        Array.from({ length: batch }, () => get('/todos', bearer(token)).then(async (r) => (await r.arrayBuffer(), r.status))),
      );
      ok += statuses.filter((s) => s === 200).length;
    }
    assert.equal(ok, 1000);
    const refused = await get('/todos', bearer(token));
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get('retry-after')) > 0);
    assert.equal(refused.headers.get('ratelimit-policy'), '1000;w=3600');
    // Another user is unaffected.
    const other = await get('/todos', bearer(await gw.token({ sub: 'usr_other' })));
    assert.equal(other.status, 200);
  });
});

describe('request logging', () => {
  let quiet;
  before(async () => {
    quiet = await startGateway({ vars: { REQUEST_LOG_SAMPLE_RATE: '0' } });
  });
  after(async () => {
    await quiet?.stop();
  });

  test('refusals and errors always write a line; successes only as sampled', async () => {
    const served = await fetch(`${quiet.baseUrl}/public/hello`);
    assert.equal(served.status, 200);
    const refused = await fetch(`${quiet.baseUrl}/todos`);
    assert.equal(refused.status, 401);
    const lines = () =>
      quiet
        .logs()
        .split('\n')
        .filter((l) => l.startsWith('{"request_id"'))
        .map((l) => JSON.parse(l));
    // The lines come through wrangler's output a moment after the answers.
    for (let i = 0; i < 50 && !lines().some((l) => l.status === 401); i++) await new Promise((r) => setTimeout(r, 100));
    const logged = lines();
    assert.ok(
      logged.some((l) => l.request_id === refused.headers.get('x-request-id') && l.route === 'proxy' && l.decision === 'unauthorized'),
      JSON.stringify(logged),
    );
    assert.ok(!logged.some((l) => l.request_id === served.headers.get('x-request-id')), 'no line for the success at rate 0');
  });
});

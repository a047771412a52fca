// The attack suite (RFC 9700, OAuth 2.0 Security BCP, and the gateway's own surface): one test
// per attack against one gateway in workerd, each asserting the exact refusal and that nothing
// reached the origin, changed, or leaked. Races (and parallel password guessing) are in
// races.test.mjs, X-Forwarded-For against the IP allowlist in egress.test.mjs, a token for another
// plugin in multi-plugin.test.mjs, refresh reuse and scope escalation in oauth.test.mjs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { request } from 'node:http';
import { startGateway } from './harness.mjs';
import { FormBrowser, decide, formFields, signIn } from './browser.mjs';
import { benchPlugin } from '../../scripts/bench-plugin.mjs';

const CALLBACK = 'https://chatgpt.com/aip/plugin-todo-demo/oauth/callback';

let gw;
before(async () => {
  gw = await startGateway();
});
after(async () => {
  await gw?.stop();
});

const authorizeUrl = (params) =>
  `${gw.baseUrl}/authorize?${new URLSearchParams({ response_type: 'code', client_id: 'chatgpt', redirect_uri: CALLBACK, state: 'st', scope: 'todos:read', ...params })}`;
const b64url = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const bearer = (token) => ({ authorization: `Bearer ${token}` });
const basic = (id, secret) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

/** A signed-in browser on the consent page (asked for, whatever was allowed before). */
async function signedInBrowser() {
  const browser = new FormBrowser(gw.baseUrl);
  const login = await browser.get(authorizeUrl({ prompt: 'consent' }));
  const signedIn = await signIn(browser, login, 'demo@example.com', gw.secrets.DEMO_PASSWORD);
  assert.equal(signedIn.status, 303);
  return { browser, consent: await browser.get(signedIn.headers.get('location')) };
}

async function codeFor(params = {}) {
  const browser = new FormBrowser(gw.baseUrl);
  const login = await browser.get(authorizeUrl(params));
  const signedIn = await signIn(browser, login, 'demo@example.com', gw.secrets.DEMO_PASSWORD);
  const consent = await browser.get(signedIn.headers.get('location'));
  const back = await decide(browser, consent);
  return new URL(back.headers.get('location')).searchParams.get('code');
}

function exchange(body, authorization = basic('chatgpt', gw.secrets.DEMO_CLIENT_SECRET)) {
  return fetch(`${gw.baseUrl}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authorization ? { authorization } : {}) },
    body: new URLSearchParams(body),
  }).then(async (r) => ({ status: r.status, body: await r.json() }));
}

async function refusedAtProxy(token, why) {
  await gw.clearOriginRequests();
  const res = await fetch(`${gw.baseUrl}/todos`, { headers: bearer(token) });
  assert.equal(res.status, 401, why);
  assert.match(res.headers.get('www-authenticate'), /error="invalid_token"/, why);
  assert.deepEqual(await gw.originRequests(), [], `${why}: the origin saw nothing`);
  return res.headers.get('www-authenticate');
}

describe('redirect URI and open-redirect attacks', () => {
  for (const [name, uri] of [
    ['prefix', 'https://chatgpt.com/aip/plugin-todo-demo/oauth/callback/../../evil'],
    ['suffix', `${CALLBACK}.evil.example`],
    ['extra path', `${CALLBACK}/more`],
    ['case', CALLBACK.replace('chatgpt.com', 'ChatGPT.com')],
    ['userinfo', CALLBACK.replace('https://', 'https://chatgpt.com@')],
    ['encoded', CALLBACK.replace('/oauth/', '%2Foauth%2F')],
    ['extra port', CALLBACK.replace('chatgpt.com', 'chatgpt.com:8443')],
    ['fragment', `${CALLBACK}#x`],
    ['another host', 'https://attacker.example/callback'],
  ]) {
    test(`a tampered redirect URI (${name}) gets a local error page and no redirect`, async () => {
      const res = await fetch(authorizeUrl({ redirect_uri: uri }), { redirect: 'manual' });
      assert.equal(res.status, 400);
      assert.equal(res.headers.get('location'), null);
      assert.match(res.headers.get('content-type'), /text\/html/);
    });
  }

  test('errors before the client is trusted never redirect, whatever the redirect_uri', async () => {
    for (const params of [{ client_id: 'no-such-client', redirect_uri: 'https://attacker.example/cb' }, { client_id: '', redirect_uri: 'https://attacker.example/cb' }, { response_type: 'token', redirect_uri: 'https://attacker.example/cb' }]) {
      const res = await fetch(authorizeUrl(params), { redirect: 'manual' });
      assert.equal(res.status, 400, JSON.stringify(params));
      assert.equal(res.headers.get('location'), null);
    }
  });

  test('errors after the client is trusted go only to the registered URI, with state and iss', async () => {
    const res = await fetch(authorizeUrl({ response_type: 'token' }), { redirect: 'manual' });
    assert.equal(res.status, 302);
    const location = new URL(res.headers.get('location'));
    assert.equal(`${location.origin}${location.pathname}`, CALLBACK);
    assert.equal(location.searchParams.get('error'), 'unsupported_response_type');
    assert.equal(location.searchParams.get('iss'), gw.baseUrl);
  });
});

describe('code and PKCE attacks', () => {
  test('a code used by another client is invalid_grant and burns it', async () => {
    const code = await codeFor();
    const other = await exchange({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, client_id: 'portcullis-cli' }, null);
    assert.equal(other.status, 400);
    assert.equal(other.body.error, 'invalid_grant');
    const owner = await exchange({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK });
    assert.equal(owner.status, 400, 'the code was burned by the misuse');
  });

  test('a verifier without a challenge (PKCE downgrade) is invalid_grant', async () => {
    const code = await codeFor();
    const res = await exchange({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: 'a'.repeat(43) });
    assert.equal(res.status, 400);
    assert.match(res.body.error_description, /no code_challenge/);
  });

  test('a wrong verifier is invalid_grant; plain PKCE is refused at authorize', async () => {
    const code = await codeFor({ code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' });
    const res = await exchange({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: 'b'.repeat(43) });
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'invalid_grant');
    const plain = await fetch(authorizeUrl({ code_challenge: 'x'.repeat(43), code_challenge_method: 'plain' }), { redirect: 'manual' });
    assert.equal(new URL(plain.headers.get('location')).searchParams.get('error'), 'invalid_request');
  });
});

describe('forged and misused access tokens', () => {
  test('alg: none is refused', async () => {
    const payload = { iss: gw.baseUrl, aud: gw.baseUrl, sub: 'usr_demo', scope: 'todos:read', exp: Math.floor(Date.now() / 1000) + 600 };
    const challenge = await refusedAtProxy(`${b64url({ alg: 'none', typ: 'at+jwt' })}.${b64url(payload)}.`, 'alg none');
    assert.match(challenge, /algorithm/);
  });

  test('HS256 signed with our public key is refused', async () => {
    const jwks = await (await fetch(`${gw.baseUrl}/.well-known/jwks.json`)).json();
    const key = jwks.keys[0];
    const payload = { iss: gw.baseUrl, aud: gw.baseUrl, sub: 'usr_demo', scope: 'todos:read', exp: Math.floor(Date.now() / 1000) + 600 };
    const input = `${b64url({ alg: 'HS256', typ: 'at+jwt', kid: key.kid })}.${b64url(payload)}`;
    for (const secret of [key.x, Buffer.from(key.x, 'base64url'), JSON.stringify(key)]) {
      const sig = createHmac('sha256', secret).update(input).digest('base64url');
      await refusedAtProxy(`${input}.${sig}`, 'HS256 with the public key');
    }
  });

  test('one algorithm per key: RS256 naming our Ed25519 kid, EdDSA naming our RSA kid, HS256 with the RSA key', async () => {
    const { keys } = await (await fetch(`${gw.baseUrl}/.well-known/jwks.json`)).json();
    const ed = keys.find((k) => k.kty === 'OKP');
    const rsa = keys.find((k) => k.kty === 'RSA');
    assert.ok(ed && rsa, 'both kinds are published');
    // A genuine RS256 token passes, so what follows is refused for its header alone.
    await gw.clearOriginRequests();
    assert.equal((await fetch(`${gw.baseUrl}/todos`, { headers: bearer(await gw.token({ alg: 'RS256' })) })).status, 200);
    const [rsHeader, rsPayload, rsSig] = (await gw.token({ alg: 'RS256' })).split('.');
    const relabelled = `${b64url({ ...JSON.parse(Buffer.from(rsHeader, 'base64url')), kid: ed.kid })}.${rsPayload}.${rsSig}`;
    assert.match(await refusedAtProxy(relabelled, 'RS256 with the Ed25519 kid'), /algorithm/);
    const [edHeader, edPayload, edSig] = (await gw.token()).split('.');
    const swapped = `${b64url({ ...JSON.parse(Buffer.from(edHeader, 'base64url')), kid: rsa.kid })}.${edPayload}.${edSig}`;
    assert.match(await refusedAtProxy(swapped, 'EdDSA with the RSA kid'), /algorithm/);
    const payload = { iss: gw.baseUrl, aud: gw.baseUrl, sub: 'usr_demo', scope: 'todos:read', exp: Math.floor(Date.now() / 1000) + 600 };
    const input = `${b64url({ alg: 'HS256', typ: 'at+jwt', kid: rsa.kid })}.${b64url(payload)}`;
    for (const secret of [rsa.n, JSON.stringify(rsa)]) {
      await refusedAtProxy(`${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`, 'HS256 with the RSA key');
    }
  });

  test('expired, not yet valid, foreign issuer, foreign audience and wrong type are each refused', async () => {
    const now = Math.floor(Date.now() / 1000);
    const cases = [
      ['expired', { now: now - 7200, ttl: 3600 }, /expired/],
      ['not yet valid', { nbf: now + 3600 }, /not valid yet/],
      ['another issuer', { issuer: 'https://evil.example' }, /issued by someone else/],
      ['another audience', { audience: 'https://other-api.example' }, /another resource/],
      ['an ID token', { typ: 'JWT' }, /not an access token/],
    ];
    for (const [name, overrides, why] of cases) {
      const challenge = await refusedAtProxy(await gw.token(overrides), name);
      assert.match(challenge, why, name);
    }
  });

  test('a token without the route scope is 403 insufficient_scope naming it', async () => {
    await gw.clearOriginRequests();
    const res = await fetch(`${gw.baseUrl}/todos`, { method: 'POST', headers: { ...bearer(await gw.token({ scope: 'todos:read' })), 'content-type': 'application/json', 'content-length': '2' }, body: '{}' });
    assert.equal(res.status, 403);
    assert.match(res.headers.get('www-authenticate'), /error="insufficient_scope".*scope="todos:write"/);
    assert.deepEqual(await gw.originRequests(), []);
  });
});

describe('forms, pages and sessions', () => {
  test('a login post without the CSRF token (or with another browser’s) is refused', async () => {
    const browser = new FormBrowser(gw.baseUrl);
    const login = await browser.get(authorizeUrl({}));
    const fields = formFields(login.text_, '/login');
    const missing = await browser.post('/login', { ...fields, csrf_token: '', email: 'demo@example.com', password: gw.secrets.DEMO_PASSWORD });
    assert.equal(missing.status, 403);
    const stranger = new FormBrowser(gw.baseUrl);
    const stolen = await stranger.post('/login', { ...fields, email: 'demo@example.com', password: gw.secrets.DEMO_PASSWORD });
    assert.equal(stolen.status, 403);
  });

  test('a consent post with a forged or foreign CSRF token grants nothing', async () => {
    const { browser, consent } = await signedInBrowser();
    const fields = formFields(consent.text_, '/authorize');
    const forged = await browser.post('/authorize', { ...fields, csrf_token: 'forged', decision: 'allow' });
    assert.equal(forged.status, 403);
    assert.equal(forged.headers.get('location'), null);
    const other = await signedInBrowser();
    const crossed = await other.browser.post('/authorize', { ...fields, decision: 'allow' });
    assert.equal(crossed.status, 403);
  });

  test('the admin API refuses a cross-site form post: it takes only a bearer credential', async () => {
    const before = await (await fetch(`${gw.baseUrl}/admin/api/users`, { headers: bearer(gw.secrets.ADMIN_TOKEN) })).json();
    const res = await fetch(`${gw.baseUrl}/admin/api/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://attacker.example', cookie: 'portcullis_session=x' },
      body: 'email=evil%40example.com&password=correct+horse+battery',
    });
    assert.equal(res.status, 401);
    const after = await (await fetch(`${gw.baseUrl}/admin/api/users`, { headers: bearer(gw.secrets.ADMIN_TOKEN) })).json();
    assert.equal(after.items.length, before.items.length);
  });

  test('every HTML page refuses framing', async () => {
    const { browser } = await signedInBrowser();
    const pages = [authorizeUrl({ prompt: 'consent' }), `${gw.baseUrl}/login`, `${gw.baseUrl}/account`, authorizeUrl({ client_id: 'nope' }), `${gw.baseUrl}/admin/`];
    for (const url of pages) {
      const res = await browser.get(url);
      assert.match(res.headers.get('content-type') ?? '', /text\/html/, url);
      assert.equal(res.headers.get('x-frame-options'), 'DENY', url);
      assert.match(res.headers.get('content-security-policy'), /frame-ancestors 'none'/, url);
    }
  });

  test('a copied session cookie no longer works after logout', async () => {
    const { browser } = await signedInBrowser();
    const account = await browser.get('/account');
    assert.match(account.text_, /Signed in as demo@example\.com/);
    const thief = new FormBrowser(gw.baseUrl);
    thief.cookies = new Map(browser.cookies);
    const out = await browser.post('/logout', formFields(account.text_, '/logout'));
    assert.equal(out.status, 200);
    const replayed = await thief.get('/account');
    assert.doesNotMatch(replayed.text_, /Signed in as/);
    assert.match(replayed.text_, /action="\/login"/);
    const authorize = await thief.get(authorizeUrl({}));
    assert.match(authorize.text_, /action="\/login"/, 'the consent screen is not shown');
    assert.doesNotMatch(authorize.text_, /name="decision"/);
  });

  test('a session cookie planted before sign-in is replaced (no fixation)', async () => {
    const browser = new FormBrowser(gw.baseUrl);
    const login = await browser.get(authorizeUrl({}));
    browser.cookies.set('portcullis_session', 'planted-by-attacker');
    await signIn(browser, login, 'demo@example.com', gw.secrets.DEMO_PASSWORD);
    assert.notEqual(browser.cookies.get('portcullis_session'), 'planted-by-attacker');
  });
});

describe('injection', () => {
  test('SQL in the login form is just a wrong email', async () => {
    const browser = new FormBrowser(gw.baseUrl);
    const login = await browser.get(authorizeUrl({}));
    for (const email of ["' OR '1'='1", "demo@example.com' --", 'x@example.com"; DROP TABLE users; --']) {
      const res = await signIn(browser, login, email, "' OR '1'='1");
      assert.notEqual(res.status, 303, email);
      assert.ok(res.status < 500, email);
    }
    const users = await (await fetch(`${gw.baseUrl}/admin/api/users`, { headers: bearer(gw.secrets.ADMIN_TOKEN) })).json();
    assert.ok(users.items.length >= 1, 'the users table is intact');
  });

  test('SQL in admin inputs is stored as data', async () => {
    const name = "Robert'); DROP TABLE roles; --";
    const res = await fetch(`${gw.baseUrl}/admin/api/roles`, { method: 'POST', headers: { ...bearer(gw.secrets.ADMIN_TOKEN), 'content-type': 'application/json' }, body: JSON.stringify({ name }) });
    assert.equal(res.status, 201);
    const roles = await (await fetch(`${gw.baseUrl}/admin/api/roles?limit=100`, { headers: bearer(gw.secrets.ADMIN_TOKEN) })).json();
    assert.ok(roles.items.some((r) => r.name === name));
    const probe = await fetch(`${gw.baseUrl}/admin/api/users/${encodeURIComponent("x' OR '1'='1")}`, { headers: bearer(gw.secrets.ADMIN_TOKEN) });
    assert.equal(probe.status, 404);
  });

  test('CRLF and header injection never reach the origin as headers', async () => {
    await gw.clearOriginRequests();
    const token = await gw.token({ scope: 'todos:read' });
    // Raw HTTP, so the request carries what fetch would refuse to send.
    const raw = await new Promise((resolve, reject) => {
      const port = new URL(gw.baseUrl).port;
      const req = request({ host: '127.0.0.1', port, method: 'GET', path: '/todos?x=%0d%0aX-Portcullis-User:%20admin', headers: { authorization: `Bearer ${token}`, 'x-portcullis-user': 'admin', 'x-forwarded-for': '10.0.0.1', 'x-original-url': '/admin' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(raw, 200);
    const [seen] = await gw.originRequests();
    assert.equal(seen.headers['x-portcullis-user'], 'usr_demo');
    assert.equal(seen.headers['x-original-url'], undefined);
    assert.notEqual(seen.headers['x-forwarded-for'], '10.0.0.1');
    assert.ok(!Object.keys(seen.headers).some((h) => /\r|\n/.test(h)));
  });

  test('identity and forwarding headers spelled with underscores or odd case never reach the origin', async () => {
    await gw.clearOriginRequests();
    const forged = {
      'X-Portcullis_User': 'admin',
      X_Portcullis_Scopes: 'everything',
      x_portcullis_auth: 'oauth',
      'X-Forwarded_Host': 'evil.example',
      X_Forwarded_For: '10.0.0.1',
      'x-real-ip': '10.0.0.2',
      'True-Client-IP': '10.0.0.3',
      X_Request_Id: 'forged-id',
      'cf-connecting-ip': '203.0.113.50',
    };
    const status = await new Promise((resolve, reject) => {
      const port = new URL(gw.baseUrl).port;
      const req = request({ host: '127.0.0.1', port, method: 'GET', path: '/public/hello', headers: forged }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 200);
    const [seen] = await gw.originRequests();
    const names = Object.keys(seen.headers);
    const smuggled = names.filter((h) => h.includes('_'));
    assert.deepEqual(smuggled, [], 'no underscore spelling of a reserved header reached the origin');
    assert.equal(seen.headers['x-portcullis-auth'], 'none');
    assert.equal(seen.headers['x-portcullis-user'], undefined);
    assert.equal(seen.headers['x-portcullis-scopes'], undefined);
    assert.equal(seen.headers['x-forwarded-host'], new URL(gw.baseUrl).host);
    assert.notEqual(seen.headers['x-request-id'], 'forged-id');
    // The client address is the gateway's statement of what the runtime saw, nothing else.
    assert.equal(seen.headers['x-forwarded-for'], '203.0.113.50');
    assert.equal(seen.headers['x-real-ip'], '203.0.113.50');
    assert.equal(seen.headers['true-client-ip'], undefined);
    assert.ok(!JSON.stringify(seen.headers).includes('10.0.0.'), JSON.stringify(seen.headers));
    assert.ok(!JSON.stringify(seen.headers).includes('evil.example'));
  });
});

describe('secrets', () => {
  test('no secret appears in any public response or log line', async () => {
    const secrets = Object.entries(gw.secrets);
    const publicPaths = ['/.well-known/ai-plugin.json', '/.well-known/jwks.json', '/.well-known/oauth-authorization-server', '/.well-known/oauth-protected-resource', '/openapi.json', '/healthz', '/login', '/nope'];
    const bodies = [];
    for (const path of publicPaths) {
      const res = await fetch(`${gw.baseUrl}${path}`);
      bodies.push(JSON.stringify([...res.headers]) + (await res.text()));
    }
    // Failed attempts that carry secrets must not echo them either.
    const wrong = await exchange({ grant_type: 'authorization_code', code: 'x.y' }, basic('chatgpt', `${gw.secrets.DEMO_CLIENT_SECRET}x`));
    bodies.push(JSON.stringify(wrong.body));
    const logs = gw.logs();
    for (const [name, value] of secrets) {
      for (const body of bodies) assert.ok(!body.includes(value), `${name} in a public response`);
      assert.ok(!logs.includes(value), `${name} in the logs`);
    }
  });
});

describe('brute force', () => {
  test('guessing the client secret of chatgpt from one address shuts that address out, not ChatGPT', async () => {
    const attacker = '203.0.113.66';
    const attempt = (secret, from, body = 'grant_type=authorization_code&code=x.y') =>
      fetch(`${gw.baseUrl}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('chatgpt', secret), 'cf-connecting-ip': from },
        body,
      });
    const statuses = [];
    for (let i = 0; i < 25; i++) statuses.push((await attempt(`guess-${i}`, attacker)).status);
    assert.deepEqual(statuses.slice(0, 20), Array(20).fill(401), statuses.join(','));
    assert.ok(statuses.slice(20).every((s) => s === 429), statuses.join(','));
    const locked = await attempt(gw.secrets.DEMO_CLIENT_SECRET, attacker);
    assert.equal(locked.status, 429, 'the guessing address is refused even with the right secret');
    assert.ok(Number(locked.headers.get('retry-after')) > 0);
    // ChatGPT, at its own address, still gets its token.
    const code = await codeFor();
    const body = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK }).toString();
    const res = await attempt(gw.secrets.DEMO_CLIENT_SECRET, '198.51.100.30', body);
    assert.equal(res.status, 200);
    assert.ok((await res.json()).access_token);
  });
});

describe('outside review: clients nobody vetted', () => {
  /** Registers a client as anyone may, with an https redirect URI of the attacker's. */
  async function selfRegistered(extra = {}) {
    const res = await fetch(`${gw.baseUrl}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'cf-connecting-ip': '198.51.100.66' },
      body: JSON.stringify({ client_name: 'Totally Legit', redirect_uris: ['https://attacker.example/landing'], ...extra }),
    });
    assert.equal(res.status, 201);
    return res.json();
  }

  test('/authorize shows its errors for a self-registered client on its own page: no open redirector (RFC 9700 §4.11.2)', async () => {
    const client = await selfRegistered();
    const base = { client_id: client.client_id, redirect_uri: 'https://attacker.example/landing', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' };
    for (const params of [{ response_type: 'token' }, { prompt: 'none' }, { prompt: 'bogus' }, { code_challenge_method: 'plain' }]) {
      const res = await fetch(authorizeUrl({ ...base, ...params }), { redirect: 'manual' });
      assert.equal(res.status, 400, JSON.stringify(params));
      assert.equal(res.headers.get('location'), null, JSON.stringify(params));
      assert.match(res.headers.get('content-type'), /text\/html/);
    }
    // The seeded, administrator-made client still gets its errors back.
    const vetted = await fetch(authorizeUrl({ response_type: 'token' }), { redirect: 'manual' });
    assert.equal(vetted.status, 302);
  });

  test('a self-registered confidential client cannot introspect tokens issued to others (RFC 7662 §4)', async () => {
    const spy = await selfRegistered({ token_endpoint_auth_method: 'client_secret_basic' });
    const code = await codeFor();
    const tokens = (await exchange({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK })).body;
    const introspect = (id, secret, token) =>
      fetch(`${gw.baseUrl}/introspect`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(id, secret) },
        body: new URLSearchParams({ token }),
      }).then((r) => r.json());
    for (const token of [tokens.access_token, tokens.refresh_token]) {
      assert.deepEqual(await introspect(spy.client_id, spy.client_secret, token), { active: false });
      assert.equal((await introspect('chatgpt', gw.secrets.DEMO_CLIENT_SECRET, token)).active, true);
    }
  });
});

describe('letter case against a case-insensitive origin', () => {
  // A plugin whose public area has a denied corner: an origin that routes /public/ADMIN like
  // /public/admin must never be reached through another spelling.
  let gwd;
  before(async () => {
    gwd = await startGateway({ plugin: { ...benchPlugin, routes: [{ path: '/public/admin/*', access: 'deny' }, ...benchPlugin.routes] } });
  });
  after(async () => {
    await gwd?.stop();
  });

  test('a deny rule refuses every letter case of its path, and the origin sees none of them', async () => {
    await gwd.clearOriginRequests();
    for (const path of ['/public/admin/x', '/public/ADMIN/x', '/public/Admin/users', '/public/aDmIn', '/public/%41DMIN/x', '/public/adm%C4%B1n/x']) {
      const res = await fetch(`${gwd.baseUrl}${path}`);
      assert.equal(res.status, 403, path);
      assert.equal((await res.json()).error, 'access_denied', path);
    }
    assert.deepEqual(await gwd.originRequests(), [], 'the origin saw nothing');
    const allowed = await fetch(`${gwd.baseUrl}/public/hello`);
    assert.equal(allowed.status, 200);
    assert.equal((await gwd.originRequests()).length, 1);
  });
});

// ChatGPT as it really connects to an MCP server behind the gateway: its client_id is the URL of
// a client ID metadata document (the shape ChatGPT publishes: private_key_jwt, RS256, a
// jwks_uri), served here by a local stand-in for chatgpt.com with an RSA key generated in the
// test. The client discovers from a 401, authorizes with PKCE and the resource, signs an RS256
// client assertion (RFC 7523) at /token with jose, calls the MCP server, and refreshes. Then
// every way an assertion can be wrong is refused with invalid_client, and the code stays
// redeemable. The gateway runs with CLIENT_METADATA_ALLOW_LOOPBACK, as in local development.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import * as client from 'openid-client';
import { startMcpGateway } from './mcp-gateway.mjs';
import { FormBrowser, decide, signIn } from './browser.mjs';
import { freePort } from '../../scripts/lib.mjs';

const CALLBACK = 'https://chatgpt.com/connector/oauth/abc123';
const KID = 'cimd-20260428030119';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

let server;
let gw;
let mcpUrl;
let originRequests;
let chatgpt;
let chatgptBase;
let key;
let strangerKey;
let published;

/** The stand-in for chatgpt.com: client documents and JWKS, some of them deliberately bad. */
async function startChatgpt() {
  const port = await freePort();
  chatgptBase = `http://127.0.0.1:${port}`;
  const documentFor = (name, jwksPath) => ({
    client_id: `${chatgptBase}/oauth/${name}/client.json`,
    client_uri: 'https://chatgpt.com/',
    redirect_uris: [CALLBACK],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    // Not "ChatGPT": only documents on ChatGPT's own domains may go by its name, and this
    // stand-in is on 127.0.0.1.
    client_name: 'ChatGPT stand-in',
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_methods_supported: ['none', 'private_key_jwt'],
    token_endpoint_auth_signing_alg: 'RS256',
    jwks_uri: `${chatgptBase}${jwksPath}`,
  });
  const routes = {
    '/oauth/abc123/client.json': () => documentFor('abc123', '/oauth/jwks.json'),
    '/oauth/slow/client.json': () => documentFor('slow', '/oauth/slow-jwks.json'),
    '/oauth/big/client.json': () => documentFor('big', '/oauth/big-jwks.json'),
    '/oauth/jwks.json': () => published,
    '/oauth/big-jwks.json': () => ({ keys: [published.keys[0]], padding: 'x'.repeat(40 * 1024) }),
  };
  const requests = [];
  const http = createServer((req, res) => {
    requests.push(req.url);
    if (req.url === '/oauth/slow-jwks.json') return; // never answers
    const route = routes[req.url];
    if (!route) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
    res.end(JSON.stringify(route()));
  });
  await new Promise((resolve) => http.listen(port, '127.0.0.1', resolve));
  return { http, requests, stop: () => new Promise((resolve) => { http.closeAllConnections(); http.close(resolve); }) };
}

before(async () => {
  ({ privateKey: key } = await generateKeyPair('RS256', { extractable: true }));
  ({ privateKey: strangerKey } = await generateKeyPair('RS256'));
  const jwk = await exportJWK(key);
  published = { keys: [{ kty: 'RSA', n: jwk.n, e: jwk.e, kid: KID, use: 'sig', alg: 'RS256' }] };
  chatgpt = await startChatgpt();
  server = await startMcpGateway({ vars: { CLIENT_METADATA_ALLOW_LOOPBACK: 'true' } });
  ({ gw, mcpUrl, originRequests } = server);
});
after(async () => {
  await server?.stop();
  await chatgpt?.stop();
});

const clientId = (name = 'abc123') => `${chatgptBase}/oauth/${name}/client.json`;

function assertion({ id = clientId(), signer = key, kid = KID, aud = `${gw.baseUrl}/token`, jti = randomBytes(12).toString('base64url'), exp = '60s', iat } = {}) {
  const jwt = new SignJWT({ jti }).setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' }).setIssuer(id).setSubject(id).setAudience(aud).setExpirationTime(exp);
  if (iat !== undefined) jwt.setIssuedAt(iat);
  else jwt.setIssuedAt();
  return jwt.sign(signer);
}

const pkce = () => {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};

/** What ChatGPT does up to the code: authorize with PKCE and the resource; the user consents. */
async function authorize(name = 'abc123') {
  const { verifier, challenge } = pkce();
  const url = new URL(`${gw.baseUrl}/authorize`);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: clientId(name),
    redirect_uri: CALLBACK,
    scope: 'todos:read',
    state: 'st',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    resource: mcpUrl.href,
  });
  const browser = new FormBrowser(gw.baseUrl);
  const login = await browser.get(url);
  assert.equal(login.status, 200, login.text_);
  const signedIn = await signIn(browser, login, 'demo@example.com', gw.secrets.DEMO_PASSWORD);
  const consent = await browser.get(signedIn.headers.get('location'));
  if (consent.status === 200) assert.match(consent.text_, /ChatGPT/);
  const back = await decide(browser, consent);
  const location = new URL(back.headers.get('location'));
  assert.equal(`${location.origin}${location.pathname}`, CALLBACK);
  return { code: location.searchParams.get('code'), verifier };
}

async function token(params) {
  const res = await fetch(`${gw.baseUrl}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_assertion_type: ASSERTION_TYPE, ...params }),
  });
  return { status: res.status, body: await res.json() };
}

const redeem = ({ code, verifier }, clientAssertion, name = 'abc123') =>
  token({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier, client_id: clientId(name), client_assertion: clientAssertion });

async function callMcp(accessToken) {
  return fetch(mcpUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${accessToken}` },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'chatgpt-e2e', version: '1' } } }),
  });
}

describe('ChatGPT connects with private_key_jwt', () => {
  test('discovery from a 401 advertises private_key_jwt with RS256', async () => {
    const res = await fetch(mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(res.status, 401);
    const prmUrl = res.headers.get('www-authenticate').match(/resource_metadata="([^"]+)"/)[1];
    const prm = await (await fetch(prmUrl)).json();
    const as = await (await fetch(`${prm.authorization_servers[0]}/.well-known/oauth-authorization-server`)).json();
    assert.ok(as.token_endpoint_auth_methods_supported.includes('private_key_jwt'));
    assert.ok(as.token_endpoint_auth_signing_alg_values_supported.includes('RS256'));
    assert.equal(as.client_id_metadata_document_supported, true);
  });

  test('authorize, an RS256 assertion at /token, a call to the MCP server, and a refresh', async () => {
    const grant = await authorize();
    const tokens = await redeem(grant, await assertion());
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    const claims = JSON.parse(Buffer.from(tokens.body.access_token.split('.')[1], 'base64url').toString());
    assert.equal(claims.client_id, clientId());
    assert.equal(claims.aud, mcpUrl.href);
    const called = await callMcp(tokens.body.access_token);
    assert.equal(called.status, 200, await called.text());
    assert.ok((await originRequests()).length > 0, 'the MCP server was reached');
    // Refresh with a fresh assertion addressed to the issuer.
    const refreshed = await token({ grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token, client_assertion: await assertion({ aud: gw.baseUrl }) });
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    assert.notEqual(refreshed.body.refresh_token, tokens.body.refresh_token);
  });

  test('every bad assertion is invalid_client, stores nothing, and the code stays redeemable', async () => {
    const grant = await authorize();
    const spent = await assertion();
    // Spend one assertion on something harmless, so it can be replayed below.
    const introspected = await fetch(`${gw.baseUrl}/introspect`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: 'nothing', client_id: clientId(), client_assertion_type: ASSERTION_TYPE, client_assertion: spent }),
    });
    assert.equal(introspected.status, 200);
    const jwkText = JSON.stringify(published.keys[0]);
    const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const unsigned = `${b64({ alg: 'none' })}.${b64({ iss: clientId(), sub: clientId(), aud: `${gw.baseUrl}/token`, exp: now + 60, jti: 'n' })}.`;
    const hsInput = `${b64({ alg: 'HS256', kid: KID })}.${b64({ iss: clientId(), sub: clientId(), aud: `${gw.baseUrl}/token`, exp: now + 60, jti: 'h' })}`;
    const hs256 = `${hsInput}.${createHmac('sha256', jwkText).update(hsInput).digest('base64url')}`;
    const cases = [
      ['wrong aud', await assertion({ aud: 'https://elsewhere.example/token' })],
      ['expired', await assertion({ exp: now - 120, iat: now - 300 })],
      ['replayed jti', spent],
      ['unknown kid', await assertion({ kid: 'never-published' })],
      ['alg none', unsigned],
      ['HS256 keyed with the RSA public key', hs256],
      ["another client's key", await assertion({ signer: strangerKey })],
    ];
    for (const [why, bad] of cases) {
      const res = await redeem(grant, bad);
      assert.equal(res.status, 401, `${why}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error, 'invalid_client', why);
    }
    const good = await redeem(grant, await assertion());
    assert.equal(good.status, 200, `the code survived every refusal: ${JSON.stringify(good.body)}`);
  });

  test('a JWKS that hangs or is too large refuses the client in bounded time', async () => {
    for (const name of ['slow', 'big']) {
      const grant = await authorize(name);
      const started = Date.now();
      const res = await redeem(grant, await assertion({ id: clientId(name) }), name);
      assert.equal(res.status, 401, `${name}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error, 'invalid_client');
      assert.ok(Date.now() - started < 10000, `${name} answered within the fetch deadline`);
    }
    assert.ok(chatgpt.requests.includes('/oauth/slow-jwks.json'));
  });
});

describe('a self-registered private_key_jwt client, with openid-client', () => {
  test('registers with an inline JWKS (RFC 7591), then authorizes, redeems and refreshes with PrivateKeyJwt (ES256)', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const publicJwk = { ...(await exportJWK(publicKey)), kid: 'es-1', use: 'sig', alg: 'ES256' };
    const callback = 'http://127.0.0.1/callback';
    const config = await client.dynamicClientRegistration(
      new URL(gw.baseUrl),
      { client_name: 'openid-client agent', redirect_uris: [callback], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [publicJwk] }, grant_types: ['authorization_code', 'refresh_token'] },
      client.PrivateKeyJwt({ key: privateKey, kid: 'es-1' }),
      { execute: [client.allowInsecureRequests] },
    );
    const registered = config.clientMetadata();
    assert.match(registered.client_id, /^dcr_/);
    assert.equal(registered.client_secret, undefined, 'keys, not a secret');
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: callback,
      scope: 'openid todos:read',
      state: 'st8',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      resource: mcpUrl.href,
    });
    const browser = new FormBrowser(gw.baseUrl);
    const login = await browser.get(url.href);
    const signedIn = await signIn(browser, login, 'demo@example.com', gw.secrets.DEMO_PASSWORD);
    const back = await decide(browser, await browser.get(signedIn.headers.get('location')));
    const tokens = await client.authorizationCodeGrant(config, new URL(back.headers.get('location')), { pkceCodeVerifier: verifier, expectedState: 'st8' });
    assert.equal(tokens.scope, 'openid todos:read');
    // openid-client validated the ID token, expecting RS256 (no id_token_signed_response_alg was
    // registered, so the OpenID Connect default applies).
    assert.equal(tokens.claims().sub, 'usr_demo');
    assert.equal(JSON.parse(Buffer.from(tokens.id_token.split('.')[0], 'base64url')).alg, 'RS256');
    assert.equal((await callMcp(tokens.access_token)).status, 200);
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
    assert.ok(refreshed.access_token);
    // The same registration without its key: a secret-less confidential client cannot get in.
    const stranger = new client.Configuration(config.serverMetadata(), registered.client_id, {}, client.None());
    client.allowInsecureRequests(stranger);
    await assert.rejects(client.refreshTokenGrant(stranger, refreshed.refresh_token), (e) => e.error === 'invalid_client');
  });
});

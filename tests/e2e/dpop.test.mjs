// DPoP (RFC 9449) end to end in workerd: a public client registered with
// `dpop_bound_access_tokens` gets tokens bound to its key through oauth4webapi's DPoP support
// (proofs, server nonces and retries are the library's), calls the API with them, and refreshes
// only with its key. Then each refusal at the proxy, with proofs made by hand (jose): a replayed
// proof, the wrong method or URL, a stale `iat`, no `ath`, another key's proof, and the bound token
// sent as Bearer. Each is a 401 the library reads as a DPoP challenge, and nothing is forwarded.
// The plugin asks for server nonces, so every proof also carries one.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as oauth from 'oauth4webapi';
import { SignJWT, calculateJwkThumbprint, decodeJwt, exportJWK } from 'jose';
import { parse as parseToml } from 'smol-toml';
import { startGateway } from './harness.mjs';
import { FormBrowser, decide, signIn } from './browser.mjs';
import { root } from '../../scripts/lib.mjs';

const insecure = { [oauth.allowInsecureRequests]: true };
const CALLBACK = 'http://127.0.0.1/callback';

let gw;
let as;
let client;
let keyPair;
let dpop;

before(async () => {
  const todo = parseToml(readFileSync(join(root, 'wrangler.toml'), 'utf8')).vars.PLUGIN;
  gw = await startGateway({ plugin: { ...todo, auth: { ...todo.auth, dpop_nonce: true } } });
  const issuer = new URL(gw.baseUrl);
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
  const registered = await oauth.processDynamicClientRegistrationResponse(
    await oauth.dynamicClientRegistrationRequest(
      as,
      {
        client_name: 'DPoP agent',
        redirect_uris: [CALLBACK],
        grant_types: ['authorization_code', 'refresh_token'],
        token_endpoint_auth_method: 'none',
        dpop_bound_access_tokens: true,
      },
      insecure,
    ),
  );
  assert.equal(registered.dpop_bound_access_tokens, true);
  client = { client_id: registered.client_id, token_endpoint_auth_method: 'none' };
  keyPair = await oauth.generateKeyPair('ES256');
  dpop = oauth.DPoP(client, keyPair);
});

after(async () => {
  await gw?.stop();
});

/** Runs `request` once more when the server asks for its nonce (the library keeps the nonce). */
async function withNonce(request) {
  try {
    return await request();
  } catch (e) {
    if (!oauth.isDPoPNonceError(e)) throw e;
    return request();
  }
}

async function authorize() {
  const browser = new FormBrowser(gw.baseUrl);
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const url = new URL(as.authorization_endpoint);
  for (const [k, v] of Object.entries({
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: CALLBACK,
    scope: 'todos:read',
    state,
    resource: gw.baseUrl,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  })) url.searchParams.set(k, v);
  const login = await browser.get(url);
  const signedIn = await signIn(browser, login, 'demo@example.com', gw.secrets.DEMO_PASSWORD);
  assert.equal(signedIn.status, 303, signedIn.text_);
  let page = await browser.get(signedIn.headers.get('location'));
  if (page.status === 200) page = await decide(browser, page);
  assert.ok([302, 303].includes(page.status), page.text_);
  return { callback: new URL(page.headers.get('location')), state, verifier };
}

async function boundTokens() {
  const { callback, state, verifier } = await authorize();
  const params = oauth.validateAuthResponse(as, client, callback, state);
  return withNonce(async () =>
    oauth.processAuthorizationCodeResponse(
      as,
      client,
      await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, CALLBACK, verifier, { ...insecure, DPoP: dpop }),
    ),
  );
}

/** Calls the API through the library with the DPoP handle. */
function apiCall(accessToken, path = '/todos', handle = dpop) {
  return withNonce(() =>
    oauth.protectedResourceRequest(accessToken, 'GET', new URL(`${gw.baseUrl}${path}`), undefined, undefined, { ...insecure, DPoP: handle }),
  );
}

/** A proof made by hand with `pair`, for `GET /todos` and `token`, with `claims` changed. */
async function proof(pair, token, claims = {}) {
  const jwk = await exportJWK(pair.publicKey);
  const base = {
    htm: 'GET',
    htu: `${gw.baseUrl}/todos`,
    iat: Math.floor(Date.now() / 1000),
    jti: crypto.randomUUID(),
    ath: Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token))).toString('base64url'),
    nonce: await currentNonce(token),
  };
  const payload = { ...base, ...claims };
  for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
  return new SignJWT(payload).setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk }).sign(pair.privateKey);
}

/** The server's current nonce: what a proof without one is told to use. */
async function currentNonce(token) {
  const res = await fetch(`${gw.baseUrl}/todos`, { headers: { authorization: `DPoP ${token}`, dpop: 'not-a-proof' } });
  const nonce = res.headers.get('dpop-nonce');
  assert.ok(nonce, 'every DPoP refusal names the nonce to use');
  return nonce;
}

function call(token, proofJwt, { scheme = 'DPoP', method = 'GET', path = '/todos' } = {}) {
  const headers = { authorization: `${scheme} ${token}` };
  if (proofJwt) headers.dpop = proofJwt;
  return fetch(`${gw.baseUrl}${path}`, { method, headers });
}

function challenge(res) {
  const header = res.headers.get('www-authenticate') ?? '';
  return { scheme: header.split(' ')[0], error: /error="([^"]+)"/.exec(header)?.[1], header };
}

describe('DPoP-bound tokens', () => {
  test('metadata advertises the proof algorithms', async () => {
    assert.deepEqual(as.dpop_signing_alg_values_supported, ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA']);
    const prm = await (await fetch(`${gw.baseUrl}/.well-known/oauth-protected-resource`)).json();
    assert.deepEqual(prm.dpop_signing_alg_values_supported, as.dpop_signing_alg_values_supported);
    assert.equal(prm.dpop_bound_access_tokens_required, false);
  });

  test('a client that must use DPoP gets no token without a proof', async () => {
    const { callback, state, verifier } = await authorize();
    const params = oauth.validateAuthResponse(as, client, callback, state);
    const res = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, CALLBACK, verifier, insecure);
    assert.equal(res.status, 400);
    assert.equal((await res.json()).error, 'invalid_dpop_proof');
  });

  test('the library binds the tokens, calls the API and refreshes with its key only', async () => {
    const tokens = await boundTokens();
    assert.equal(tokens.token_type, 'dpop');
    const thumbprint = await calculateJwkThumbprint(await exportJWK(keyPair.publicKey));
    assert.equal(decodeJwt(tokens.access_token).cnf.jkt, thumbprint);

    await gw.clearOriginRequests();
    const api = await apiCall(tokens.access_token);
    assert.equal(api.status, 200);
    const [seen] = await gw.originRequests();
    assert.equal(seen.headers['x-portcullis-user'], 'usr_demo');
    assert.equal(seen.headers.authorization, undefined);
    assert.equal(seen.headers.dpop, undefined, 'the proof is the caller\'s, not the origin\'s');

    // Refreshing with another key is refused and spends nothing; with the client's key it rotates.
    const stranger = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
    await assert.rejects(
      withNonce(async () =>
        oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, oauth.None(), tokens.refresh_token, { ...insecure, DPoP: stranger })),
      ),
      (e) => e.error === 'invalid_grant',
    );
    const refreshed = await withNonce(async () =>
      oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, oauth.None(), tokens.refresh_token, { ...insecure, DPoP: dpop })),
    );
    assert.equal(refreshed.token_type, 'dpop');
    assert.equal(decodeJwt(refreshed.access_token).cnf.jkt, thumbprint);
    assert.equal((await apiCall(refreshed.access_token)).status, 200);
  });

  test('every misuse is refused with a DPoP challenge and nothing reaches the origin', async () => {
    const { access_token: token } = await boundTokens();
    const other = await oauth.generateKeyPair('ES256');
    await gw.clearOriginRequests();

    const good = await proof(keyPair, token);
    assert.equal((await call(token, good)).status, 200, 'a good proof passes once');
    await gw.clearOriginRequests();
    const cases = [
      ['replayed proof', () => call(token, good), 'invalid_dpop_proof'],
      ['wrong method', async () => call(token, await proof(keyPair, token, { htm: 'POST' })), 'invalid_dpop_proof'],
      ['wrong URL', async () => call(token, await proof(keyPair, token, { htu: `${gw.baseUrl}/todos/1` })), 'invalid_dpop_proof'],
      ['stale iat', async () => call(token, await proof(keyPair, token, { iat: Math.floor(Date.now() / 1000) - 400 })), 'invalid_dpop_proof'],
      ['missing ath', async () => call(token, await proof(keyPair, token, { ath: undefined })), 'invalid_dpop_proof'],
      ['another key', async () => call(token, await proof(other, token)), 'invalid_dpop_proof'],
      ['no nonce', async () => call(token, await proof(keyPair, token, { nonce: undefined })), 'use_dpop_nonce'],
      ['no proof', () => call(token, undefined), 'invalid_dpop_proof'],
      ['sent as Bearer', async () => call(token, await proof(keyPair, token), { scheme: 'Bearer' }), 'invalid_token'],
    ];
    for (const [why, send, error] of cases) {
      const res = await send();
      assert.equal(res.status, 401, why);
      const c = challenge(res);
      assert.equal(c.scheme, 'DPoP', `${why}: ${c.header}`);
      assert.equal(c.error, error, `${why}: ${c.header}`);
      assert.match(c.header, /algs="[^"]*ES256/, why);
    }
    // The library reads the challenge as DPoP's (here: the bound token sent as Bearer).
    const parsed = await oauth.protectedResourceRequest(token, 'GET', new URL(`${gw.baseUrl}/todos`), undefined, undefined, insecure).catch((e) => e);
    assert.ok(parsed instanceof oauth.WWWAuthenticateChallengeError);
    assert.equal(parsed.cause[0].scheme, 'dpop');
    assert.equal(parsed.cause[0].parameters.error, 'invalid_token');
    assert.deepEqual(await gw.originRequests(), [], 'nothing was forwarded');
  });

  test('plain bearer tokens pass as before', async () => {
    const token = await gw.token({ scope: 'todos:read' });
    const res = await fetch(`${gw.baseUrl}/todos`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    // A bearer token presented as DPoP is refused: it is not bound.
    const asDpop = await call(token, await proof(keyPair, token));
    assert.equal(asDpop.status, 401);
    assert.equal(challenge(asDpop).error, 'invalid_token');
  });
});

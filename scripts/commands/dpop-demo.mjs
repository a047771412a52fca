// DPoP (RFC 9449) against the running demo's todo plugin: a client registered as DPoP-bound gets
// tokens bound to its key (through oauth4webapi's DPoP support), and every call needs a fresh
// proof by that key. The refusals' proofs are made by hand (jose). Each step prints what the
// gateway answered.
import { createHash, randomUUID } from 'node:crypto';
import * as oauth from 'oauth4webapi';
import { SignJWT, calculateJwkThumbprint, exportJWK } from 'jose';
import { CommandError } from '../cli.mjs';
import { answered, authorizeInBrowser, claimsOf, discoverIssuer, insecureFor, say, step, urlFlag } from '../demo-client.mjs';

/** Runs `request` once more when the server asks for a nonce (the library keeps it). */
async function withNonce(request) {
  try {
    return await request();
  } catch (e) {
    if (!oauth.isDPoPNonceError(e)) throw e;
    return request();
  }
}

/** `node scripts/dpop-demo.mjs`: the flags are described in that entry. */
export async function main({ values }) {
  const issuer = new URL(urlFlag('base-url', values['base-url']).origin);
  const insecure = insecureFor(issuer);
  const as = await discoverIssuer(issuer);
  const todos = new URL('/todos', issuer).href;

  step('The client registers itself as DPoP-bound (RFC 7591, dpop_bound_access_tokens: true)');
  const registered = await oauth.processDynamicClientRegistrationResponse(await oauth.dynamicClientRegistrationRequest(as, {
    client_name: 'Portcullis DPoP demo',
    redirect_uris: ['http://127.0.0.1/callback'],
    grant_types: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_method: 'none',
    dpop_bound_access_tokens: true,
  }, insecure));
  say(`POST ${as.registration_endpoint} → 201: client ${registered.client_id}, dpop_bound_access_tokens ${registered.dpop_bound_access_tokens}`);
  const client = { client_id: registered.client_id, token_endpoint_auth_method: 'none' };

  step('It makes a key pair (ES256); its thumbprint (RFC 7638) is what tokens will be bound to');
  const keyPair = await oauth.generateKeyPair('ES256');
  const publicJwk = await exportJWK(keyPair.publicKey);
  const jkt = await calculateJwkThumbprint(publicJwk);
  const dpop = oauth.DPoP(client, keyPair);
  say(`jkt ${jkt}`);

  step('You authorize it in your browser, the code bound to the key (dpop_jkt)');
  const back = await authorizeInBrowser(as, client, { scope: 'todos:read todos:write', resource: issuer.origin, dpop_jkt: jkt });
  const tokens = await withNonce(async () => oauth.processAuthorizationCodeResponse(as, client,
    await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), back.params, back.redirectUri, back.verifier, { DPoP: dpop, ...insecure })));
  const claims = claimsOf(tokens.access_token).claims;
  say(`POST ${as.token_endpoint} with a DPoP proof → 200: token_type ${tokens.token_type}, cnf.jkt ${claims.cnf?.jkt} (${claims.cnf?.jkt === jkt ? 'this key' : 'another key!'})`);
  if (claims.cnf?.jkt !== jkt) throw new CommandError('the token is not bound to the key');

  step('GET /todos with Authorization: DPoP <token> and a fresh proof');
  const api = await withNonce(() => oauth.protectedResourceRequest(tokens.access_token, 'GET', new URL(todos), new Headers(), null, { DPoP: dpop, ...insecure }));
  await answered(`GET ${todos}`, api);

  step('The same token sent as a Bearer token, without a proof (a stolen token)');
  await answered(`GET ${todos} (Authorization: Bearer)`, await fetch(todos, { headers: { authorization: `Bearer ${tokens.access_token}` } }));

  step('A proof used twice (each proof\'s jti is taken once)');
  const proof = await new SignJWT({
    htm: 'GET',
    htu: todos,
    iat: Math.floor(Date.now() / 1000),
    jti: randomUUID(),
    ath: createHash('sha256').update(tokens.access_token).digest('base64url'),
  }).setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: publicJwk }).sign(keyPair.privateKey);
  const withProof = () => fetch(todos, { headers: { authorization: `DPoP ${tokens.access_token}`, dpop: proof } });
  await answered(`GET ${todos} (a proof made by hand)`, await withProof());
  await answered(`GET ${todos} (the same proof again)`, await withProof());

  step('DELETE /todos/{id}, a route that takes DPoP-bound tokens only (dpop = true in its rule)');
  const missing = new URL('/todos/no-such-todo', todos);
  const bare = await fetch(missing, { method: 'DELETE' });
  say(`DELETE ${missing} (no token) → ${bare.status}, WWW-Authenticate: ${bare.headers.get('www-authenticate')?.split(' ')[0]} … (where GET /todos challenges with Bearer)`);
  const deleted = await withNonce(() => oauth.protectedResourceRequest(tokens.access_token, 'DELETE', missing, new Headers(), null, { DPoP: dpop, ...insecure }));
  say(`DELETE ${missing} (the bound token and a proof) → ${deleted.status}: past the gateway, the origin answered`);

  step('Refreshing without a proof (the refresh token is bound to the key too)');
  await answered(`POST ${as.token_endpoint} grant_type=refresh_token, no DPoP header`, await fetch(as.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: client.client_id }),
  }));

  step('Refreshing with a proof by the key');
  const refreshed = await withNonce(async () => oauth.processRefreshTokenResponse(as, client,
    await oauth.refreshTokenGrantRequest(as, client, oauth.None(), tokens.refresh_token, { DPoP: dpop, ...insecure })));
  say(`POST ${as.token_endpoint} with a DPoP proof → 200: token_type ${refreshed.token_type}, bound to ${claimsOf(refreshed.access_token).claims.cnf?.jkt === jkt ? 'the same key' : 'another key!'}`);
}

// Token exchange (RFC 8693) end to end in workerd. A resource server behind the gateway (an MCP
// server, client `mcp-server`) holds the access token a user's assistant called it with, and
// trades it through oauth4webapi for a token to the reports API registered in the same
// deployment: same user, audience-restricted, scopes the user's roles hold there and the
// plugin's policy allows, and an `act` claim naming the exchanging client. Then each refusal.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as oauth from 'oauth4webapi';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { parse as parseToml } from 'smol-toml';
import { seedAlso, startGateway } from './harness.mjs';
import { FormBrowser, decide, signIn } from './browser.mjs';
import { root } from '../../scripts/lib.mjs';

const REPORTS = 'https://reports.example.com';
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS = 'urn:ietf:params:oauth:token-type:access_token';
const CALLBACK = 'https://chatgpt.com/aip/plugin-todo-demo/oauth/callback';
const MCP_SECRET = randomBytes(24).toString('base64url');
const insecure = { [oauth.allowInsecureRequests]: true };

let gw;
let as;

before(async () => {
  const todo = parseToml(readFileSync(join(root, 'wrangler.toml'), 'utf8')).vars.PLUGIN;
  gw = await startGateway({
    plugin: ({ baseUrl }) => ({
      ...todo,
      token_exchange: [{ client: 'mcp-server', from: [baseUrl], to: REPORTS, scopes: ['reports:read'] }],
    }),
    // The reports API, a role on it for the demo user, and the MCP server's client.
    beforeStart: seedAlso({
        resources: [{ id: 'res_reports', indicator: REPORTS, name: 'Reports API', access_token_ttl_secs: 900, permissions: [{ name: 'reports:read' }, { name: 'reports:admin' }] }],
        roles: [{ id: 'rol_reports', name: 'reports', permissions: [{ resource: 'res_reports', name: 'reports:read' }, { resource: 'res_reports', name: 'reports:admin' }] }],
        users: [{ id: 'usr_demo', email: 'demo@example.com', name: 'Demo User', password_env: 'DEMO_PASSWORD', roles: ['rol_member', 'rol_reports'] }],
        clients: [{ id: 'mcp-server', name: 'Reports MCP server', kind: 'confidential', secret_env: 'MCP_SECRET', redirect_uris: [] }],
      }, { MCP_SECRET }),
  });
  const issuer = new URL(gw.baseUrl);
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
});

after(async () => {
  await gw?.stop();
});

/** A user's tokens from ChatGPT's authorization (sign in, consent, code exchange). */
async function userTokens() {
  const client = { client_id: 'chatgpt' };
  const browser = new FormBrowser(gw.baseUrl);
  const state = oauth.generateRandomState();
  const url = new URL(as.authorization_endpoint);
  for (const [k, v] of Object.entries({ response_type: 'code', client_id: 'chatgpt', redirect_uri: CALLBACK, scope: 'todos:read', state })) url.searchParams.set(k, v);
  let page = await browser.get(url);
  const signedIn = await signIn(browser, page, 'demo@example.com', gw.secrets.DEMO_PASSWORD);
  page = await browser.get(signedIn.headers.get('location'));
  if (page.status === 200) page = await decide(browser, page);
  const params = oauth.validateAuthResponse(as, client, new URL(page.headers.get('location')), state);
  const auth = oauth.ClientSecretBasic(gw.secrets.DEMO_CLIENT_SECRET);
  return oauth.processAuthorizationCodeResponse(as, client,
    await oauth.authorizationCodeGrantRequest(as, client, auth, params, CALLBACK, oauth.nopkce, insecure));
}

const mcp = { client_id: 'mcp-server' };

function exchangeAs(client, secret, subjectToken, extra = {}) {
  return oauth.genericTokenEndpointRequest(as, client, oauth.ClientSecretBasic(secret), EXCHANGE, {
    subject_token: subjectToken,
    subject_token_type: ACCESS,
    resource: REPORTS,
    ...extra,
  }, insecure);
}

describe('token exchange (RFC 8693)', () => {
  test('metadata lists the grant', () => {
    assert.ok(as.grant_types_supported.includes(EXCHANGE));
  });

  test('an MCP server trades the user\'s token for one to the reports API, acting for the user', async () => {
    const user = await userTokens();
    const exchanged = await oauth.processGenericTokenEndpointResponse(as, mcp, await exchangeAs(mcp, MCP_SECRET, user.access_token));
    assert.equal(exchanged.issued_token_type, ACCESS);
    assert.equal(exchanged.token_type, 'bearer');
    assert.equal(exchanged.scope, 'reports:read', 'reports:admin is held, but the policy stops it');
    assert.equal(exchanged.refresh_token, undefined);
    assert.ok(exchanged.expires_in <= 900);
    const { payload } = await jwtVerify(exchanged.access_token, createRemoteJWKSet(new URL(as.jwks_uri)), { issuer: gw.baseUrl, audience: REPORTS, typ: 'at+jwt' });
    assert.equal(payload.sub, 'usr_demo');
    assert.equal(payload.client_id, 'mcp-server');
    assert.deepEqual(payload.act, { sub: 'mcp-server' });
    // For the reports API only: the gateway's own API refuses it.
    const here = await fetch(`${gw.baseUrl}/todos`, { headers: { authorization: `Bearer ${exchanged.access_token}` } });
    assert.equal(here.status, 401);
    assert.match(here.headers.get('www-authenticate'), /another resource/);
  });

  test('refusals: no policy, another target, scopes the policy stops, a forged or revoked subject token', async () => {
    const user = await userTokens();
    const chatgpt = { client_id: 'chatgpt' };
    const error = async (response) => {
      const body = await response.json();
      assert.ok(response.status >= 400, JSON.stringify(body));
      return body.error;
    };
    assert.equal(await error(await exchangeAs(chatgpt, gw.secrets.DEMO_CLIENT_SECRET, user.access_token)), 'unauthorized_client');
    assert.equal(await error(await exchangeAs(mcp, MCP_SECRET, user.access_token, { resource: 'https://billing.example.com' })), 'invalid_target');
    assert.equal(await error(await exchangeAs(mcp, MCP_SECRET, user.access_token, { scope: 'reports:admin' })), 'invalid_scope');
    const forged = `${user.access_token.slice(0, -4)}AAAA`;
    assert.equal(await error(await exchangeAs(mcp, MCP_SECRET, forged)), 'invalid_request');
    assert.equal(await error(await exchangeAs(mcp, 'wrong-secret', user.access_token)), 'invalid_client');
    // Once the user's grant is revoked, its tokens cannot be exchanged.
    await oauth.processRevocationResponse(await oauth.revocationRequest(as, chatgpt, oauth.ClientSecretBasic(gw.secrets.DEMO_CLIENT_SECRET), user.refresh_token, insecure));
    assert.equal(await error(await exchangeAs(mcp, MCP_SECRET, user.access_token)), 'invalid_request');
  });
});

// Enterprise-managed authorization (identity assertion JWT authorization grants, ID-JAG) end to
// end in workerd. The enterprise's identity provider is played by the test: its own ES256 key,
// its JWKS served on 127.0.0.1 (the gateway runs with CLIENT_METADATA_ALLOW_LOOPBACK, as in
// local development), its assertions signed with jose. The client presents them through
// oauth4webapi as RFC 7523 JWT-bearer grants; a new employee is provisioned just in time with the
// provider's role, and the token works at the API. Then each refusal, with nothing stored.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as oauth from 'oauth4webapi';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { parse as parseToml } from 'smol-toml';
import { seedAlso, startGateway } from './harness.mjs';
import { freePort, root } from '../../scripts/lib.mjs';

const IDP = 'https://acme.idp.example';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const APP_SECRET = randomBytes(24).toString('base64url');
const insecure = { [oauth.allowInsecureRequests]: true };

let gw;
let as;
let jwks;
let idpKey;
let strangerKey;
const app = { client_id: 'agent-app' };

before(async () => {
  idpKey = await generateKeyPair('ES256');
  strangerKey = await generateKeyPair('ES256');
  const publicJwk = { ...(await exportJWK(idpKey.publicKey)), kid: 'idp-1', alg: 'ES256', use: 'sig' };
  const port = await freePort();
  jwks = createServer((req, res) => {
    res.writeHead(req.url === '/keys' ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [publicJwk] }));
  });
  await new Promise((resolve) => jwks.listen(port, '127.0.0.1', resolve));
  const todo = parseToml(readFileSync(join(root, 'wrangler.toml'), 'utf8')).vars.PLUGIN;
  gw = await startGateway({
    vars: { CLIENT_METADATA_ALLOW_LOOPBACK: 'true' },
    plugin: {
      ...todo,
      enterprise_idps: [{
        id: 'acme', issuer: IDP, jwks_uri: `http://127.0.0.1:${port}/keys`, clients: ['agent-app'],
        provision: true, default_roles: ['viewer'], allowed_domains: ['acme.com'],
      }],
    },
    beforeStart: seedAlso({ clients: [{ id: 'agent-app', name: 'Agent app', kind: 'confidential', secret_env: 'APP_SECRET', redirect_uris: [] }] }, { APP_SECRET }),
  });
  const issuer = new URL(gw.baseUrl);
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
});

after(async () => {
  await gw?.stop();
  await new Promise((resolve) => jwks?.close(resolve));
});

/** An ID-JAG as the enterprise's provider issues it, with `claims` changed. */
function assertion(claims = {}, { key = idpKey.privateKey, typ = 'oauth-id-jag+jwt' } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const payload = {
    iss: IDP, sub: '00u-ann', aud: gw.baseUrl, client_id: 'agent-app', jti: randomUUID(),
    iat: now, exp: now + 300, resource: gw.baseUrl, scope: 'todos:read todos:write',
    email: 'ann@acme.com', name: 'Ann', ...claims,
  };
  for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
  return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: 'idp-1', typ }).sign(key);
}

const present = (jwt, client = app, secret = APP_SECRET) =>
  oauth.genericTokenEndpointRequest(as, client, oauth.ClientSecretBasic(secret), JWT_BEARER, { assertion: jwt }, insecure);

const admin = (path) =>
  fetch(`${gw.baseUrl}/admin/api/${path}`, { headers: { authorization: `Bearer ${gw.secrets.ADMIN_TOKEN}` } }).then((r) => r.json());

describe('enterprise-managed authorization (ID-JAG)', () => {
  test('metadata advertises the profile and the grant', () => {
    assert.deepEqual(as.authorization_grant_profiles_supported, ['urn:ietf:params:oauth:grant-profile:id-jag']);
    assert.ok(as.grant_types_supported.includes(JWT_BEARER));
  });

  test('refusals store nothing and change nothing', async () => {
    const before = await admin('users?limit=100');
    const now = Math.floor(Date.now() / 1000);
    const cases = [
      ['an untrusted issuer', await assertion({ iss: 'https://evil.example' })],
      ['another key', await assertion({}, { key: strangerKey.privateKey })],
      ['typ JWT', await assertion({}, { typ: 'JWT' })],
      ['another audience', await assertion({ aud: 'https://elsewhere.example' })],
      ['for another client', await assertion({ client_id: 'chatgpt' })],
      ['expired', await assertion({ iat: now - 900, exp: now - 600 })],
      ['an email outside the domain', await assertion({ sub: '00u-eve', email: 'eve@gmail.com' })],
    ];
    for (const [why, jwt] of cases) {
      const res = await present(jwt);
      assert.equal(res.status, 400, why);
      assert.equal((await res.json()).error, 'invalid_grant', why);
    }
    const chatgpt = await present(await assertion({ client_id: 'chatgpt' }), { client_id: 'chatgpt' }, gw.secrets.DEMO_CLIENT_SECRET);
    assert.equal((await chatgpt.json()).error, 'invalid_grant', 'a client the provider does not speak for');
    assert.deepEqual((await admin('users?limit=100')).items, before.items, 'no user was made');
  });

  test('a new employee is provisioned with the provider\'s role and the token works at the API', async () => {
    const jwt = await assertion();
    const tokens = await oauth.processGenericTokenEndpointResponse(as, app, await present(jwt));
    assert.equal(tokens.scope, 'todos:read', 'asserted todos:write, but the viewer role holds only todos:read');
    assert.equal(tokens.refresh_token, undefined);
    await gw.clearOriginRequests();
    const api = await fetch(`${gw.baseUrl}/todos`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(api.status, 200);
    const [seen] = await gw.originRequests();
    const users = await admin('users?q=ann%40acme.com');
    const ann = users.items.find((u) => u.email === 'ann@acme.com');
    assert.ok(ann, JSON.stringify(users));
    assert.equal(seen.headers['x-portcullis-user'], ann.id);
    assert.equal(seen.headers['x-portcullis-client'], 'agent-app');
    const identities = await admin(`users/${ann.id}/identities`);
    assert.ok(identities.identities.some((i) => i.provider === `enterprise:${IDP}` && i.subject === '00u-ann'), JSON.stringify(identities));
    // The same assertion again is a replay; a fresh one finds the same user.
    assert.equal((await (await present(jwt)).json()).error, 'invalid_grant');
    const again = await oauth.processGenericTokenEndpointResponse(as, app, await present(await assertion()));
    assert.ok(again.access_token);
    assert.equal((await admin('users?q=ann%40acme.com')).items.filter((u) => u.email === 'ann@acme.com').length, 1);
  });
});

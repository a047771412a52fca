#!/usr/bin/env node
// A real OpenID Connect provider for the demo and the tests (the `oidc-provider` package, the
// certified implementation), on 127.0.0.1: discovery, authorization with PKCE, a sign-in form
// (its development interactions: any password, the login name is the account), ID tokens signed
// ES256 or RS256 per client, userinfo, JWKS. One account is known, `demo`, whose email is
// verified; `TEST_ACCOUNTS` (JSON: [{sub, email, email_verified, name}]) replaces it in tests.
//
//   PORT=9400 REDIRECT_URIS=http://127.0.0.1:8787/login/provider/demo/callback node demo/oidc-provider.mjs
//
// Environment: PORT; ISSUER (default http://127.0.0.1:PORT); CLIENT_ID and CLIENT_SECRET (the
// gateway's credentials here); REDIRECT_URIS (space-separated); ID_TOKEN_ALG (ES256 or RS256);
// TOKEN_AUTH_METHOD (client_secret_basic or client_secret_post);
// JWKS_FILE (keeps the signing keys across restarts, so cached keys stay valid).
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT ?? 9400);
const issuer = process.env.ISSUER ?? `http://127.0.0.1:${port}`;
const accounts = process.env.TEST_ACCOUNTS
  ? JSON.parse(process.env.TEST_ACCOUNTS)
  : [{ sub: 'demo', email: 'federated@example.com', email_verified: true, name: 'Demo Federated User' }];

function signingKeys() {
  const file = process.env.JWKS_FILE;
  if (file && existsSync(file)) return JSON.parse(readFileSync(file, 'utf8'));
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const keys = { keys: [{ ...ec, kid: `ec-${Date.now().toString(36)}`, use: 'sig' }, { ...rsa, kid: `rsa-${Date.now().toString(36)}`, use: 'sig' }] };
  if (file) writeFileSync(file, JSON.stringify(keys), { mode: 0o600 });
  return keys;
}

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.CLIENT_ID ?? 'portcullis-demo',
    client_secret: process.env.CLIENT_SECRET ?? 'demo-provider-secret',
    redirect_uris: (process.env.REDIRECT_URIS ?? `http://127.0.0.1:8787/login/provider/demo/callback`).split(' ').filter(Boolean),
    token_endpoint_auth_method: process.env.TOKEN_AUTH_METHOD ?? 'client_secret_basic',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    id_token_signed_response_alg: process.env.ID_TOKEN_ALG ?? 'ES256',
  }],
  jwks: signingKeys(),
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  // Scope claims go in the ID token too (by default they come only from userinfo).
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600, RefreshToken: 86400 },
  async findAccount(_ctx, id) {
    const account = accounts.find((a) => a.sub === id);
    if (!account) return undefined;
    return { accountId: id, claims: async () => ({ ...account }) };
  },
  // Consent is the gateway's business: a first sign-in grants the OpenID scopes asked for.
  async loadExistingGrant(ctx) {
    const { client, session, params } = ctx.oidc;
    const grant = new provider.Grant({ clientId: client.clientId, accountId: session.accountId });
    grant.addOIDCScope(String(params.scope ?? 'openid'));
    await grant.save();
    return grant;
  },
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider: ${issuer} (sign in as ${accounts.map((a) => a.sub).join(', ')} with any password)`);
});

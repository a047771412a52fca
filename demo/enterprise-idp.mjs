#!/usr/bin/env node
// A small enterprise identity provider for the demo and its test: "Acme", whose employees use an
// AI agent (the client `demo-agent-app`) with the demo MCP server. It issues identity assertions
// (ID-JAG, draft-ietf-oauth-identity-assertion-authz-grant, the MCP extension for
// enterprise-managed authorization) signed with its own ES256 key, and publishes that key, so
// the gateway, which trusts it in the MCP plugin's `enterprise_idps`, gives the agent a token for
// the employee with no browser and no consent screen: the enterprise decided. On 127.0.0.1 only.
//
//   GET  /.well-known/oauth-authorization-server   its metadata
//   GET  /jwks.json                                its public key
//   POST /token                                    (the agent app authenticates: client_secret_basic)
//     grant_type=password, username, password, scope=openid
//         the employee signs in to the agent app (the single sign-on step, without a browser
//         for the demo): an ID token for the app
//     grant_type=urn:ietf:params:oauth:grant-type:token-exchange,
//     requested_token_type=urn:ietf:params:oauth:token-type:id-jag,
//     subject_token=<that ID token>, subject_token_type=urn:ietf:params:oauth:token-type:id_token,
//     audience=<the authorization server's issuer>, resource=<its API>, scope=…
//         the ID-JAG for that authorization server (typ oauth-id-jag+jwt, five minutes)
//
//   PORT=8792 CLIENT_ID=demo-agent-app CLIENT_SECRET=… EMPLOYEE_PASSWORD=… \
//   AUDIENCES=http://localhost:8787 KEY_FILE=.wrangler/demo-enterprise-key.json node demo/enterprise-idp.mjs
//
// Environment: PORT; ISSUER (default http://127.0.0.1:PORT); CLIENT_ID and CLIENT_SECRET (the
// agent app's credentials here); EMPLOYEE_PASSWORD (the one employee's, ann@acme.example.com);
// AUDIENCES (space-separated issuers it issues assertions for; no other); KEY_FILE (keeps the
// signing key across restarts, so the gateway's cached key stays valid).
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair, importJWK, jwtVerify } from 'jose';

export const ID_JAG_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id-jag';
export const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';
export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

/** Acme's directory: one employee, with an address in the domain the gateway lets it provision. */
export const EMPLOYEES = [{ sub: '00u-ann', username: 'ann@acme.example.com', email: 'ann@acme.example.com', name: 'Ann (Acme)' }];

async function signingKey(file) {
  if (file && existsSync(file)) {
    const jwk = JSON.parse(readFileSync(file, 'utf8'));
    return { jwk, privateKey: await importJWK(jwk, 'ES256') };
  }
  const pair = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(pair.privateKey)), kid: `acme-${Date.now().toString(36)}`, alg: 'ES256', use: 'sig' };
  if (file) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(jwk), { mode: 0o600 });
  }
  return { jwk, privateKey: pair.privateKey };
}

const same = (a, b) => {
  const x = createHash('sha256').update(String(a)).digest();
  const y = createHash('sha256').update(String(b)).digest();
  return timingSafeEqual(x, y);
};

/**
 * Starts the provider. Returns `{ issuer, stop() }`. `audiences` are the authorization servers
 * (issuers) it issues assertions for.
 */
export async function startEnterpriseIdp({ port = 0, issuer, clientId, clientSecret, employeePassword, audiences, keyFile }) {
  if (!clientId || !clientSecret || !employeePassword) throw new Error('enterprise-idp: CLIENT_ID, CLIENT_SECRET and EMPLOYEE_PASSWORD are required');
  const { jwk, privateKey } = await signingKey(keyFile);
  const { d: _private, ...publicJwk } = jwk;
  const ownKeys = createLocalJWKSet({ keys: [publicJwk] });
  let base = issuer;

  const json = (res, status, body) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };
  const refuse = (res, error, description, status = 400) => json(res, status, { error, error_description: description });

  function client(req) {
    const m = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
    if (!m) return null;
    const pair = Buffer.from(m[1], 'base64').toString();
    const colon = pair.indexOf(':');
    if (colon < 0) return null;
    try {
      const [id, secret] = [pair.slice(0, colon), pair.slice(colon + 1)].map(decodeURIComponent);
      return id === clientId && same(secret, clientSecret) ? id : null;
    } catch {
      return null;
    }
  }

  async function sign(payload, typ, ttl) {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ ...payload, iss: base, iat: now, exp: now + ttl, jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid: jwk.kid, typ })
      .sign(privateKey);
  }

  async function token(req, res, form) {
    const app = client(req);
    if (!app) return refuse(res, 'invalid_client', 'authenticate as the agent app (client_secret_basic)', 401);
    const grant = form.get('grant_type');
    if (grant === 'password') {
      const employee = EMPLOYEES.find((e) => e.username === form.get('username'));
      if (!employee || !same(form.get('password') ?? '', employeePassword)) return refuse(res, 'invalid_grant', 'unknown employee or wrong password');
      const { sub, email, name } = employee;
      const idToken = await sign({ sub, aud: app, email, email_verified: true, name }, 'JWT', 600);
      return json(res, 200, { id_token: idToken, token_type: 'N_A', issued_token_type: ID_TOKEN_TYPE, expires_in: 600 });
    }
    if (grant !== TOKEN_EXCHANGE) return refuse(res, 'unsupported_grant_type', 'password or token exchange');
    if (form.get('requested_token_type') !== ID_JAG_TOKEN_TYPE) return refuse(res, 'invalid_request', `requested_token_type must be ${ID_JAG_TOKEN_TYPE}`);
    if (form.get('subject_token_type') !== ID_TOKEN_TYPE) return refuse(res, 'invalid_request', `subject_token_type must be ${ID_TOKEN_TYPE}`);
    let employee;
    try {
      ({ payload: employee } = await jwtVerify(form.get('subject_token') ?? '', ownKeys, { issuer: base, audience: app, typ: 'JWT' }));
    } catch (e) {
      return refuse(res, 'invalid_grant', `the subject token is not an ID token of ours for this app: ${e.code ?? e.message}`);
    }
    const audience = form.get('audience');
    if (!audiences.includes(audience)) return refuse(res, 'invalid_target', `Acme issues assertions only for ${audiences.join(', ')}`);
    const resource = form.get('resource') ?? undefined;
    const scope = form.get('scope') ?? undefined;
    const assertion = await sign(
      { sub: employee.sub, aud: audience, client_id: app, email: employee.email, name: employee.name, ...(resource ? { resource } : {}), ...(scope ? { scope } : {}) },
      'oauth-id-jag+jwt',
      300,
    );
    return json(res, 200, { access_token: assertion, issued_token_type: ID_JAG_TOKEN_TYPE, token_type: 'N_A', expires_in: 300, ...(scope ? { scope } : {}) });
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://idp.invalid');
    if (req.method === 'GET' && url.pathname === '/jwks.json') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
      return res.end(JSON.stringify({ keys: [publicJwk] }));
    }
    if (req.method === 'GET' && url.pathname === '/.well-known/oauth-authorization-server') {
      return json(res, 200, {
        issuer: base,
        token_endpoint: `${base}/token`,
        jwks_uri: `${base}/jwks.json`,
        grant_types_supported: ['password', TOKEN_EXCHANGE],
        token_endpoint_auth_methods_supported: ['client_secret_basic'],
      });
    }
    if (req.method === 'POST' && url.pathname === '/token') {
      const chunks = [];
      let size = 0;
      req.on('data', (c) => {
        size += c.length;
        if (size <= 16384) chunks.push(c);
      });
      req.on('end', () => {
        if (size > 16384) return refuse(res, 'invalid_request', 'too large', 413);
        token(req, res, new URLSearchParams(Buffer.concat(chunks).toString())).catch((e) => refuse(res, 'server_error', String(e.message), 500));
      });
      return;
    }
    json(res, 404, { error: 'not_found' });
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  base ??= `http://127.0.0.1:${server.address().port}`;
  return {
    issuer: base,
    async stop() {
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.env.PORT ?? 8792);
  const idp = await startEnterpriseIdp({
    port,
    issuer: process.env.ISSUER || `http://127.0.0.1:${port}`,
    clientId: process.env.CLIENT_ID,
    clientSecret: process.env.CLIENT_SECRET,
    employeePassword: process.env.EMPLOYEE_PASSWORD,
    audiences: (process.env.AUDIENCES ?? '').split(' ').filter(Boolean),
    keyFile: process.env.KEY_FILE || undefined,
  });
  console.log(`enterprise-idp: ${idp.issuer} (Acme; employee ${EMPLOYEES.map((e) => e.username).join(', ')})`);
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => idp.stop().then(() => process.exit(0)));
}

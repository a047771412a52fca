// Upstream identity providers for the federation tests, all on 127.0.0.1:
// - a real OpenID provider (demo/oidc-provider.mjs: the `oidc-provider` package) in its own
//   process, reached through a pass-through proxy that is its issuer URL, so a test can make the
//   provider misbehave at the token endpoint (a wrong nonce or audience, an expired token, a bad
//   signature, re-signed with the provider's own key where the signature must hold) or go silent;
// - a GitHub-shaped OAuth server (authorize, access_token, /user, /user/emails) with GitHub's
//   habits: form-encoded tokens unless JSON is asked for, errors as 200, 403 without User-Agent,
//   PKCE S256 checked, a verified primary email or not.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importJWK, SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import { freePort, node22, root, startProcess, stopProcess, waitFor } from '../../scripts/lib.mjs';
import { FormBrowser } from './browser.mjs';

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

/**
 * Starts the OpenID provider behind its proxy. `accounts` are its users; `redirectUris` the
 * gateway callbacks it accepts. Returns `{ issuer, clientId, clientSecret, misbehave(mode),
 * stop() }`; modes: 'nonce', 'aud', 'expired', 'signature', 'silent', or null.
 */
export async function startOidcProvider({ issuerPort, accounts, redirectUris, clientSecret = randomBytes(18).toString('hex'), alg = 'ES256', authMethod = 'client_secret_basic' }) {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-op-'));
  const jwksFile = join(dir, 'jwks.json');
  const opPort = await freePort();
  const issuer = `http://127.0.0.1:${issuerPort}`;
  const clientId = 'portcullis-e2e';
  const child = startProcess(node22() ?? process.execPath, [join(root, 'demo', 'oidc-provider.mjs')], {
    env: {
      ...process.env,
      PORT: String(opPort),
      ISSUER: issuer,
      CLIENT_ID: clientId,
      CLIENT_SECRET: clientSecret,
      REDIRECT_URIS: redirectUris.join(' '),
      ID_TOKEN_ALG: alg,
      TOKEN_AUTH_METHOD: authMethod,
      JWKS_FILE: jwksFile,
      TEST_ACCOUNTS: JSON.stringify(accounts),
    },
    name: 'oidc-provider',
  });
  await waitFor(`http://127.0.0.1:${opPort}/.well-known/openid-configuration`, { timeoutMs: 20000, process: child });
  const keys = JSON.parse(readFileSync(jwksFile, 'utf8')).keys;
  let mode = null;

  const mutate = async (idToken) => {
    const header = decodeProtectedHeader(idToken);
    const claims = decodeJwt(idToken);
    if (mode === 'signature') {
      const [h, p, s] = idToken.split('.');
      const flipped = (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
      return `${h}.${p}.${flipped}`;
    }
    const now = Math.floor(Date.now() / 1000);
    if (mode === 'nonce') claims.nonce = 'not-the-flows-nonce';
    if (mode === 'aud') claims.aud = 'another-client';
    if (mode === 'expired') Object.assign(claims, { iat: now - 7200, exp: now - 3600 });
    const jwk = keys.find((k) => k.kid === header.kid);
    return new SignJWT(claims).setProtectedHeader(header).sign(await importJWK(jwk, header.alg));
  };

  const proxy = createServer((req, res) => {
    if (mode === 'silent') return; // Never answers: the gateway's deadline must end the wait.
    const upstream = httpRequest({ host: '127.0.0.1', port: opPort, method: req.method, path: req.url, headers: req.headers }, async (answer) => {
      const rewrite = mode && req.method === 'POST' && req.url.startsWith('/token');
      if (!rewrite) {
        res.writeHead(answer.statusCode, answer.headers);
        answer.pipe(res);
        return;
      }
      const chunks = [];
      for await (const chunk of answer) chunks.push(chunk);
      const body = JSON.parse(Buffer.concat(chunks).toString());
      if (body.id_token) body.id_token = await mutate(body.id_token);
      const text = JSON.stringify(body);
      res.writeHead(answer.statusCode, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise((resolve) => proxy.listen(issuerPort, '127.0.0.1', resolve));
  return {
    issuer,
    clientId,
    clientSecret,
    misbehave(next) {
      mode = next;
    },
    async stop() {
      proxy.closeAllConnections?.();
      await new Promise((resolve) => proxy.close(resolve));
      await stopProcess(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A GitHub-shaped OAuth app server. `users` by login: `{ id, name, emails: [{email, primary,
 * verified}] }`. Its authorize page asks which login to sign in as (a form, like GitHub's own
 * consent page); `requests` records every API call's User-Agent. With `expiresIn`, tokens expire
 * as a GitHub App's do, with a refresh token that rotates on use; `issued` lists every access
 * token handed out and `refreshes` counts the refresh grants.
 */
export async function startGitHubStandIn({ users, expiresIn }) {
  const clientId = 'Iv1.e2e';
  const clientSecret = randomBytes(18).toString('hex');
  const codes = new Map();
  const tokens = new Map();
  const requests = [];
  const issued = [];
  const refreshTokens = new Map();
  let refreshes = 0;
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const form = new URLSearchParams(Buffer.concat(chunks).toString());
    const send = (status, type, body, headers = {}) => {
      res.writeHead(status, { 'content-type': type, ...headers });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    if (url.pathname === '/login/oauth/authorize' && req.method === 'GET') {
      const q = url.searchParams;
      if (q.get('client_id') !== clientId) return send(404, 'text/html', '<p>Unknown application</p>');
      if (q.get('code_challenge_method') !== 'S256') return send(400, 'text/html', '<p>PKCE S256 expected</p>');
      const hidden = [...q].map(([k, v]) => `<input type="hidden" name="${k}" value="${v.replaceAll('"', '&quot;')}">`).join('');
      return send(200, 'text/html', `<!doctype html><title>Authorize</title><form method="post" action="/login/oauth/authorize">${hidden}<label>Login <input name="login" id="login"></label><button type="submit" name="decision" value="allow">Authorize</button><button type="submit" name="decision" value="deny">Cancel</button></form>`);
    }
    if (url.pathname === '/login/oauth/authorize' && req.method === 'POST') {
      const redirect = new URL(form.get('redirect_uri'));
      redirect.searchParams.set('state', form.get('state'));
      if (form.get('decision') !== 'allow') {
        redirect.searchParams.set('error', 'access_denied');
        redirect.searchParams.set('error_description', 'The user has denied your application access.');
      } else {
        const code = randomBytes(10).toString('hex');
        codes.set(code, { login: form.get('login'), challenge: form.get('code_challenge'), redirectUri: form.get('redirect_uri') });
        redirect.searchParams.set('code', code);
      }
      res.writeHead(302, { location: redirect.toString() });
      return res.end();
    }
    if (url.pathname === '/login/oauth/access_token' && req.method === 'POST') {
      const json = (req.headers.accept ?? '').includes('application/json');
      const reply = (fields) => (json ? send(200, 'application/json', fields) : send(200, 'application/x-www-form-urlencoded', new URLSearchParams(fields).toString()));
      const basic = (req.headers.authorization ?? '').replace(/^Basic /, '');
      const [id, secret] = basic ? Buffer.from(basic, 'base64').toString().split(':').map(decodeURIComponent) : [form.get('client_id'), form.get('client_secret')];
      if (id !== clientId || secret !== clientSecret) return reply({ error: 'incorrect_client_credentials', error_description: 'The client_id and/or client_secret passed are incorrect.' });
      const mint = (login) => {
        const token = `gho_${randomBytes(16).toString('hex')}`;
        tokens.set(token, login);
        issued.push(token);
        const fields = { access_token: token, scope: 'read:user,user:email', token_type: 'bearer' };
        if (expiresIn) {
          const refresh = `ghr_${randomBytes(16).toString('hex')}`;
          refreshTokens.set(refresh, login);
          Object.assign(fields, { expires_in: String(expiresIn), refresh_token: refresh, refresh_token_expires_in: '15897600' });
        }
        return fields;
      };
      if (form.get('grant_type') === 'refresh_token') {
        refreshes += 1;
        const login = refreshTokens.get(form.get('refresh_token'));
        refreshTokens.delete(form.get('refresh_token'));
        if (!login) return reply({ error: 'bad_refresh_token', error_description: 'The refresh token passed is incorrect or expired.' });
        return reply(mint(login));
      }
      const grant = codes.get(form.get('code'));
      codes.delete(form.get('code'));
      const verifier = form.get('code_verifier') ?? '';
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      if (!grant || grant.redirectUri !== form.get('redirect_uri') || grant.challenge !== challenge) {
        return reply({ error: 'bad_verification_code', error_description: 'The code passed is incorrect or expired.' });
      }
      return reply(mint(grant.login));
    }
    if (url.pathname === '/user' || url.pathname === '/user/emails') {
      requests.push({ path: url.pathname, userAgent: req.headers['user-agent'] ?? null });
      if (!req.headers['user-agent']) return send(403, 'text/plain', 'Request forbidden by administrative rules. Please make sure your request has a User-Agent header');
      const login = tokens.get((req.headers.authorization ?? '').replace(/^Bearer /, ''));
      const user = users[login];
      if (!user) return send(401, 'application/json', { message: 'Bad credentials' });
      if (url.pathname === '/user') return send(200, 'application/json', { login, id: user.id, name: user.name, email: null });
      return send(200, 'application/json', user.emails.map((e) => ({ visibility: null, ...e })));
    }
    send(404, 'application/json', { message: 'Not Found' });
  });
  const port = await listen(server);
  const base = `http://127.0.0.1:${port}`;
  return {
    clientId,
    clientSecret,
    requests,
    issued,
    get refreshes() {
      return refreshes;
    },
    provider: {
      authorization_endpoint: `${base}/login/oauth/authorize`,
      token_endpoint: `${base}/login/oauth/access_token`,
      api_base_url: base,
    },
    async stop() {
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * Walks an OpenID provider's side of a sign-in without a browser, from the authorization URL the
 * gateway sent the user to: its redirects and its development sign-in form (as `login`, any
 * password). Returns the URL it sends the user back to on `gatewayPort`.
 */
export async function providerCallback({ issuer, authorizationUrl, login, gatewayPort }) {
  const jar = new FormBrowser(issuer);
  let res = await jar.get(authorizationUrl.toString());
  while (res.status === 303 || res.status === 302) {
    const next = new URL(res.headers.get('location'), issuer);
    if (next.port === String(gatewayPort)) return next;
    res = await jar.get(next.toString());
    if (res.status === 200 && res.text_.includes('name="login"')) {
      const action = res.text_.match(/action="([^"]+)"/)[1];
      res = await jar.post(new URL(action, issuer).toString(), { prompt: 'login', login, password: 'any' });
    }
  }
  throw new Error(`the provider did not send the browser back: ${res.status} ${res.text_.slice(0, 300)}`);
}

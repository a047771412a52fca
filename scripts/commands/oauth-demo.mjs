// Walks the whole OAuth flow against a running gateway with a standard client library
// (oauth4webapi), as a public client with PKCE and a loopback redirect (RFC 8252):
//   discovery → authorize (you sign in and consent in your browser) → code exchange →
//   call the protected API → refresh → revoke.
import { createServer } from 'node:http';
import * as oauth from 'oauth4webapi';
import { CommandError } from '../cli.mjs';

/** `node scripts/oauth-demo.mjs`: the flags are described in that entry. */
export async function main({ values }) {
  let issuer;
  try {
    issuer = new URL(values['base-url']);
  } catch {
    throw new CommandError(`--base-url ${JSON.stringify(values['base-url'])} is not a URL`);
  }
  const insecure = { [oauth.allowInsecureRequests]: issuer.protocol === 'http:' };
  const client = { client_id: 'portcullis-cli' };
  const clientAuth = oauth.None();

  let discovery;
  try {
    discovery = await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure });
  } catch (e) {
    throw new CommandError(`no gateway answers at ${issuer.origin} (${e.cause?.code ?? e.message}): start one with npm start`);
  }
  const as = await oauth.processDiscoveryResponse(issuer, discovery);
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();

  // The loopback listener that receives the redirect, on a port the OS picks.
  const callback = await new Promise((resolve) => {
    const server = createServer((req, res) => {
      const url = new URL(req.url, `http://127.0.0.1:${server.address().port}`);
      if (url.pathname !== '/callback') return res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'text/plain' }).end('Done: you can close this tab and go back to the terminal.\n');
      server.close();
      resolve(url);
    });
    server.listen(0, '127.0.0.1', async () => {
      const redirectUri = `http://127.0.0.1:${server.address().port}/callback`;
      const url = new URL(as.authorization_endpoint);
      url.search = new URLSearchParams({
        response_type: 'code',
        client_id: client.client_id,
        redirect_uri: redirectUri,
        scope: 'todos:read todos:write',
        state,
        code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      });
      server.redirectUri = redirectUri;
      console.log(`Open this URL in your browser, sign in as the demo user and allow access:\n\n  ${url}\n`);
    });
  });

  const redirectUri = `${callback.origin}/callback`;
  const params = oauth.validateAuthResponse(as, client, callback, state);
  const tokens = await oauth.processAuthorizationCodeResponse(as, client,
    await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, redirectUri, verifier, insecure));
  console.log(`tokens: scope "${tokens.scope}", expires in ${tokens.expires_in} s`);

  const api = await fetch(new URL('/todos', issuer), { headers: { authorization: `Bearer ${tokens.access_token}` } });
  console.log(`GET /todos → ${api.status} ${await api.text()}`);

  const refreshed = await oauth.processRefreshTokenResponse(as, client,
    await oauth.refreshTokenGrantRequest(as, client, clientAuth, tokens.refresh_token, insecure));
  console.log('refreshed: new access and refresh tokens issued, the old refresh token is now spent');

  await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, clientAuth, refreshed.refresh_token, insecure));
  const after = await fetch(as.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshed.refresh_token, client_id: client.client_id }),
  });
  console.log(`revoked: refreshing again → ${after.status} ${(await after.json()).error}`);
}

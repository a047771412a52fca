// What the demo's example scripts share (scripts/commands/exchange-demo.mjs, id-jag-demo.mjs,
// dpop-demo.mjs, agent-demo.mjs): their flags' URLs and secrets read as CommandErrors, numbered
// steps that print what was sent and what the gateway answered, discovery from a protected
// resource's 401 (RFC 9728), and an authorization in the browser with a loopback redirect
// (RFC 8252) as scripts/oauth-demo.mjs does it. Secrets come from .dev.vars and are never printed;
// neither are tokens (their claims are).
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import * as oauth from 'oauth4webapi';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { CommandError, UsageError } from './cli.mjs';
import { parseDevVars } from './lib.mjs';

/** `value` of `--flag` as a URL, or a UsageError naming the flag. */
export function urlFlag(flag, value) {
  if (!URL.canParse(value)) throw new UsageError(`--${flag} ${JSON.stringify(value)} is not a URL`);
  return new URL(value);
}

/** The named secrets from the .dev.vars file at `path` (npm start writes it). */
export function devVars(path, names) {
  if (!existsSync(path)) throw new CommandError(`no ${path}: run npm start once (it writes the demo's secrets there), or pass --dev-vars`);
  const vars = parseDevVars(readFileSync(path, 'utf8'));
  const missing = names.filter((n) => !vars[n]);
  if (missing.length > 0) throw new CommandError(`${path} has no ${missing.join(', ')}: run npm start again (it adds missing secrets)`);
  return vars;
}

/** oauth4webapi's option for http issuers, which only local demos have. */
export function insecureFor(url) {
  return { [oauth.allowInsecureRequests]: new URL(url).protocol === 'http:' };
}

let counter = 0;
/** Prints step N: `text`. */
export function step(text) {
  counter += 1;
  console.log(`\n${counter}. ${text}`);
}

/** Prints an indented line (what was sent, what came back). */
export function say(text) {
  for (const line of String(text).split('\n')) console.log(`   ${line}`);
}

/** `METHOD url → status`, and the JSON body's error when there is one. */
export async function answered(label, res) {
  const text = await res.text();
  let body = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  const error = body && typeof body === 'object' && body.error ? `: ${body.error}${body.error_description ? ` (${body.error_description})` : ''}` : '';
  say(`${label} → ${res.status}${error}`);
  const challenge = res.headers.get('www-authenticate');
  if (challenge && res.status === 401) say(`   WWW-Authenticate: ${challenge}`);
  return { status: res.status, body, headers: res.headers };
}

/** A JWT's header and claims, for printing (never the token itself). */
export function claimsOf(jwt) {
  return { header: decodeProtectedHeader(jwt), claims: decodeJwt(jwt) };
}

/** Runs `fetch`, turning "nothing listens there" into a CommandError that says what to start. */
export async function reach(what, url, run) {
  try {
    return await run();
  } catch (e) {
    if (e instanceof CommandError) throw e;
    let code;
    for (let cause = e; cause && !code; cause = cause.cause) code = cause.code;
    if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || e.name === 'TypeError') {
      throw new CommandError(`no ${what} answers at ${new URL(url).origin} (${code ?? e.message}): start the demo with npm start`);
    }
    throw e;
  }
}

/**
 * Finds the authorization server of a protected resource as an MCP client does: an
 * unauthenticated call answers 401 naming the resource's metadata (RFC 9728), which names the
 * authorization server, whose metadata (RFC 8414) is read. Returns `{ resource, as }`.
 */
export async function discoverFromResource(resourceUrl) {
  const first = await reach('gateway', resourceUrl, () => fetch(resourceUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }));
  await first.arrayBuffer();
  const metadataUrl = /resource_metadata="([^"]+)"/.exec(first.headers.get('www-authenticate') ?? '')?.[1];
  if (first.status !== 401 || !metadataUrl) throw new CommandError(`${resourceUrl} answered ${first.status} without naming its metadata: is it the demo MCP server?`);
  say(`POST ${resourceUrl} (no token) → 401, resource_metadata="${metadataUrl}"`);
  const resource = await (await fetch(metadataUrl)).json();
  const issuer = new URL(resource.authorization_servers[0]);
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecureFor(issuer) }));
  say(`resource ${resource.resource}, authorization server ${as.issuer}`);
  return { resource, as };
}

/** The authorization server at `issuer` (RFC 8414). */
export async function discoverIssuer(issuer) {
  const response = await reach('gateway', issuer, () => oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecureFor(issuer) }));
  return oauth.processDiscoveryResponse(issuer, response);
}

/**
 * Sends the user to `as`'s authorization endpoint with `params` (PKCE S256 and state added) and
 * waits on a loopback listener for the redirect: prints the URL to open. Returns
 * `{ params, redirectUri, verifier }` for the code exchange (`params` validated: state, iss).
 */
export async function authorizeInBrowser(as, client, params) {
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const challenge = await oauth.calculatePKCECodeChallenge(verifier);
  const { callback, redirectUri } = await new Promise((resolve, reject) => {
    let redirect;
    const server = createServer((req, res) => {
      const url = new URL(req.url, redirect);
      if (url.pathname !== '/callback') return res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'text/plain' }).end('Done: you can close this tab and go back to the terminal.\n');
      server.close();
      resolve({ callback: url, redirectUri: redirect });
    });
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      redirect = `http://127.0.0.1:${server.address().port}/callback`;
      const url = new URL(as.authorization_endpoint);
      url.search = new URLSearchParams({
        response_type: 'code',
        client_id: client.client_id,
        redirect_uri: redirect,
        state,
        code_challenge: challenge,
        code_challenge_method: 'S256',
        ...params,
      });
      say(`Open this URL in your browser, sign in as the demo user and allow access:\n\n  ${url}\n`);
    });
  });
  return { params: oauth.validateAuthResponse(as, client, callback, state), redirectUri, verifier };
}

/**
 * Calls the demo MCP server's `whoami` tool with `accessToken`, as an MCP client (the official
 * SDK) would: returns what the server says the gateway told it (`{ user, client, scopes }`).
 */
export async function mcpWhoami(mcpUrl, accessToken) {
  const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
  const { StreamableHTTPClientTransport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
  const client = new Client({ name: 'portcullis-demo-script', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { requestInit: { headers: { authorization: `Bearer ${accessToken}` } } }));
  try {
    return JSON.parse((await client.callTool({ name: 'whoami', arguments: {} })).content[0].text);
  } finally {
    await client.close();
  }
}

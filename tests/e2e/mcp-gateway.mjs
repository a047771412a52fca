// One gateway in front of the demo MCP server (demo/mcp-origin.mjs, built on the official MCP
// SDK), as an MCP server owner configures it: the server's URL is the resource (RFC 8707), and
// the MCP endpoint takes GET, POST and DELETE with the todo scope.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startGateway } from './harness.mjs';
import { FormBrowser, decide, signIn } from './browser.mjs';
import { freePort, root, startProcess, stopProcess, waitFor } from '../../scripts/lib.mjs';
import { benchPlugin } from '../../scripts/bench-plugin.mjs';

export async function startMcpGateway({ vars = {}, routes = [{ path: '/mcp', methods: ['GET', 'POST', 'DELETE'], scopes: ['todos:read'] }] } = {}) {
  const mcpPort = await freePort();
  const originUrl = `http://127.0.0.1:${mcpPort}`;
  const mcp = startProcess(process.execPath, [join(root, 'demo', 'mcp-origin.mjs')], {
    env: { ...process.env, PORT: String(mcpPort) },
    name: 'mcp-origin',
  });
  let gw;
  try {
    await waitFor(`${originUrl}/__requests`, { timeoutMs: 10000, process: mcp });
    gw = await startGateway({
      plugin: ({ baseUrl }) => ({
        ...benchPlugin,
        name_for_model: 'todo_mcp',
        auth: { type: 'oauth', scope: 'todos:read' },
        resource: `${baseUrl}/mcp`,
        routes,
      }),
      vars: { ORIGIN_URL: originUrl, ...vars },
    });
    const mcpUrl = new URL(`${gw.baseUrl}/mcp`);
    // The seeded todo resource becomes the MCP server's.
    const res = await fetch(`${gw.baseUrl}/admin/api/resources/res_todos`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${gw.secrets.ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ indicator: mcpUrl.href }),
    });
    assert.equal(res.status, 200, await res.text());
    return {
      gw,
      mcpUrl,
      /** What reached the MCP server since it started. */
      originRequests: async () => (await fetch(`${originUrl}/__requests`)).json(),
      stop: async () => {
        await gw.stop();
        await stopProcess(mcp);
      },
    };
  } catch (e) {
    await gw?.stop();
    await stopProcess(mcp);
    throw e;
  }
}

/** The SDK's OAuthClientProvider, kept in memory as a CLI client would keep it on disk. */
export class MemoryProvider {
  constructor(redirectUrl) {
    this.redirect = redirectUrl;
    this.saved = {};
    this.authorizationUrl = undefined;
  }
  get redirectUrl() {
    return this.redirect;
  }
  get clientMetadata() {
    return {
      client_name: 'MCP SDK end-to-end',
      redirect_uris: [this.redirect],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  clientInformation() {
    return this.saved.client;
  }
  saveClientInformation(info) {
    this.saved.client = info;
  }
  tokens() {
    return this.saved.tokens;
  }
  saveTokens(tokens) {
    this.saved.tokens = tokens;
  }
  redirectToAuthorization(url) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(verifier) {
    this.saved.verifier = verifier;
  }
  codeVerifier() {
    return this.saved.verifier;
  }
}

/** Plays the user: signs in and allows on the consent page; returns the code. */
export async function approve(gw, authorizationUrl) {
  // The authorization server is the host the client was sent to (several plugins may share a gateway).
  const browser = new FormBrowser(new URL(authorizationUrl).origin);
  const login = await browser.get(authorizationUrl);
  assert.equal(login.status, 200, login.text_);
  const signedIn = await signIn(browser, login, 'demo@example.com', gw.secrets.DEMO_PASSWORD);
  assert.equal(signedIn.status, 303, signedIn.text_);
  const consent = await browser.get(signedIn.headers.get('location'));
  assert.equal(consent.status, 200, consent.text_);
  assert.match(consent.text_, /MCP SDK end-to-end/);
  const back = await decide(browser, consent);
  assert.equal(back.status, 303, back.text_);
  const callback = new URL(back.headers.get('location'));
  assert.equal(callback.searchParams.get('iss'), new URL(authorizationUrl).origin);
  return callback.searchParams.get('code');
}

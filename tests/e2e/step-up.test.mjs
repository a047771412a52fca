// Step-up authorization (MCP 2025-11-25, "scope challenge handling"), end to end with the official
// MCP SDK: a client holding a token with todos:read calls a route that needs todos:write too; the
// gateway answers 403 insufficient_scope naming the scopes the route needs; the SDK authorizes
// again for them; the user is asked only for the new scope (incremental consent, the old one is
// listed as already allowed); and the call succeeds with the wider token. Reconnecting afterwards
// asks nothing at all (remembered consent).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError, auth } from '@modelcontextprotocol/sdk/client/auth.js';
import { MemoryProvider, startMcpGateway } from './mcp-gateway.mjs';
import { FormBrowser, decide, signIn } from './browser.mjs';

let server;
let gw;
let mcpUrl;
before(async () => {
  server = await startMcpGateway({
    routes: [
      { path: '/mcp', methods: ['GET', 'DELETE'], scopes: ['todos:read'] },
      { path: '/mcp', methods: ['POST'], scopes: ['todos:read', 'todos:write'] },
    ],
  });
  ({ gw, mcpUrl } = server);
});
after(async () => {
  await server?.stop();
});

/**
 * The SDK, when it holds a refresh token, answers a 403 by refreshing, which cannot widen a
 * grant (RFC 6749 §6), and then gives up; a client that keeps no refresh token re-authorizes,
 * which is the step-up this test is about.
 */
class NoRefreshProvider extends MemoryProvider {
  saveTokens(tokens) {
    const { refresh_token: _dropped, ...kept } = tokens;
    this.saved.tokens = kept;
  }
}

/** Signs in (the browser keeps its session across calls) and returns the consent page, or the code when nothing is asked. */
async function visit(browser, authorizationUrl) {
  let page = await browser.get(authorizationUrl.href);
  if (page.text_.includes('action="/login"')) {
    const signedIn = await signIn(browser, page, 'demo@example.com', gw.secrets.DEMO_PASSWORD);
    page = await browser.get(signedIn.headers.get('location'));
  }
  if (page.status === 302) return { code: new URL(page.headers.get('location')).searchParams.get('code') };
  assert.equal(page.status, 200, page.text_);
  return { consent: page };
}

const claims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());

test('a 403 insufficient_scope makes the MCP SDK authorize again, and the user is asked only for the new scope', async () => {
  const browser = new FormBrowser(gw.baseUrl);
  const provider = new NoRefreshProvider('http://127.0.0.1:33418/callback');
  // The client starts with read access only.
  assert.equal(await auth(provider, { serverUrl: mcpUrl, scope: 'todos:read' }), 'REDIRECT');
  const first = await visit(browser, provider.authorizationUrl);
  assert.match(first.consent.text_, /todos:read/);
  assert.doesNotMatch(first.consent.text_, /todos:write/);
  const back = await decide(browser, first.consent);
  const code = new URL(back.headers.get('location')).searchParams.get('code');
  assert.equal(await auth(provider, { serverUrl: mcpUrl, authorizationCode: code }), 'AUTHORIZED');
  assert.equal(claims(provider.tokens().access_token).scope, 'todos:read');

  // The call needs todos:write too: 403, and the SDK asks for the scopes the challenge names.
  const direct = await fetch(mcpUrl, {
    method: 'POST',
    headers: { authorization: `Bearer ${provider.tokens().access_token}`, 'content-type': 'application/json' },
    body: '{}',
  });
  assert.equal(direct.status, 403);
  assert.match(direct.headers.get('www-authenticate'), /error="insufficient_scope"/);
  assert.match(direct.headers.get('www-authenticate'), /scope="todos:read todos:write"/);
  const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
  await assert.rejects(new Client({ name: 'step-up', version: '1' }).connect(transport), UnauthorizedError);
  assert.equal(provider.authorizationUrl.searchParams.get('scope'), 'todos:read todos:write');

  // Incremental consent: only todos:write is asked; todos:read is listed as already allowed.
  const second = await visit(browser, provider.authorizationUrl);
  const asked = second.consent.text_.split('You already allowed it to')[0];
  assert.match(asked, /todos:write/);
  assert.doesNotMatch(asked, /todos:read/);
  assert.match(second.consent.text_, /You already allowed it to:[\s\S]*todos:read/);
  const allowed = await decide(browser, second.consent);
  await transport.finishAuth(new URL(allowed.headers.get('location')).searchParams.get('code'));
  assert.deepEqual(claims(provider.tokens().access_token).scope.split(' ').sort(), ['todos:read', 'todos:write']);

  const client = new Client({ name: 'step-up', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }));
  const who = JSON.parse((await client.callTool({ name: 'whoami', arguments: {} })).content[0].text);
  assert.equal(who.scopes, 'todos:read todos:write');
  await client.close();

  // Reconnecting later asks nothing: the consent is remembered.
  assert.equal(await auth(provider, { serverUrl: mcpUrl, scope: 'todos:read todos:write' }), 'REDIRECT');
  const again = await visit(browser, provider.authorizationUrl);
  assert.ok(again.code, 'straight back to the client with a code');
});

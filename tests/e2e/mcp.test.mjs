// A remote MCP server behind the gateway, driven by the official MCP TypeScript SDK client and its
// OAuth support, exactly as an MCP client behaves: an unauthenticated call gets a 401 naming the
// protected-resource metadata; the SDK discovers the authorization server, registers itself
// (RFC 7591), sends the user to authorize with PKCE and the resource, exchanges the code, calls
// tools through the gateway (the answers stream back as server-sent events), and refreshes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError, auth } from '@modelcontextprotocol/sdk/client/auth.js';
import { MemoryProvider, approve, startMcpGateway } from './mcp-gateway.mjs';

let gw;
let mcpUrl;
let originRequests;
let server;
before(async () => {
  server = await startMcpGateway();
  ({ gw, mcpUrl, originRequests } = server);
});
after(async () => {
  await server?.stop();
});

const claims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());

describe('an MCP server behind the gateway, with the official MCP SDK client', () => {
  const provider = new MemoryProvider('http://127.0.0.1:33418/callback');

  test('an unauthenticated MCP request is a 401 that leads to the metadata', async () => {
    const res = await fetch(mcpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    assert.equal(res.status, 401);
    const challenge = res.headers.get('www-authenticate');
    assert.match(challenge, /resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp"/);
    assert.match(challenge, /scope="todos:read"/);
    const prm = await (await fetch(challenge.match(/resource_metadata="([^"]+)"/)[1])).json();
    assert.equal(prm.resource, mcpUrl.href);
    assert.deepEqual(prm.authorization_servers, [gw.baseUrl]);
    assert.ok(!prm.scopes_supported.includes('offline_access'));
    assert.deepEqual(await originRequests(), [], 'nothing reached the MCP server');
  });

  test('the SDK discovers, registers, authorizes with PKCE, and calls tools through the gateway', async () => {
    const first = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
    const client = new Client({ name: 'portcullis-e2e', version: '1.0.0' });
    await assert.rejects(client.connect(first), UnauthorizedError);
    assert.match(provider.clientInformation().client_id, /^dcr_/, 'registered dynamically');
    const authorizationUrl = provider.authorizationUrl;
    assert.equal(authorizationUrl.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(authorizationUrl.searchParams.get('resource'), mcpUrl.href);
    await first.finishAuth(await approve(gw, authorizationUrl));
    const token = provider.tokens().access_token;
    assert.equal(claims(token).aud, mcpUrl.href);
    assert.equal(claims(token).scope, 'todos:read');

    const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
    const connected = new Client({ name: 'portcullis-e2e', version: '1.0.0' });
    await connected.connect(transport);
    try {
      const { tools } = await connected.listTools();
      assert.deepEqual(tools.map((t) => t.name).sort(), ['count', 'whoami']);
      const who = JSON.parse((await connected.callTool({ name: 'whoami', arguments: {} })).content[0].text);
      assert.equal(who.user, 'usr_demo');
      assert.equal(who.client, provider.clientInformation().client_id);
      assert.equal(who.scopes, 'todos:read');

      // Progress arrives while the tool is still running: the event stream is not buffered.
      const seen = [];
      const started = Date.now();
      const counted = await connected.callTool({ name: 'count', arguments: { n: 5 } }, undefined, {
        onprogress: (p) => seen.push({ progress: p.progress, at: Date.now() - started }),
      });
      const finished = Date.now() - started;
      assert.equal(counted.content[0].text, 'counted to 5');
      assert.deepEqual(seen.map((s) => s.progress), [1, 2, 3, 4, 5]);
      assert.ok(finished - seen[0].at >= 400, `first progress at ${seen[0].at} ms, result at ${finished} ms`);
    } finally {
      await connected.close();
    }
    const reached = await originRequests();
    assert.ok(reached.length > 0);
    for (const r of reached) {
      assert.equal(r.headers.authorization, undefined, 'the caller’s token never reaches the MCP server');
      assert.equal(r.headers['x-portcullis-user'], 'usr_demo');
      assert.ok(r.headers['x-portcullis-assertion']);
    }
  });

  test('the SDK refreshes, the new token works, and the old refresh token is spent', async () => {
    const before = provider.tokens();
    assert.ok(before.refresh_token);
    assert.equal(await auth(provider, { serverUrl: mcpUrl }), 'AUTHORIZED');
    const after = provider.tokens();
    assert.notEqual(after.access_token, before.access_token);
    assert.notEqual(after.refresh_token, before.refresh_token, 'rotated');

    const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
    const client = new Client({ name: 'portcullis-e2e', version: '1.0.0' });
    await client.connect(transport);
    const who = JSON.parse((await client.callTool({ name: 'whoami', arguments: {} })).content[0].text);
    assert.equal(who.user, 'usr_demo');
    await client.close();

    // Replaying the spent refresh token revokes the grant (RFC 9700 §4.14.2).
    const replay = await fetch(`${gw.baseUrl}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: before.refresh_token, client_id: provider.clientInformation().client_id }),
    });
    assert.equal(replay.status, 400);
    assert.equal((await replay.json()).error, 'invalid_grant');
  });
});

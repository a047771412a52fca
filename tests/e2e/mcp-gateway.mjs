// One gateway in front of the demo MCP server (demo/mcp-origin.mjs, built on the official MCP
// SDK), as an MCP server owner configures it: the server's URL is the resource (RFC 8707), and
// the MCP endpoint takes GET, POST and DELETE with the todo scope.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startGateway } from './harness.mjs';
import { freePort, root, startProcess, stopProcess, waitFor } from '../../scripts/lib.mjs';
import { benchPlugin } from '../../scripts/bench-plugin.mjs';

export async function startMcpGateway({ vars = {} } = {}) {
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
        routes: [{ path: '/mcp', methods: ['GET', 'POST', 'DELETE'], scopes: ['todos:read'] }],
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

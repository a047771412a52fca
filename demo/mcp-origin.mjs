// A demo remote MCP server (Streamable HTTP, stateless) for Portcullis to front: built with the
// official MCP TypeScript SDK. It trusts the identity headers the gateway sets and refuses calls
// without them, and it answers tool calls as server-sent events, with a progress notification
// per step, so tests can see the gateway stream them unbuffered. Every request is recorded at
// GET /__requests.
//
//   PORT=8789 node demo/mcp-origin.mjs
import { createServer } from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

const port = Number(process.env.PORT ?? 8789);
const recorded = [];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function mcpServer() {
  const server = new McpServer({ name: 'portcullis-demo-mcp', version: '1.0.0' });
  server.registerTool(
    'whoami',
    { description: 'Who the gateway says is calling.', inputSchema: {} },
    async (_args, extra) => {
      const h = extra.requestInfo?.headers ?? {};
      const who = { user: h['x-portcullis-user'], client: h['x-portcullis-client'], scopes: h['x-portcullis-scopes'] };
      return { content: [{ type: 'text', text: JSON.stringify(who) }] };
    },
  );
  server.registerTool(
    'count',
    {
      description: 'Counts to n, one progress notification every 150 ms.',
      inputSchema: { n: z.number().int().min(1).max(20) },
    },
    async ({ n }, extra) => {
      const progressToken = extra._meta?.progressToken;
      for (let i = 1; i <= n; i++) {
        await sleep(150);
        if (progressToken !== undefined) {
          await extra.sendNotification({ method: 'notifications/progress', params: { progressToken, progress: i, total: n } });
        }
      }
      return { content: [{ type: 'text', text: `counted to ${n}` }] };
    },
  );
  return server;
}

createServer(async (req, res) => {
  const path = new URL(req.url, 'http://origin.invalid').pathname;
  if (path === '/__requests') {
    if (req.method === 'DELETE') recorded.length = 0;
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify(recorded));
  }
  recorded.push({ method: req.method, path: req.url, headers: req.headers });
  if (recorded.length > 1000) recorded.shift();
  if (path !== '/mcp') {
    res.writeHead(404, { 'content-type': 'application/json' });
    return res.end('{"error":"not_found"}');
  }
  if (!req.headers['x-portcullis-user']) {
    res.writeHead(401, { 'content-type': 'application/json' });
    return res.end('{"error":"this MCP server is only reachable through Portcullis"}');
  }
  const server = mcpServer();
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  res.on('close', () => {
    transport.close();
    server.close();
  });
  try {
    await server.connect(transport);
    await transport.handleRequest(req, res);
  } catch (e) {
    if (!res.headersSent) {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: String(e) }));
    }
  }
}).listen(port, '127.0.0.1', () => console.log(`demo MCP origin on http://127.0.0.1:${port}/mcp`));

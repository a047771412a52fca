#!/usr/bin/env node
// The bundled demo origin: a small todo API that trusts the identity Portcullis forwards
// (X-Portcullis-User). It binds 127.0.0.1 only. Todos persist in a JSON file so they survive a
// restart. Every request is recorded (method, path, headers) and readable at GET /__requests on
// the origin itself, so tests can assert on exactly what reached the origin.
//
//   PORT=8788 DATA_FILE=.wrangler/demo-origin.json node demo/origin.mjs
import { createServer } from 'node:http';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomUUID } from 'node:crypto';

const port = Number(process.env.PORT ?? 8788);
const dataFile = process.env.DATA_FILE ?? '';
const MAX_BODY = 64 * 1024;

let todos = {};
if (dataFile) {
  try {
    todos = JSON.parse(readFileSync(dataFile, 'utf8'));
  } catch {
    todos = {};
  }
}
const recorded = [];

const ORIGIN_OPENAPI_YAML = `openapi: 3.1.0
info:
  title: Todo Demo (described by the origin)
  version: '1.0'
servers:
  - url: http://127.0.0.1:{{PORT}}
    description: the todo API
paths:
  /todos:
    get:
      operationId: listTodos
      summary: List the user's todos
      responses:
        200:
          description: The todos
          content:
            application/json:
              schema:
                type: array
                items: &todo
                  type: object
                  properties:
                    id: { type: string }
                    title: { type: string }
                    done: { type: boolean }
  /todos/{id}:
    get:
      operationId: getTodo
      summary: One todo
      parameters:
        - { name: id, in: path, required: true, schema: { type: string } }
      responses:
        200:
          description: The todo
          content:
            application/json:
              schema: *todo
`;

function save() {
  if (!dataFile) return;
  mkdirSync(dirname(dataFile), { recursive: true });
  writeFileSync(`${dataFile}.tmp`, JSON.stringify(todos));
  renameSync(`${dataFile}.tmp`, dataFile);
}

function send(res, status, body, headers = {}) {
  const text = body === undefined ? '' : JSON.stringify(body);
  // Calls the API refuses do not count against the user's quota at the gateway.
  const exempt = status >= 400 ? { 'x-portcullis-quota': 'exempt' } : {};
  res.writeHead(status, { 'content-type': 'application/json', ...exempt, ...headers });
  res.end(text);
}

function readJson(req) {
  return new Promise((resolve) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > MAX_BODY) return resolve({ error: 'too large' });
      try {
        resolve({ value: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') });
      } catch {
        resolve({ error: 'invalid JSON' });
      }
    });
  });
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url, 'http://origin.invalid');
  if (url.pathname === '/__requests') {
    if (req.method === 'DELETE') recorded.length = 0;
    return send(res, 200, recorded);
  }
  recorded.push({ method: req.method, path: req.url, headers: req.headers });
  if (recorded.length > 1000) recorded.shift();

  if (url.pathname === '/openapi.yaml') {
    // The origin's own description, in YAML: a gateway with `openapi_origin_path` fetches it,
    // caches it for max-age, and publishes it with its own URL in `servers`.
    res.writeHead(200, { 'content-type': 'application/yaml', 'cache-control': 'max-age=60' });
    return res.end(ORIGIN_OPENAPI_YAML.replace('{{PORT}}', String(port)));
  }
  if (url.pathname === '/public/hello') {
    return send(res, 200, { hello: 'world' });
  }
  if (url.pathname === '/public/agent') {
    // The demo's signed-agent route (`npm start` lets only its trusted agent's signed calls
    // through): the gateway says who signed in X-Portcullis-Agent.
    const agent = req.headers['x-portcullis-agent'];
    return send(res, 200, { agent: agent ?? null, hello: agent ? `a call signed by ${agent}` : 'an unsigned call' });
  }
  if (url.pathname === '/public/egress.json') {
    // A stand-in for OpenAI's published egress list, for the gateway's scheduled refresh.
    const prefixes = (process.env.EGRESS_CIDRS ?? '203.0.113.0/24').split(',').map((c) => (c.includes(':') ? { ipv6Prefix: c } : { ipv4Prefix: c }));
    return send(res, 200, { creationTime: new Date().toISOString(), prefixes });
  }
  if (url.pathname === '/public/cookies') {
    // Tries to set the gateway portal's cookies (by name, and as a nameless cookie a browser
    // sends back as `portcullis_session=planted`) and to clear them: the gateway must not let it.
    res.writeHead(200, {
      'content-type': 'application/json',
      'set-cookie': ['portcullis_session=planted; Path=/', '=portcullis_session=planted; Path=/', 'theme=dark; Path=/'],
      'clear-site-data': '"cookies", "storage"',
    });
    return res.end('{}');
  }
  if (url.pathname === '/public/moved') {
    res.writeHead(302, { location: `http://127.0.0.1:${port}/public/hello` });
    return res.end();
  }
  if (url.pathname.startsWith('/client-metadata/')) {
    // OAuth client ID metadata documents, for the gateway's tests: the document at this URL
    // names this URL as its client_id. Variants: `other` claims another client_id, `huge` is
    // 5 MB, `hang` never answers, `redirect` redirects elsewhere, `spoof` calls itself ChatGPT,
    // `bidi` has a right-to-left override in its name.
    const name = url.pathname.slice('/client-metadata/'.length).replace(/\.json$/, '');
    const self = `http://${req.headers.host}${url.pathname}`;
    if (name === 'hang') return;
    if (name === 'redirect') {
      res.writeHead(302, { location: `http://${req.headers.host}/client-metadata/app.json` });
      return res.end();
    }
    if (name === 'huge') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ client_id: self, redirect_uris: ['http://127.0.0.1/cb'], padding: 'x'.repeat(5 * 1024 * 1024) }));
    }
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
    return res.end(
      JSON.stringify({
        client_id: name === 'other' ? `http://${req.headers.host}/client-metadata/app.json` : self,
        client_name: { spoof: 'ChatGPT', bidi: 'Notes \u202Etpircs' }[name] ?? `Metadata client ${name}`,
        redirect_uris: ['http://127.0.0.1/callback'],
        grant_types: ['authorization_code', 'refresh_token'],
        token_endpoint_auth_method: 'none',
      }),
    );
  }
  if (url.pathname === '/public/reset') {
    // The connection dies before any response: a crashed or overloaded origin.
    req.socket.destroy();
    return;
  }
  if (url.pathname === '/public/slow') {
    const ms = Math.min(Number(url.searchParams.get('ms') ?? 1000), 60000);
    setTimeout(() => send(res, 200, { slept: ms }), ms);
    return;
  }
  if (url.pathname === '/public/stream') {
    // Server-sent events, one every 200 ms, to prove the gateway streams without buffering.
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    let n = 0;
    const timer = setInterval(() => {
      res.write(`data: ${n}\n\n`);
      if (++n === 3) {
        clearInterval(timer);
        res.end();
      }
    }, 200);
    return;
  }

  // A machine client (client_credentials) acts for itself, not for a user: it may read every
  // list, as a reporting job would, and has none of its own to change.
  if (req.headers['x-portcullis-principal'] === 'client') {
    if (url.pathname.replace(/\/$/, '') === '/todos' && req.method === 'GET') {
      return send(res, 200, Object.entries(todos).flatMap(([owner, list]) => list.map((t) => ({ ...t, owner }))));
    }
    return send(res, 403, { error: 'a machine client has no todo list of its own' });
  }
  const user = req.headers['x-portcullis-user'];
  if (!user) return send(res, 401, { error: 'no user: this API is only reachable through Portcullis' });
  const mine = (todos[user] ??= []);
  // The paid plan's route in the demo (`npm start` gates it on the Pro plan).
  if (url.pathname === '/todos/export' && req.method === 'GET') {
    return send(res, 200, { exported_at: new Date().toISOString(), count: mine.length, todos: mine });
  }
  const match = url.pathname.match(/^\/todos(?:\/([^/]+))?\/?$/);
  if (!match) return send(res, 404, { error: 'not found' });
  const id = match[1];

  if (!id && req.method === 'GET') return send(res, 200, mine);
  if (!id && req.method === 'POST') {
    const { value, error } = await readJson(req);
    if (error || typeof value.title !== 'string' || !value.title.trim()) {
      return send(res, 400, { error: error ?? 'title is required' });
    }
    const todo = { id: randomUUID(), title: value.title.slice(0, 200), done: false };
    mine.push(todo);
    save();
    return send(res, 201, todo);
  }
  const todo = mine.find((t) => t.id === id);
  if (!todo) return send(res, 404, { error: 'no such todo' });
  if (req.method === 'GET') return send(res, 200, todo);
  if (req.method === 'PATCH') {
    const { value, error } = await readJson(req);
    if (error) return send(res, 400, { error });
    if (typeof value.title === 'string') todo.title = value.title.slice(0, 200);
    if (typeof value.done === 'boolean') todo.done = value.done;
    save();
    return send(res, 200, todo);
  }
  if (req.method === 'DELETE') {
    todos[user] = mine.filter((t) => t.id !== id);
    save();
    return send(res, 204);
  }
  return send(res, 405, { error: 'method not allowed' });
});

server.listen(port, '127.0.0.1', () => {
  console.log(`demo origin listening on http://127.0.0.1:${port}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}

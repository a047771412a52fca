// Where a proxied request's CPU goes: starts the gateway (release build, default logging), puts
// load on one route with autocannon, and samples workerd's V8 CPU profiler through the inspector
// meanwhile; prints the functions with the most self time. Used to write BENCHMARKS.md's cost table.
//
//   node scripts/profile.mjs [path] [--host H] [--token reused|new] [--seconds N]
import WebSocket from 'ws';
import autocannon from 'autocannon';
import { startGateway } from '../tests/e2e/harness.mjs';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const path = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--')) ?? '/public/hello';
const tokenMode = option('--token', 'none');
const seconds = Number(option('--seconds', '8'));

process.env.PORTCULLIS_LOG_LEVEL ??= 'error';
const gw = await startGateway({ vars: { REQUEST_LOG_SAMPLE_RATE: '' } });
try {
  const headers = {};
  const fresh = [];
  if (tokenMode === 'reused') headers.authorization = `Bearer ${await gw.token({ scope: 'todos:read' })}`;
  if (tokenMode === 'new') for (let i = 0; i < 5000; i++) fresh.push(await gw.token({ scope: 'todos:read', clientId: `c${i}` }));
  let next = 0;
  const requests = tokenMode === 'new'
    ? [{ setupRequest: (req) => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${fresh[next++ % fresh.length]}` } }) }]
    : undefined;
  const load = (duration) => autocannon({ url: `${gw.baseUrl}${path}`, headers, duration, connections: 10, ...(requests ? { requests } : {}) });

  const inspectorPort = gw.gateway.spawnargs[gw.gateway.spawnargs.indexOf('--inspector-port') + 1];
  const targets = await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json();
  const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
  await new Promise((resolve) => ws.once('open', resolve));
  let id = 0;
  const pending = new Map();
  ws.on('message', (m) => {
    const message = JSON.parse(m);
    pending.get(message.id)?.(message);
    pending.delete(message.id);
  });
  const send = (method, params = {}) => new Promise((resolve) => {
    pending.set(++id, resolve);
    ws.send(JSON.stringify({ id, method, params }));
  });

  await load(3);
  await send('Profiler.enable');
  await send('Profiler.setSamplingInterval', { interval: 50 });
  await send('Profiler.start');
  const result = await load(seconds);
  const { result: { profile } } = await send('Profiler.stop');
  ws.close();

  const hits = new Map();
  for (const sample of profile.samples) hits.set(sample, (hits.get(sample) ?? 0) + 1);
  const self = new Map();
  let total = 0;
  for (const node of profile.nodes) {
    const count = hits.get(node.id) ?? 0;
    total += count;
    const where = `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.split('/').pop()}:${node.callFrame.lineNumber}`;
    self.set(where, (self.get(where) ?? 0) + count);
  }
  console.log(`${path} (${tokenMode} token): ${result.requests.average.toFixed(0)} req/s, ${result.non2xx} non-2xx; self time, % of samples:`);
  for (const [where, count] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 40)) {
    console.log(`${((100 * count) / total).toFixed(1).padStart(5)}  ${where.slice(0, 140)}`);
  }
} finally {
  await gw.stop();
}

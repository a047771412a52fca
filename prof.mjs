import WebSocket from 'ws';
import autocannon from 'autocannon';
import { startGateway } from './tests/e2e/harness.mjs';

process.env.PORTCULLIS_LOG_LEVEL = 'error';
const gw = await startGateway({ vars: { REQUEST_LOG_SAMPLE_RATE: '' } });
const args = gw.gateway.spawnargs;
const port = args[args.indexOf('--inspector-port') + 1];
const target = process.argv[2] ?? '/public/hello';
const headers = process.argv[3] ? JSON.parse(process.argv[3]) : {};
try {
  const list = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
  const ws = new WebSocket(list[0].webSocketDebuggerUrl);
  await new Promise((r) => ws.once('open', r));
  let id = 0;
  const pending = new Map();
  ws.on('message', (m) => { const msg = JSON.parse(m); if (pending.has(msg.id)) { pending.get(msg.id)(msg); pending.delete(msg.id); } });
  const send = (method, params = {}) => new Promise((r) => { const i = ++id; pending.set(i, r); ws.send(JSON.stringify({ id: i, method, params })); });
  await autocannon({ url: `${gw.baseUrl}${target}`, headers, duration: 3, connections: 10 });
  await send('Profiler.enable');
  await send('Profiler.setSamplingInterval', { interval: 50 });
  await send('Profiler.start');
  const r = await autocannon({ url: `${gw.baseUrl}${target}`, headers, duration: 8, connections: 10 });
  const { result } = await send('Profiler.stop');
  console.log('rps', r.requests.average, 'non2xx', r.non2xx);
  const p = result.profile;
  const self = new Map();
  const dt = (p.endTime - p.startTime) / p.samples.length;
  const counts = new Map();
  for (const s of p.samples) counts.set(s, (counts.get(s) ?? 0) + 1);
  let total = 0;
  for (const n of p.nodes) {
    const c = counts.get(n.id) ?? 0;
    total += c;
    const name = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').pop()}:${n.callFrame.lineNumber}`;
    self.set(name, (self.get(name) ?? 0) + c);
  }
  const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 45);
  for (const [name, c] of rows) console.log((100 * c / total).toFixed(1).padStart(5), name.slice(0, 150));
  ws.close();
} finally {
  await gw.stop();
}

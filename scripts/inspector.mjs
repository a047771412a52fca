// workerd's V8 CPU profiler, reached through the inspector port `wrangler dev` opens: used by
// `npm run bench` (the isolate's busy time per request) and scripts/profile.mjs (where it goes).
import WebSocket from 'ws';

/** Profiles the Worker behind `inspectorPort` while `during()` runs; returns its result and the profile. */
export async function profileWhile(inspectorPort, during, { intervalUs = 100 } = {}) {
  const targets = await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json();
  const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let id = 0;
  const pending = new Map();
  ws.on('message', (m) => {
    const message = JSON.parse(m);
    pending.get(message.id)?.(message);
    pending.delete(message.id);
  });
  const send = (method, params = {}) =>
    new Promise((resolve) => {
      pending.set(++id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  try {
    await send('Profiler.enable');
    await send('Profiler.setSamplingInterval', { interval: intervalUs });
    await send('Profiler.start');
    const result = await during();
    const { result: { profile } } = await send('Profiler.stop');
    return { result, profile };
  } finally {
    ws.close();
  }
}

/** Milliseconds the isolate was not idle during a profile. */
export function busyMs(profile) {
  const idle = new Set(profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));
  const perSample = profile.timeDeltas.reduce((a, b) => a + b, 0) / profile.samples.length;
  return (profile.samples.filter((s) => !idle.has(s)).length * perSample) / 1000;
}

/** Self time by function, as percentages of the samples, most first. */
export function selfTimes(profile) {
  const hits = new Map();
  for (const sample of profile.samples) hits.set(sample, (hits.get(sample) ?? 0) + 1);
  const self = new Map();
  for (const node of profile.nodes) {
    const where = `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.split('/').pop()}:${node.callFrame.lineNumber}`;
    self.set(where, (self.get(where) ?? 0) + (hits.get(node.id) ?? 0));
  }
  return [...self].sort((a, b) => b[1] - a[1]).map(([where, count]) => [where, (100 * count) / profile.samples.length]);
}

// The isolate's busy time per request: the JS floor and the gateway (open, and with a reused
// token), each sampled by workerd's V8 profiler while it serves a fixed 150 requests a second for
// 5 s, three rounds in rotation. Below saturation the load generator and the origin do not compete
// with the isolate, so this shows differences of a few percent that a throughput run on this
// machine cannot; the profiler's own sampling adds to every row, so read the ratio.
import autocannon from 'autocannon';
import { startGateway } from '../../tests/e2e/harness.mjs';
import { startFloor } from '../bench-floors.mjs';
import { busyMs, profileWhile } from '../inspector.mjs';

/** `node scripts/busy.mjs`: described in scripts/busy.mjs. */
export async function main({ values, positionals }) {

  process.env.PORTCULLIS_LOG_LEVEL ??= 'error';
  const gw = await startGateway({ vars: { REQUEST_LOG_SAMPLE_RATE: '' } });
  const floor = await startFloor('js', gw.originUrl);
  try {
    const gatewayPort = gw.gateway.spawnargs[gw.gateway.spawnargs.indexOf('--inspector-port') + 1];
    const token = await gw.token({ scope: 'todos:read' });
    const rows = [
      ['floor: trivial JavaScript Worker', `${floor.baseUrl}/public/hello`, floor.inspectorPort, {}],
      ['gateway, open route', `${gw.baseUrl}/public/hello`, gatewayPort, {}],
      ['gateway, a reused JWT', `${gw.baseUrl}/public/hello`, gatewayPort, { authorization: `Bearer ${token}` }],
    ];
    const samples = rows.map(() => []);
    for (let round = 0; round < 3; round++) {
      for (const [i, [, url, port, headers]] of rows.entries()) {
        const { result, profile } = await profileWhile(port, () => autocannon({ url, headers, duration: 5, connections: 4, overallRate: 150 }));
        samples[i].push(busyMs(profile) / result.requests.total);
      }
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const floorMs = median(samples[0]);
    console.log('| Worker | isolate busy ms per request (profiled) | × the JS floor |');
    console.log('|---|---|---|');
    for (const [i, [label]] of rows.entries()) {
      console.log(`| ${label} | ${median(samples[i]).toFixed(2)} | ${(median(samples[i]) / floorMs).toFixed(2)} |`);
    }
  } finally {
    await floor.stop();
    await gw.stop();
  }
}

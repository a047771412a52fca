// Where a proxied request's CPU goes: starts the gateway (release build, default logging), puts
// load on one route with autocannon, and samples workerd's V8 CPU profiler through the inspector
// meanwhile; prints the functions with the most self time. Used to write BENCHMARKS.md's cost table.
import autocannon from 'autocannon';
import { startGateway } from '../../tests/e2e/harness.mjs';
import { UsageError } from '../cli.mjs';
import { profileWhile, selfTimes } from '../inspector.mjs';

/** `node scripts/profile.mjs`: the flags are described in scripts/profile.mjs. */
export async function main({ values, positionals }) {

  const path = positionals[0] ?? '/public/hello';
  const tokenMode = values.token;
  const seconds = Number(values.seconds);
  if (!['none', 'reused', 'new'].includes(tokenMode)) throw new UsageError('--token is none, reused or new');
  if (!Number.isInteger(seconds) || seconds < 1) throw new UsageError('--seconds: a whole number of seconds');
  if (!path.startsWith('/')) throw new UsageError('PATH starts with /');

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
    await load(3);
    const { result, profile } = await profileWhile(inspectorPort, () => load(seconds), { intervalUs: 50 });
    console.log(`${path} (${tokenMode} token): ${result.requests.average.toFixed(0)} req/s, ${result.non2xx} non-2xx; self time, % of samples:`);
    for (const [where, share] of selfTimes(profile).slice(0, 40)) {
      console.log(`${share.toFixed(1).padStart(5)}  ${where.slice(0, 140)}`);
    }
  } finally {
    await gw.stop();
  }
}

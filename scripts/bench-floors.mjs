// The floors `npm run bench` divides by: a trivial JavaScript Worker and a trivial workers-rs
// Worker (bench/floor-js, bench/floor-rs), each forwarding every request to the same origin as the
// gateway, under the same `wrangler dev` flags. What a proxy configuration costs beyond the floor
// is the gateway's own work.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { workerBuild } from './build.mjs';
import { freePort, root, startProcess, stopProcess, waitFor, wranglerBin, wranglerEnv } from './lib.mjs';

/** Starts the `js` or `rs` floor in front of `originUrl`; `rs` is built first (worker-build). */
export async function startFloor(kind, originUrl) {
  const dir = join(root, 'bench', `floor-${kind}`);
  if (kind === 'rs') workerBuild(dir, { targetDir: join(root, 'target', 'floor-rs') });
  const [port, inspectorPort] = await Promise.all([freePort(), freePort()]);
  const state = mkdtempSync(join(tmpdir(), `portcullis-floor-${kind}-`));
  const args = [
    'dev',
    '--config', join(dir, 'wrangler.toml'),
    '--ip', '127.0.0.1',
    '--port', String(port),
    '--inspector-port', String(inspectorPort),
    '--persist-to', state,
    '--show-interactive-dev-session=false',
    '--log-level', process.env.PORTCULLIS_LOG_LEVEL ?? 'log',
    '--var', `ORIGIN_URL:${originUrl}`,
  ];
  const child = startProcess(wranglerBin, args, { env: wranglerEnv(), name: `floor-${kind}` });
  const baseUrl = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await stopProcess(child);
    rmSync(state, { recursive: true, force: true });
  };
  try {
    await waitFor(`${baseUrl}/public/hello`, { timeoutMs: 90000, process: child });
  } catch (e) {
    const output = child.output;
    await stop();
    throw new Error(`${e.message}\n--- wrangler output ---\n${output}`);
  }
  return { baseUrl, stop, inspectorPort };
}

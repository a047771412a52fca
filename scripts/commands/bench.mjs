// `npm run bench`: measures what the targets in BENCHMARKS.md are about and prints a report.
// With --write, the report replaces the generated section of BENCHMARKS.md.
// Loads target 127.0.0.1 only and are bounded in time and count.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { execFileSync, execSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest } from 'node:http';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import autocannon from 'autocannon';
import { build } from '../build.mjs';
import { root, wrangler } from '../lib.mjs';
import { UsageError } from '../cli.mjs';
import { applySeed } from './seed.mjs';
import { startGateway } from '../../tests/e2e/harness.mjs';
import { FormBrowser, signIn } from '../../tests/e2e/browser.mjs';
import { scaleBench } from '../bench-scale.mjs';
import { startFloor } from '../bench-floors.mjs';
import { codeSizesByCrate } from '../wasm-sizes.mjs';

/** `npm run bench`: the flags are described in scripts/bench.mjs. */
export async function main({ values, positionals }) {

  const write = values.write;
  // --proxy-only: just the proxy table (floors and credentials), for quick comparisons while working.
  const proxyOnly = values['proxy-only'];
  // Rounds of the proxy table: the run-to-run noise on this 2-core machine is about ±0.05.
  const ROUNDS = 7;
  if (write && proxyOnly) throw new UsageError('--write needs the whole report, not --proxy-only');
  const lines = [];
  const say = (line = '') => {
    lines.push(line);
    console.log(line);
  };

  function kib(bytes) {
    return `${(bytes / 1024).toFixed(1)} KiB`;
  }

  /** Deployable bundle as `wrangler deploy --dry-run` reports it, plus the wasm on its own. */
  function measureSize() {
    build();
    const out = mkdtempSync(join(tmpdir(), 'portcullis-dry-run-'));
    try {
      const printed = wrangler(['deploy', '--dry-run', `--outdir=${out}`]);
      const m = printed.match(/Total Upload:\s*([\d.]+ KiB)\s*\/\s*gzip:\s*([\d.]+ KiB)/);
      const wasmFile = readdirSync(out).find((f) => f.endsWith('.wasm'));
      const wasm = readFileSync(join(out, wasmFile));
      return {
        uploadRaw: m ? m[1] : 'not reported',
        uploadGzip: m ? m[2] : 'not reported',
        wasmRaw: kib(wasm.length),
        wasmGzip: kib(gzipSync(wasm, { level: 9 }).length),
      };
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }

  /**
   * The wasm's code by crate, from a release build of the library that keeps its symbols: before
   * wasm-bindgen and wasm-opt, so larger than what ships; the shares are what carry over.
   */
  function measureCrates() {
    const targetDir = join(root, 'target', 'sizes');
    execSync('cargo build --release --quiet --target wasm32-unknown-unknown --lib', {
      cwd: root,
      env: { ...process.env, CARGO_TARGET_DIR: targetDir, CARGO_PROFILE_RELEASE_STRIP: 'false' },
      stdio: 'inherit',
    });
    return codeSizesByCrate(readFileSync(join(targetDir, 'wasm32-unknown-unknown', 'release', 'portcullis.wasm')));
  }

  /** What each crate is in the gateway for. */
  const CRATE_ROLES = {
    portcullis: 'the gateway itself',
    core: 'the standard library (iterators, formatting, strings), used by all',
    alloc: 'the standard library (collections, strings)',
    std: 'the standard library',
    serde_json: 'JSON: configuration, tokens, every JSON body',
    serde: 'serialization, generic code for every serialized type',
    serde_core: 'serialization',
    yaml_rust2: 'OpenAPI documents in YAML',
    ed25519_compact: 'EdDSA signatures (signing; the wasm fallback for verification)',
    hashbrown: 'hash maps (caches, sets)',
    worker: 'workers-rs: D1, Durable Objects, requests',
    js_sys: 'JavaScript bindings',
    url: 'URL parsing (also linked by workers-rs)',
    idna: 'international domain names, for URL parsing',
    serde_wasm_bindgen: 'values between JavaScript and Rust (workers-rs)',
    wasm_bindgen: 'the JavaScript boundary',
    jwt_compact: 'JWT structure',
    futures_util: 'joining concurrent reads',
  };

  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  say(`Machine: ${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${execSync('rustc --version').toString().trim()}`);
  say(`Date: ${new Date().toISOString().slice(0, 10)}`);
  say();
  if (!proxyOnly) {
  say('### Size');
  const size = measureSize();
  say();
  say('| artifact | raw | gzip |');
  say('|---|---|---|');
  say(`| deployable bundle (\`wrangler deploy --dry-run\`) | ${size.uploadRaw} | ${size.uploadGzip} |`);
  say(`| wasm module | ${size.wasmRaw} | ${size.wasmGzip} |`);
  const crates = measureCrates();
  say();
  say('What the wasm\'s code is made of, by crate (a release build that keeps its symbols, before wasm-bindgen and wasm-opt; generic code counts under the crate that defines it). The last column scales each share to the shipped wasm\'s gzip size.');
  say();
  say('| crate | for | code | share | ≈ gzip shipped |');
  say('|---|---|---|---|---|');
  const gzipKib = parseFloat(size.wasmGzip);
  const ranked = [...crates.byCrate.entries()].sort((a, b) => b[1] - a[1]);
  const shown = ranked.slice(0, 14);
  const rest = ranked.slice(14).reduce((n, [, bytes]) => n + bytes, 0);
  for (const [crate, bytes] of [...shown, ['others', rest]]) {
    const share = bytes / crates.total;
    say(`| ${crate} | ${CRATE_ROLES[crate] ?? ''} | ${kib(bytes)} | ${(100 * share).toFixed(1)}% | ${(share * gzipKib).toFixed(0)} KiB |`);
  }

  // ----- native micro-benchmarks ---------------------------------------------------------------

  say();
  say('### Native micro-benchmarks (`cargo bench --bench native`, divan, median)');
  say();
  const divan = execSync('cargo bench --quiet --bench native 2>/dev/null', { cwd: root, encoding: 'utf8' });
  say('| benchmark | median |');
  say('|---|---|');
  let group = '';
  for (const line of divan.split('\n')) {
    const m = line.match(/^[│├╰─\s]*([a-z_0-9]+)\s+(?:([\d.]+ [nµm]?s)\s+│\s+[\d.]+ [nµm]?s\s+│\s+([\d.]+ [nµm]?s))?/);
    if (!m) continue;
    if (!m[2]) {
      group = m[1];
      continue;
    }
    const name = /^\d+$/.test(m[1]) ? `${group} (${m[1]})` : m[1];
    say(`| ${name} | ${m[3]} |`);
  }
  }

  // ----- against workerd -------------------------------------------------------------------------

  function percentile(sorted, p) {
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
  }

  async function load(url, headers = {}, { duration = 5, connections = 10, requests } = {}) {
    const result = await autocannon({ url, headers, duration, connections, ...(requests ? { requests } : {}) });
    return {
      rps: result.requests.average,
      p50: result.latency.p50,
      p99: result.latency.p99,
      non2xx: result.non2xx + result.errors,
    };
  }

  /** Times `count` calls of `fn` with `concurrency` in flight; returns ms latencies and throughput. */
  async function timed(count, concurrency, fn) {
    const latencies = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async (_, worker) => {
        while (next < count) {
          const i = next++;
          const t = performance.now();
          await fn(i, worker);
          latencies.push(performance.now() - t);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), rps: count / seconds };
  }

  const { benchPlugin } = await import('../bench-plugin.mjs');
  const serviceToken = randomBytes(24).toString('base64url');
  // One gateway, several plugins by Host: every proxied configuration hits the same origin
  // endpoint (`/public/hello`) in the same run, so only the gateway's work differs.
  const guarded = [{ path: '/public/*', scopes: ['todos:read'] }];
  const benchHosts = {
    jwt: { name_for_model: 'bench_jwt', hosts: ['jwt.bench'], routes: guarded },
    quota: { name_for_model: 'bench_quota', hosts: ['quota.bench'], routes: guarded, quota: { limit: 1000000000, period_secs: 3600 } },
    service: { name_for_model: 'bench_service', hosts: ['service.bench'], routes: [{ path: '/public/*' }], auth: { type: 'service_http' }, service_token_secret: 'BENCH_SERVICE_TOKEN' },
    apikey: { name_for_model: 'bench_apikey', hosts: ['apikey.bench'], routes: guarded, auth: { type: 'user_http', authorization_type: 'bearer' } },
  };
  // wrangler dev forwards every console line through the inspector; keep its own printing quiet.
  process.env.PORTCULLIS_LOG_LEVEL ??= 'error';
  const gw = await startGateway({
    plugins: ({ port }) => [
      { ...benchPlugin, hosts: [`127.0.0.1:${port}`], public_base_url: `http://127.0.0.1:${port}` },
      ...Object.values(benchHosts).map((extra) => ({ ...benchPlugin, ...extra })),
    ],
    // The default logging configuration: every refusal and error, 1% of successes.
    vars: { BENCH_SERVICE_TOKEN: serviceToken, REQUEST_LOG_SAMPLE_RATE: '' },
  });
  const floors = [];
  try {
    // A labelled block: --proxy-only leaves it after the proxy table.
    measure: {
    floors.push(await startFloor('js', gw.originUrl), await startFloor('rs', gw.originUrl));
    applySeed({ file: join(root, 'scripts', 'bench-seed.json'), baseUrl: gw.baseUrl, secrets: gw.secrets, persistTo: gw.state });
    say();
    say('### Start');
    say();
    say(`From spawning \`wrangler dev\` (a release build, local D1 and Durable Objects) to the first answered request: ${(gw.readyMs / 1000).toFixed(1)} s, most of it wrangler and workerd starting.`);
    // The Worker's own start: its wasm module compiled by V8 (the engine workerd runs), and the
    // first request a new runtime answered against the next ones.
    // Timed in this Node (22.12 or later, scripts/cli.mjs), whose V8 has the wasm features the
    // module uses (exception handling).
    const wasmPath = join(root, 'build', 'index_bg.wasm');
    const wasm = readFileSync(wasmPath);
    const node22 = process.execPath;
    const compileScript = `const b = require('fs').readFileSync(${JSON.stringify(wasmPath)}); (async () => { const ms = []; for (let i = 0; i < 5; i++) { const t = performance.now(); await WebAssembly.compile(b); ms.push(performance.now() - t); } ms.sort((x, y) => x - y); console.log(ms[2]); })();`;
    const compileMs = Number(execFileSync(node22, ['-e', compileScript], { encoding: 'utf8' }).trim());
    const nodeVersion = execFileSync(node22, ['--version'], { encoding: 'utf8' }).trim();
    const warmMs = [];
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      await (await fetch(`${gw.baseUrl}/.well-known/jwks.json`)).arrayBuffer();
      warmMs.push(performance.now() - t);
    }
    const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    say();
    say(`The Worker's own start: compiling its wasm module (${kib(wasm.length)}) takes ${compileMs.toFixed(0)} ms in V8 (Node ${nodeVersion}, median of 5; workerd runs the same engine). The first request the new runtime answered took ${gw.firstRequestMs.toFixed(0)} ms; the next ones take ${med(warmMs).toFixed(1)} ms (median of 20, \`/.well-known/jwks.json\`).`);
    const hostToken = (host) => gw.token({ sub: 'usr_demo', issuer: `https://${host}`, audience: `https://${host}`, scope: 'todos:read' });
    const jwtToken = await hostToken('jwt.bench');
    const quotaToken = await hostToken('quota.bench');
    // The key is made at the user_http plugin's own host: a key works only at the plugin whose
    // admin API issued it (migration 0020).
    const { status: keyStatus, body: keyBody } = await new Promise((resolve, reject) => {
      const body = JSON.stringify({ user_id: 'usr_demo', name: 'bench', scopes: 'todos:read' });
      const req = httpRequest(`${gw.baseUrl}/admin/api/api-keys`, {
        method: 'POST',
        headers: { host: 'apikey.bench', authorization: `Bearer ${gw.secrets.ADMIN_TOKEN}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode, body: text }));
      });
      req.on('error', reject);
      req.end(body);
    });
    const apiKey = JSON.parse(keyBody || '{}').key;
    if (!apiKey) throw new Error(`bench API key: ${keyStatus} ${keyBody}`);
    // Distinct tokens for "a new token on every request", signed before the load starts: more than
    // the gateway is sent in all its new-token rounds, so that none comes back while the isolate's
    // cache of verified tokens (8,192) could still hold it. Each of these is from its own client.
    const fresh = [];
    for (let i = 0; i < 26000; i++) fresh.push(await gw.token({ sub: `usr_demo`, issuer: 'https://jwt.bench', audience: 'https://jwt.bench', scope: 'todos:read', clientId: `c${i}` }));
    // The same user and client, a new token each time (a client's tokens rotating).
    const sameClient = [];
    for (let i = 0; i < 26000; i++) sameClient.push(await gw.token({ sub: `usr_demo`, issuer: 'https://jwt.bench', audience: 'https://jwt.bench', scope: 'todos:read' }));
    const pools = { gateway: [fresh, 0], same: [sameClient, 0], floor: [fresh, 0] };
    const freshHeader = (pool = 'gateway') => {
      const entry = pools[pool];
      if (pool !== 'floor' && entry[1] === entry[0].length) throw new Error('the bench ran out of distinct tokens: sign more');
      return `Bearer ${entry[0][entry[1]++ % entry[0].length]}`;
    };

    const hello = `${gw.baseUrl}/public/hello`;
    const [jsFloor, rsFloor] = floors.map((f) => `${f.baseUrl}/public/hello`);
    const jwt = { host: 'jwt.bench', authorization: `Bearer ${jwtToken}` };
    // A new token per request makes the load generator build every request anew, which costs it
    // about 0.04 of the floor's throughput on this machine: those rows are also read against the
    // JS floor sent the same kind of load (`vs`).
    const configs = [
      { label: 'floor: trivial JavaScript Worker forwarding to the origin', headers: {}, url: jsFloor },
      { label: 'floor: trivial workers-rs Worker forwarding to the origin', headers: {}, url: rsFloor },
      { label: 'floor: trivial JavaScript Worker, sent a new token every request', headers: { host: 'jwt.bench' }, fresh: 'floor', url: jsFloor },
      { label: 'open (no credential)', headers: {} },
      { label: 'JWT, one token reused', headers: jwt },
      { label: 'JWT, a new token every request (same user and client)', headers: { host: 'jwt.bench' }, fresh: 'same', vs: 2 },
      { label: 'JWT, a new token from a new client every request (a signature checked and an assertion signed per request)', headers: { host: 'jwt.bench' }, fresh: 'gateway', vs: 2 },
      { label: 'JWT reused, quota on (calls leased from a Durable Object, up to 64 at a time)', headers: { host: 'quota.bench', authorization: `Bearer ${quotaToken}` } },
      { label: 'service_http shared secret', headers: { host: 'service.bench', authorization: `Bearer ${serviceToken}` } },
      { label: 'user_http API key (cached per isolate)', headers: { host: 'apikey.bench', authorization: `Bearer ${apiKey}` } },
    ];
    const run = ({ headers, fresh, url = hello }) =>
      load(url, headers, {
        duration: 4,
        ...(fresh ? { requests: [{ setupRequest: (req) => ({ ...req, headers: { ...req.headers, authorization: freshHeader(fresh) } }) }] } : {}),
      });
    // Warm every path, then seven rounds in rotation (floors and gateway alternating, each round
    // starting one configuration later, so none always follows the same one); medians per
    // configuration.
    for (const config of configs) await run(config);
    const rounds = configs.map(() => []);
    for (let round = 0; round < ROUNDS; round++) {
      for (let k = 0; k < configs.length; k++) {
        const i = (k + round) % configs.length;
        rounds[i].push(await run(configs[i]));
      }
    }
    const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
    const results = rounds.map((r) => ({
      rps: median(r.map((x) => x.rps)),
      p50: median(r.map((x) => x.p50)),
      p99: median(r.map((x) => x.p99)),
      non2xx: r.reduce((n, x) => n + x.non2xx, 0),
    }));

    say();
    say(`### Proxy in workerd (same origin endpoint, 10 connections, ${ROUNDS} rotating rounds × 4 s, medians)`);
    say();
    say('Every Worker runs under `wrangler dev` with the same flags, in front of the same origin endpoint, in the same run. The floors are what forwarding costs with no gateway at all.');
    say();
    say('| Worker and credential | req/s | ratio to the JS floor | ratio to the JS floor under the same kind of load | ratio to open | p50 ms | p99 ms | non-2xx |');
    say('|---|---|---|---|---|---|---|---|');
    const openIndex = configs.findIndex((c) => c.label.startsWith('open'));
    for (const [i, { label, url, vs }] of configs.entries()) {
      const r = results[i];
      const toOpen = url ? '' : (r.rps / results[openIndex].rps).toFixed(2);
      const toSame = vs === undefined ? '' : (r.rps / results[vs].rps).toFixed(2);
      say(`| ${label} | ${r.rps.toFixed(0)} | ${(r.rps / results[0].rps).toFixed(2)} | ${toSame} | ${toOpen} | ${r.p50} | ${r.p99} | ${r.non2xx} |`);
    }

    if (proxyOnly) break measure;
    // Memory under sustained distinct tokens: every request a token the isolate has not seen, more
    // of them than the verified-token cache holds (8,192), with the workerd process's RSS sampled.
    const workerdRss = () => {
      const rows = execSync('ps -e -o pgid=,rss=,comm=', { encoding: 'utf8' }).split('\n');
      return rows
        .map((r) => r.trim().split(/\s+/))
        .filter(([pgid, , comm]) => Number(pgid) === gw.gateway.pid && /workerd/.test(comm ?? ''))
        .reduce((sum, [, rss]) => sum + Number(rss), 0);
    };
    const distinct = [];
    for (let i = 0; i < 12000; i++) distinct.push(await gw.token({ sub: `usr_mem${i % 97}`, issuer: 'https://jwt.bench', audience: 'https://jwt.bench', scope: 'todos:read', clientId: `m${i}` }));
    const rss = [workerdRss()];
    for (let chunk = 0; chunk < 4; chunk++) {
      const tokens = distinct.slice(chunk * 3000, (chunk + 1) * 3000);
      let next = 0;
      await autocannon({
        url: hello,
        connections: 10,
        amount: tokens.length,
        headers: { host: 'jwt.bench' },
        requests: [{ setupRequest: (req) => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${tokens[next++ % tokens.length]}` } }) }],
      });
      rss.push(workerdRss());
    }
    const mib = (kib) => `${(kib / 1024).toFixed(0)} MiB`;
    say();
    say(
      `Memory: workerd RSS ${rss.map(mib).join(' → ')} across 12,000 requests with 12,000 distinct tokens (sampled every 3,000; the verified-token cache holds 8,192 and then starts over).`,
    );

    // The first request with a token the isolate has not seen, one at a time, against a reused one.
    const sequential = async (header) => {
      const latencies = [];
      for (let i = 0; i < 150; i++) {
        const t = performance.now();
        const res = await new Promise((resolve, reject) => {
          const req = httpRequest({ host: '127.0.0.1', port: gw.port, path: '/public/hello', headers: { host: 'jwt.bench', authorization: header() } }, (r) => {
            r.resume();
            r.on('end', () => resolve(r.statusCode));
          });
          req.on('error', reject);
          req.end();
        });
        if (res !== 200) throw new Error(`sequential proxy call: ${res}`);
        latencies.push(performance.now() - t);
      }
      latencies.sort((a, b) => a - b);
      return percentile(latencies, 50);
    };
    const reusedP50 = await sequential(() => `Bearer ${jwtToken}`);
    const newP50 = await sequential(freshHeader);
    const reusedP50b = await sequential(() => `Bearer ${jwtToken}`);
    const newP50b = await sequential(freshHeader);
    say();
    say(
      `One request at a time (two alternating runs of 150 each): p50 ${reusedP50.toFixed(2)} / ${reusedP50b.toFixed(2)} ms with a reused token, ${newP50.toFixed(2)} / ${newP50b.toFixed(2)} ms with a new one: ` +
        `a first-seen token adds **${((newP50 + newP50b - reusedP50 - reusedP50b) / 2).toFixed(2)} ms** of latency here (WebCrypto Ed25519 verification, then the cache), within the noise of the origin subrequest.`,
    );

    // Codes: one signed-in browser session, a first-party client (no consent click).
    const browser = new FormBrowser(gw.baseUrl);
    const authorizeUrl = (state) =>
      `${gw.baseUrl}/authorize?${new URLSearchParams({ response_type: 'code', client_id: 'bench', redirect_uri: 'https://bench.invalid/cb', scope: 'todos:read', state })}`;
    const login = await browser.get(authorizeUrl('x'));
    const signedIn = await signIn(browser, login, 'demo@example.com', gw.secrets.DEMO_PASSWORD);
    if (signedIn.status !== 303) throw new Error(`bench sign-in failed: ${signedIn.status}`);
    const codes = [];
    const codeCount = 200;
    const issuing = await timed(codeCount, 10, async (i) => {
      const res = await browser.get(authorizeUrl(`s${i}`));
      codes.push(new URL(res.headers.get('location')).searchParams.get('code'));
    });
    const basic = `Basic ${Buffer.from(`bench:${gw.secrets.DEMO_CLIENT_SECRET}`).toString('base64')}`;
    // Each of the 10 concurrent callers plays a different client address, as real clients are: the
    // token endpoint's per-IP rate limit (120 a minute) is not what this measures.
    const tokenCall = async (body, caller = 0) => {
      const res = await fetch(`${gw.baseUrl}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic, 'cf-connecting-ip': `198.18.0.${caller + 1}` },
        body: new URLSearchParams(body),
      });
      const json = await res.json();
      if (res.status !== 200) throw new Error(`token endpoint: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };
    const refreshTokens = [];
    const exchange = await timed(codeCount, 10, async (i, caller) => {
      const t = await tokenCall({ grant_type: 'authorization_code', code: codes[i], redirect_uri: 'https://bench.invalid/cb' }, caller);
      refreshTokens.push(t.refresh_token);
    });
    // Refresh: 10 independent grants, each rotated 20 times in sequence.
    const chains = refreshTokens.slice(0, 10);
    const refresh = await timed(200, 10, async (_, chain) => {
      const t = await tokenCall({ grant_type: 'refresh_token', refresh_token: chains[chain] }, chain + 10);
      chains[chain] = t.refresh_token;
    });
    say();
    say('### Token endpoint in workerd (10 in flight)');
    say();
    say('| operation | count | req/s | p50 ms | p99 ms | storage round trips |');
    say('|---|---|---|---|---|---|');
    say(`| authorize with a session (first-party client: code issued) | ${codeCount} | ${issuing.rps.toFixed(0)} | ${issuing.p50.toFixed(1)} | ${issuing.p99.toFixed(1)} | 3: the client, the user and the scope decision's reads at once (D1); the grant in its Durable Object; its index in D1 |`);
    say(`| code exchange | ${codeCount} | ${exchange.rps.toFixed(0)} | ${exchange.p50.toFixed(1)} | ${exchange.p99.toFixed(1)} | 2: client (D1) with the caller's failure count (DO); grant redeem (DO) with its user (D1), each pair at once |`);
    say(`| refresh | 200 | ${refresh.rps.toFixed(0)} | ${refresh.p50.toFixed(1)} | ${refresh.p99.toFixed(1)} | 2: client (D1) with the caller's failure count (DO); grant rotate (DO) with its user (D1), each pair at once |`);
    say();
    say('Round trips are counted by the in-memory ports in `tests/oauth_flow.rs` (`a_code_exchange_takes_two_store_round_trips`, and the refresh test), which run the same code as the edge; they also show which reads run while another is in flight.');
    }
  } finally {
    await Promise.all([gw.stop(), ...floors.map((f) => f.stop())]);
  }

  if (!proxyOnly) await machineTokens();

  /**
   * Machine clients (client_credentials): a client secret against RFC 7523 assertions signed with
   * each algorithm, so the assertion's added cost shows, and how often the client's JWKS is fetched
   * (its cache hit rate). The keys are served locally with `Cache-Control: max-age=300`.
   */
  async function machineTokens() {
    // A gateway of its own: the client's keys are served on loopback, which only a deployment whose
    // every plugin is on loopback may fetch from (CLIENT_METADATA_ALLOW_LOOPBACK).
    const gw = await startGateway({ vars: { CLIENT_METADATA_ALLOW_LOOPBACK: 'true' } });
    applySeed({ file: join(root, 'scripts', 'bench-seed.json'), baseUrl: gw.baseUrl, secrets: gw.secrets, persistTo: gw.state });
    const algs = ['RS256', 'ES256', 'EdDSA'];
    const keys = {};
    const published = [];
    for (const alg of algs) {
      const { publicKey, privateKey } = await generateKeyPair(alg, { crv: alg === 'EdDSA' ? 'Ed25519' : undefined });
      keys[alg] = privateKey;
      published.push({ ...(await exportJWK(publicKey)), kid: `bench-${alg}`, alg, use: 'sig' });
    }
    let jwksFetches = 0;
    const jwksServer = createServer((req, res) => {
      jwksFetches++;
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
      res.end(JSON.stringify({ keys: published }));
    });
    await new Promise((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    try {
      const created = await fetch(`${gw.baseUrl}/admin/api/clients`, {
        method: 'POST',
        headers: { authorization: `Bearer ${gw.secrets.ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Bench key client', kind: 'confidential', jwks_uri: `http://127.0.0.1:${jwksServer.address().port}/jwks.json`, roles: ['rol_viewer'] }),
      }).then((r) => r.json());
      if (!created.id) throw new Error(`bench key client: ${JSON.stringify(created)}`);
      const machineCall = async (body, caller, auth) => {
        const res = await fetch(`${gw.baseUrl}/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'cf-connecting-ip': `198.18.1.${caller + 1}`, ...(auth ? { authorization: auth } : {}) },
          body: new URLSearchParams({ grant_type: 'client_credentials', ...body }),
        });
        const json = await res.json();
        if (res.status !== 200) throw new Error(`client_credentials: ${res.status} ${JSON.stringify(json)}`);
      };
      const count = 200;
      const secretAuth = `Basic ${Buffer.from(`bench-machine:${gw.secrets.DEMO_CLIENT_SECRET}`).toString('base64')}`;
      const rows = [];
      const secretRun = await timed(count, 10, (_, caller) => machineCall({}, caller, secretAuth));
      rows.push(['client secret (`client_secret_basic`)', secretRun, '2: client (D1) with the caller\'s failure count (DO); the client\'s roles on the resource (D1)']);
      let assertions = 0;
      for (const alg of algs) {
        // Signed before the clock starts: the client's signing is not the gateway's cost.
        const signed = [];
        for (let i = 0; i < count; i++) {
          signed.push(
            await new SignJWT({ jti: randomBytes(12).toString('base64url') })
              .setProtectedHeader({ alg, kid: `bench-${alg}`, typ: 'JWT' })
              .setIssuer(created.id).setSubject(created.id).setAudience(`${gw.baseUrl}/token`)
              .setIssuedAt().setExpirationTime('120s')
              .sign(keys[alg]),
          );
        }
        const run = await timed(count, 10, (i, caller) =>
          machineCall({ client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: signed[i] }, caller));
        assertions += count;
        rows.push([`\`private_key_jwt\`, ${alg} assertion`, run, '3: as above, then the assertion\'s `jti` remembered once (DO); keys from the per-isolate JWKS cache']);
      }
      say();
      say('### Machine clients at the token endpoint (`client_credentials`, 10 in flight)');
      say();
      say('| client authentication | count | req/s | p50 ms | p99 ms | p50 added to the secret | storage round trips |');
      say('|---|---|---|---|---|---|---|');
      for (const [name, run, trips] of rows) {
        const added = run === secretRun ? '' : `${(run.p50 - secretRun.p50).toFixed(1)} ms`;
        say(`| ${name} | ${count} | ${run.rps.toFixed(0)} | ${run.p50.toFixed(1)} | ${run.p99.toFixed(1)} | ${added} | ${trips} |`);
      }
      say();
      say(`The client's JWKS (\`Cache-Control: max-age=300\`) was fetched ${jwksFetches} time(s) for ${assertions} assertions: a cache hit rate of ${(100 * (1 - jwksFetches / assertions)).toFixed(1)}%, the misses being the first requests in flight, which find the cache empty together. Each assertion's signature is verified with WebCrypto in workerd; its \`jti\` costs one Durable Object round trip, which is most of the added latency. The algorithms run one after another, so their differences are within this run's noise.`);
    } finally {
      jwksServer.close();
      await gw.stop();
    }
  }

  if (!proxyOnly && !values['no-scale']) {
    await scaleBench({ say, seedFile: join(root, 'scripts', 'bench-seed.json'), env: {} });
  }

  if (write) {
    const path = join(root, 'BENCHMARKS.md');
    const text = readFileSync(path, 'utf8');
    const start = '<!-- bench:start -->';
    const end = '<!-- bench:end -->';
    const before = text.slice(0, text.indexOf(start) + start.length);
    const after = text.slice(text.indexOf(end));
    writeFileSync(path, `${before}\n${lines.join('\n')}\n${after}`);
    console.log('\nwrote BENCHMARKS.md');
  }
}

// A `none` plugin locked to OpenAI's egress ranges: the snapshot shipped in the build, the
// scheduled refresh from the configured URL (here the demo origin's stand-in, so nothing leaves
// the machine), and the headers that must not count.
//
// Locally, wrangler dev passes a client's CF-Connecting-IP through, which is how these tests play
// a caller at a given address; on Cloudflare the header is always set by the edge itself.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway } from './harness.mjs';
import { benchPlugin } from '../../scripts/bench-plugin.mjs';

let gw;
before(async () => {
  gw = await startGateway({ plugin: { ...benchPlugin, auth: { type: 'none', openai_egress_only: true } }, testScheduled: true });
});
after(async () => {
  await gw?.stop();
});

const from = (ip, extra = {}) => fetch(`${gw.baseUrl}/public/hello`, { headers: { ...(ip ? { 'cf-connecting-ip': ip } : {}), ...extra } });

describe('an OpenAI-locked plugin', () => {
  test('admits OpenAI addresses from the shipped snapshot and refuses others', async () => {
    await gw.clearOriginRequests();
    assert.equal((await from('23.102.140.113')).status, 200);
    const refused = await from('198.51.100.7');
    assert.equal(refused.status, 403);
    assert.equal((await refused.json()).error, 'access_denied');
    assert.equal((await from(null)).status, 403);
    assert.equal((await gw.originRequests()).length, 1, 'only the admitted call reached the origin');
  });

  test('X-Forwarded-For and X-Real-IP cannot spoof the allowlist', async () => {
    const spoofed = await from('198.51.100.7', { 'x-forwarded-for': '23.102.140.113', 'x-real-ip': '23.102.140.113' });
    assert.equal(spoofed.status, 403);
    assert.equal((await from(null, { 'x-forwarded-for': '23.102.140.113' })).status, 403);
  });

  test('the manifest says auth none', async () => {
    const manifest = await (await fetch(`${gw.baseUrl}/.well-known/ai-plugin.json`)).json();
    assert.deepEqual(manifest.auth, { type: 'none' });
  });

  test('the scheduled refresh replaces the list with the published one', async () => {
    const run = await fetch(`${gw.baseUrl}/__scheduled?cron=17+*/6+*+*+*`);
    assert.equal(run.status, 200);
    // The stand-in publishes 203.0.113.0/24 only.
    assert.equal((await from('203.0.113.5')).status, 200);
    assert.equal((await from('23.102.140.113')).status, 403);
    await gw.waitForLog(/"event":"egress_refresh".*"prefixes":1/);
  });
});

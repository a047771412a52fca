// The origin misbehaving: too slow, then gone. The gateway answers in bounded time with 504 and
// 502, never a 5xx of its own making or a hang.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway } from './harness.mjs';
import { stopProcess } from '../../scripts/lib.mjs';

let gw;
before(async () => {
  gw = await startGateway({ vars: { ORIGIN_TIMEOUT_MS: '1000' } });
});
after(async () => {
  await gw?.stop();
});

describe('origin faults', () => {
  test('an origin slower than ORIGIN_TIMEOUT_MS gets 504 in bounded time', async () => {
    const started = Date.now();
    const res = await fetch(`${gw.baseUrl}/public/slow?ms=5000`);
    const elapsed = Date.now() - started;
    assert.equal(res.status, 504);
    assert.equal((await res.json()).error, 'gateway_timeout');
    assert.ok(elapsed < 4000, `answered after ${elapsed} ms`);
  });

  test('an origin that is down gets 502', async () => {
    await stopProcess(gw.origin);
    const started = Date.now();
    const res = await fetch(`${gw.baseUrl}/public/hello`);
    assert.equal(res.status, 502);
    const body = await res.json();
    assert.equal(body.error, 'bad_gateway');
    assert.ok(!JSON.stringify(body).includes('127.0.0.1'), 'no internal address in the answer');
    assert.ok(Date.now() - started < 4000);
  });
});

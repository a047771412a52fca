// The TOTP differential's other half: otplib (pinned in package.json) computes its codes and
// verdicts again now, and they must be the committed tests/fixtures/totp/otplib.json, which the
// gateway's unit test `accounts::totp::tests::verdicts_equal_otplibs` decides row by row. A new
// otplib that decides otherwise, or a fixture edited by hand, fails here; the gateway deciding
// otherwise fails there. Pure: no worker, no build.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fixture, fixturePath, serialize } from '../fixtures/totp/make.mjs';

test("otplib's codes and verdicts now are the committed fixture's, byte for byte", () => {
  const committed = readFileSync(fixturePath, 'utf8');
  const now = fixture();
  assert.deepEqual(now, JSON.parse(committed));
  assert.equal(serialize(now), committed, 'rerun: node tests/fixtures/totp/make.mjs');
});

test('the fixture holds the RFC 6238 vector, both sides of the window, replays and malformed codes', () => {
  const { checks } = JSON.parse(readFileSync(fixturePath, 'utf8'));
  // RFC 6238 Appendix B, SHA-1 at 59 s: 94287082, of which a six-digit app shows 287082.
  assert.ok(checks.some((c) => c.secret === 0 && c.made === 59 && c.code === '287082' && c.now === 59 && c.valid && c.step === 1));
  assert.ok(checks.some((c) => c.after_step === null && c.made !== null && c.now - c.made === 30 && c.valid));
  assert.ok(checks.some((c) => c.after_step === null && c.made !== null && Math.abs(c.now - c.made) === 90 && !c.valid));
  // Replays: a code after its own step is refused, after an earlier one accepted.
  const replays = checks.filter((c) => c.after_step !== null);
  assert.ok(replays.some((c) => c.after_step === Math.floor(c.made / 30) && !c.valid));
  assert.ok(replays.some((c) => c.after_step < Math.floor(c.made / 30) && c.valid));
  assert.ok(checks.some((c) => c.error === 'TokenLengthError') && checks.some((c) => c.error === 'TokenFormatError'));
});

// Passkey verification, differentially: every case of tests/fixtures/webauthn/fixtures.json (a
// software authenticator's registrations and assertions, honest and not) verified with
// @simplewebauthn/server, whose verdict must be the one the case records. src/accounts/webauthn.rs
// holds the gateway to the same file's `expect`, so both verifiers are pinned to the same cases on
// every run; where they differ on purpose the case says why. No gateway is started.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { verifyAuthenticationResponse, verifyRegistrationResponse } from '@simplewebauthn/server';

const fixtures = JSON.parse(
  readFileSync(new URL('../fixtures/webauthn/fixtures.json', import.meta.url), 'utf8'),
);
const byName = new Map(fixtures.cases.map((c) => [c.name, c]));

async function verdict(run) {
  try {
    const result = await run();
    return result.verified ? 'accepted' : 'refused';
  } catch {
    return 'refused';
  }
}

function register(c) {
  return verifyRegistrationResponse({
    response: c.response,
    expectedChallenge: c.expectation.challenge,
    expectedOrigin: fixtures.origin,
    expectedRPID: fixtures.rp_id,
    requireUserVerification: c.expectation.require_user_verification,
    // What the gateway accepts (src/accounts/webauthn.rs SUPPORTED_ALGORITHMS).
    supportedAlgorithmIDs: [-8, -7, -257],
  });
}

test('the fixtures cover both ceremonies, each with accepted and refused cases', () => {
  for (const ceremony of ['registration', 'authentication']) {
    const cases = fixtures.cases.filter((c) => c.ceremony === ceremony);
    assert.ok(cases.some((c) => c.expect === 'ok'), ceremony);
    assert.ok(cases.filter((c) => c.expect !== 'ok').length >= 8, ceremony);
  }
});

for (const c of fixtures.cases) {
  test(`SimpleWebAuthn: ${c.name} is ${c.simplewebauthn}`, async () => {
    let got;
    if (c.ceremony === 'registration') {
      got = await verdict(() => register(c));
    } else {
      const registration = await register(byName.get(c.registration));
      assert.equal(registration.verified, true, `${c.registration} registers`);
      const { credential } = registration.registrationInfo;
      got = await verdict(() =>
        verifyAuthenticationResponse({
          response: c.response,
          expectedChallenge: c.expectation.challenge,
          expectedOrigin: fixtures.origin,
          expectedRPID: fixtures.rp_id,
          requireUserVerification: c.expectation.require_user_verification,
          credential: { ...credential, counter: c.stored_sign_count },
        }),
      );
    }
    assert.equal(got, c.simplewebauthn, c.why ?? `the gateway's verdict is ${c.expect}`);
    // Where the two differ, the case says why.
    if ((c.expect === 'ok') !== (c.simplewebauthn === 'accepted')) assert.ok(c.why, c.name);
  });
}

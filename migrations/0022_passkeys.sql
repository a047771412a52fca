-- Passkeys (WebAuthn credentials) users register on the account page and sign in with (issue 31).
-- `id` is the credential ID (base64url); `credential` the verified registration as JSON
-- (`accounts::webauthn::StoredCredential`: the public key as a JWK, its COSE algorithm, the user
-- handle it was made for, backup eligibility, transports, AAGUID, attestation format).
-- `sign_count` and `backup_state` are the values last seen, kept as columns so a sign-in moves
-- them in one statement that refuses a counter that did not grow. Deleting the user deletes them.
-- Layout and queries: docs/storage.md
CREATE TABLE IF NOT EXISTS passkeys (
  id           TEXT PRIMARY KEY,
  user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name         TEXT NOT NULL,
  credential   TEXT NOT NULL,
  sign_count   INTEGER NOT NULL DEFAULT 0,
  backup_state INTEGER NOT NULL DEFAULT 0,
  created_at   INTEGER NOT NULL,
  last_used_at INTEGER
);
CREATE INDEX IF NOT EXISTS passkeys_by_user ON passkeys (user_id, created_at);

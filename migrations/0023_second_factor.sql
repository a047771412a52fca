-- A second factor for accounts (issue 31): an authenticator app's TOTP secret (RFC 6238) and the
-- recovery codes that stand in for it. The secret is kept sealed (AES-256-GCM under a key derived
-- from the session secret, the user's id bound in as associated data), never in the clear;
-- `last_step` is the time step of the last code accepted, moved on in the statement that accepts
-- the next one, so one code is never spent twice. Recovery codes are kept as SHA-256 hex of their
-- canonical form and deleted in the statement that accepts one. Deleting the user deletes both.
-- Layout and queries: docs/storage.md
CREATE TABLE IF NOT EXISTS user_totp (
  user_id       TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  sealed_secret TEXT NOT NULL,
  last_step     INTEGER,
  created_at    INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS recovery_codes (
  user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  hash       TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (user_id, hash)
);

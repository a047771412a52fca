-- Accounts people make and recover themselves (issue 31). A sign-up, a sign-in by email code, a
-- password reset and an invitation each prove an address with a challenge: a six-digit code (kept
-- as a MAC under the session secret) and a single-use link (kept as its SHA-256), sent in one mail,
-- expiring, with few guesses of the code. What a sign-up will create waits in `pending` (JSON: the
-- name, the password's PBKDF2 hash, the roles, the terms accepted, where to return) until its address
-- is proven; nothing is in `users` before. A reset works only while the account's session epoch is
-- the one it was sent at, so a password changed since (or every session ended) voids older links.
-- Expired challenges are deleted by the cron. Layout and queries: docs/storage.md
CREATE TABLE IF NOT EXISTS email_challenges (
  id            TEXT PRIMARY KEY,
  purpose       TEXT NOT NULL CHECK (purpose IN ('sign_up', 'sign_in', 'reset', 'invite', 'email_change')),
  email         TEXT NOT NULL COLLATE NOCASE,
  user_id       TEXT REFERENCES users (id) ON DELETE CASCADE,
  issuer        TEXT NOT NULL,
  code_hash     TEXT NOT NULL,
  link_hash     TEXT NOT NULL UNIQUE,
  attempts      INTEGER NOT NULL DEFAULT 0,
  pending       TEXT NOT NULL DEFAULT '{}',
  session_epoch INTEGER,
  created_at    INTEGER NOT NULL,
  expires_at    INTEGER NOT NULL,
  used_at       INTEGER
);
CREATE INDEX IF NOT EXISTS email_challenges_by_expiry ON email_challenges (expires_at);
CREATE INDEX IF NOT EXISTS email_challenges_by_user ON email_challenges (user_id) WHERE user_id IS NOT NULL;

-- When the address was proven (NULL: an account an administrator made, or one from before), and
-- the terms the user accepted at sign-up (the plugin's legal link then) and when.
ALTER TABLE users ADD COLUMN email_verified_at INTEGER;
ALTER TABLE users ADD COLUMN terms_accepted TEXT;
ALTER TABLE users ADD COLUMN terms_accepted_at INTEGER;

-- Accounts deleted by their owners: the deletion itself is recorded (the id and when), nothing
-- else of the person. Their rows everywhere else go with the user (ON DELETE CASCADE).
CREATE TABLE IF NOT EXISTS account_deletions (
  user_id    TEXT PRIMARY KEY,
  deleted_at INTEGER NOT NULL,
  issuer     TEXT NOT NULL
);

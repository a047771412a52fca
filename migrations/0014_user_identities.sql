-- Identities at upstream providers (issue 16): a user signs in with Google, GitHub or any OpenID
-- Connect provider the deployment trusts. A user is found by (provider, subject), the provider's
-- stable id for them, never by email alone; one user may hold several identities, and an
-- identity belongs to one user. `email` and `email_verified` are what the provider last said
-- (shown on the account page and in the admin API; linking by email needs it verified and the
-- existing account proven, see docs/federation.md). Deleting the user deletes their identities.
CREATE TABLE IF NOT EXISTS user_identities (
  provider       TEXT NOT NULL,
  subject        TEXT NOT NULL,
  user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  email          TEXT NOT NULL DEFAULT '',
  email_verified INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
  created_at     INTEGER NOT NULL,
  last_used_at   INTEGER NOT NULL,
  PRIMARY KEY (provider, subject)
) WITHOUT ROWID;
-- One identity per user and provider: which account's tokens reach the origin, and what "unlink
-- GitHub" removes, are never in doubt. The index also serves the account page and the admin API,
-- which list a user's identities, and unlinking, which checks what is left.
CREATE UNIQUE INDEX IF NOT EXISTS user_identities_one_per_provider ON user_identities (user_id, provider);

-- Upstream tokens (issue 16): a provider marked `keep_tokens` has the user's access and refresh
-- tokens kept, each sealed with AES-256-GCM under UPSTREAM_TOKEN_KEY (a fresh IV per token, the
-- identity and the token's kind bound in as associated data), for the routes that forward them to
-- the origin. They belong to the identity: unlinking it or deleting the user deletes them (the
-- cascade), and revoking any grant of the user deletes the user's (with the grant's index row).
CREATE TABLE IF NOT EXISTS upstream_tokens (
  provider      TEXT NOT NULL,
  subject       TEXT NOT NULL,
  user_id       TEXT NOT NULL,
  access_token  TEXT NOT NULL,
  refresh_token TEXT,
  -- When the access token expires; NULL when the provider gave no lifetime.
  expires_at    INTEGER,
  scope         TEXT NOT NULL DEFAULT '',
  updated_at    INTEGER NOT NULL,
  PRIMARY KEY (provider, subject),
  FOREIGN KEY (provider, subject) REFERENCES user_identities (provider, subject) ON DELETE CASCADE
) WITHOUT ROWID;
-- The proxy reads a user's token at a provider; a revocation deletes all of the user's.
CREATE INDEX IF NOT EXISTS upstream_tokens_by_user ON upstream_tokens (user_id, provider);

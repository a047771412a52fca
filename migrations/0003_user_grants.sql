-- An index of OAuth grants by user, for the account page ("apps with access") and for revoking a
-- user's grants when they are disabled. The grant itself (code, refresh family, revocation) lives
-- in its Durable Object; this row is written when the grant is created and marked when it is
-- revoked through the account page or the admin API.
CREATE TABLE IF NOT EXISTS user_grants (
  grant_id   TEXT PRIMARY KEY,
  user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  client_id  TEXT NOT NULL,
  scopes     TEXT NOT NULL DEFAULT '',
  resource   TEXT,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE INDEX IF NOT EXISTS user_grants_by_user ON user_grants (user_id, created_at);

-- Remembered consent: what a user allowed one app (a client, on one API resource) to do. A later
-- authorization for scopes already allowed skips the consent page; new scopes are asked for
-- alone (incremental consent). `resource` is the resource indicator, '' for grants without one
-- (OpenID scopes only). Revoking the app on the account page deletes the row and ends the app's
-- grants.
CREATE TABLE IF NOT EXISTS consents (
  user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  client_id  TEXT NOT NULL,
  resource   TEXT NOT NULL DEFAULT '',
  -- Space-separated scopes the user allowed.
  scopes     TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (user_id, client_id, resource)
) WITHOUT ROWID;

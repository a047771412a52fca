-- Remembered consent is per plugin: what a user allowed an app at one plugin (its issuer) skips
-- no consent page at another (issue 29, finding 3). The key gains `issuer`, the plugin's public
-- base URL; SQLite cannot change a primary key in place, so the table is made again.
--
-- Consents remembered before carry no issuer: they are kept under '' (which is no plugin's
-- issuer), so they still show on the account page and are forgotten when the app is revoked
-- there, but they skip the consent page nowhere. Each user is asked once more, at the plugin
-- they use, and that answer is remembered under its issuer. Live grants are untouched.
CREATE TABLE IF NOT EXISTS consents_by_issuer (
  user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  client_id  TEXT NOT NULL,
  resource   TEXT NOT NULL DEFAULT '',
  -- The plugin the user consented at: its issuer (public base URL); '' for consents from before.
  issuer     TEXT NOT NULL DEFAULT '',
  -- Space-separated scopes the user allowed.
  scopes     TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (user_id, client_id, resource, issuer)
) WITHOUT ROWID;

INSERT INTO consents_by_issuer (user_id, client_id, resource, issuer, scopes, created_at, updated_at)
  SELECT user_id, client_id, resource, '', scopes, created_at, updated_at FROM consents;

DROP TABLE consents;

ALTER TABLE consents_by_issuer RENAME TO consents;

-- private_key_jwt clients (RFC 7523): a confidential client may prove itself with its own keys
-- (jwks_uri, or jwks given inline) instead of a secret. The original CHECK tied "confidential" to
-- a secret hash, and SQLite cannot change a CHECK in place, so the table is rebuilt with the same
-- rows (no table references it by foreign key). A client has a secret, or keys, or neither
-- (public), never two of them.
CREATE TABLE oauth_clients_new (
  id               TEXT PRIMARY KEY,
  name             TEXT NOT NULL,
  secret_hash      TEXT,
  redirect_uris    TEXT NOT NULL DEFAULT '[]',
  kind             TEXT NOT NULL CHECK (kind IN ('confidential', 'public')),
  first_party      INTEGER NOT NULL DEFAULT 0 CHECK (first_party IN (0, 1)),
  created_at       INTEGER NOT NULL,
  expires_at       INTEGER,
  locked_until     INTEGER,
  registered_via   TEXT NOT NULL DEFAULT 'admin' CHECK (registered_via IN ('admin', 'dynamic')),
  metadata         TEXT,
  may_introspect   INTEGER NOT NULL DEFAULT 0 CHECK (may_introspect IN (0, 1)),
  registered_from  TEXT,
  -- The https URL of the client's JWKS, fetched when it authenticates.
  jwks_uri         TEXT,
  -- The client's public keys as given at registration (a JWKS, JSON).
  jwks             TEXT,
  CHECK ((secret_hash IS NOT NULL) + (jwks_uri IS NOT NULL) + (jwks IS NOT NULL) <= 1),
  CHECK ((kind = 'confidential') = (secret_hash IS NOT NULL OR jwks_uri IS NOT NULL OR jwks IS NOT NULL))
);
INSERT INTO oauth_clients_new (id, name, secret_hash, redirect_uris, kind, first_party, created_at,
    expires_at, locked_until, registered_via, metadata, may_introspect, registered_from)
  SELECT id, name, secret_hash, redirect_uris, kind, first_party, created_at,
    expires_at, locked_until, registered_via, metadata, may_introspect, registered_from
  FROM oauth_clients;
DROP TABLE oauth_clients;
ALTER TABLE oauth_clients_new RENAME TO oauth_clients;
CREATE INDEX IF NOT EXISTS oauth_clients_expiry ON oauth_clients (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS oauth_clients_unused_by_network ON oauth_clients (registered_from, expires_at) WHERE expires_at IS NOT NULL;

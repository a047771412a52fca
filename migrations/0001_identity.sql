-- Identity and policy: users, API resources and their permissions, roles, OAuth clients, API keys.
-- The RBAC model of Logto and Auth0: a resource (identified by its indicator URI) defines
-- permissions, which are OAuth scopes; roles bundle permissions; users hold roles.
-- Secrets are never stored: passwords as PBKDF2 hashes, client secrets and API keys as SHA-256.
-- Every statement is idempotent, so applying this file twice is harmless.
-- Layout and the queries each index serves: docs/storage.md

CREATE TABLE IF NOT EXISTS users (
  id            TEXT PRIMARY KEY,
  email         TEXT NOT NULL COLLATE NOCASE,
  name          TEXT NOT NULL DEFAULT '',
  password_hash TEXT,
  disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS users_by_email ON users (email);

CREATE TABLE IF NOT EXISTS api_resources (
  id                    TEXT PRIMARY KEY,
  indicator             TEXT NOT NULL UNIQUE,
  name                  TEXT NOT NULL,
  is_default            INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
  access_token_ttl_secs INTEGER NOT NULL DEFAULT 3600 CHECK (access_token_ttl_secs BETWEEN 60 AND 86400),
  created_at            INTEGER NOT NULL
);
-- At most one default resource: the one tokens are for when no `resource` is sent.
CREATE UNIQUE INDEX IF NOT EXISTS api_resources_one_default ON api_resources (is_default) WHERE is_default = 1;

CREATE TABLE IF NOT EXISTS permissions (
  id          TEXT PRIMARY KEY,
  resource_id TEXT NOT NULL REFERENCES api_resources (id) ON DELETE CASCADE,
  name        TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  UNIQUE (resource_id, name)
);

CREATE TABLE IF NOT EXISTS roles (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  created_at  INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS role_permissions (
  role_id       TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
  permission_id TEXT NOT NULL REFERENCES permissions (id) ON DELETE CASCADE,
  PRIMARY KEY (role_id, permission_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS role_permissions_by_permission ON role_permissions (permission_id);

CREATE TABLE IF NOT EXISTS user_roles (
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role_id TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
  PRIMARY KEY (user_id, role_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS user_roles_by_role ON user_roles (role_id);

CREATE TABLE IF NOT EXISTS oauth_clients (
  id            TEXT PRIMARY KEY,
  name          TEXT NOT NULL,
  -- SHA-256 (hex) of the client secret; NULL for public clients.
  secret_hash   TEXT,
  -- JSON array of exact redirect URIs.
  redirect_uris TEXT NOT NULL DEFAULT '[]',
  kind          TEXT NOT NULL CHECK (kind IN ('confidential', 'public')),
  first_party   INTEGER NOT NULL DEFAULT 0 CHECK (first_party IN (0, 1)),
  created_at    INTEGER NOT NULL,
  -- Dynamically registered clients that are never used expire.
  expires_at    INTEGER,
  CHECK ((kind = 'confidential') = (secret_hash IS NOT NULL))
);

CREATE TABLE IF NOT EXISTS api_keys (
  id           TEXT PRIMARY KEY,
  -- The first characters of the key, shown to humans to tell keys apart.
  prefix       TEXT NOT NULL,
  key_hash     TEXT NOT NULL UNIQUE,
  user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name         TEXT NOT NULL DEFAULT '',
  scopes       TEXT NOT NULL DEFAULT '',
  created_at   INTEGER NOT NULL,
  last_used_at INTEGER,
  revoked_at   INTEGER
);
CREATE INDEX IF NOT EXISTS api_keys_by_user ON api_keys (user_id);

-- Machine clients (the client_credentials grant): a client holds roles like a user does, and the
-- same RBAC decides its scopes on a resource. A token it gets has `sub` = the client id.
CREATE TABLE IF NOT EXISTS client_roles (
  client_id TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
  role_id   TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
  PRIMARY KEY (client_id, role_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS client_roles_by_role ON client_roles (role_id);

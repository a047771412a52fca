-- Clients that register themselves (RFC 7591). `registered_via` tells them from the ones an
-- administrator made; `metadata` keeps the validated RFC 7591 metadata (JSON) they registered
-- with. A dynamic client carries `expires_at` until it starts its first grant; unused ones are
-- hidden from lookups after that time and deleted by the scheduled cleanup.
ALTER TABLE oauth_clients ADD COLUMN registered_via TEXT NOT NULL DEFAULT 'admin'
  CHECK (registered_via IN ('admin', 'dynamic'));
ALTER TABLE oauth_clients ADD COLUMN metadata TEXT;
CREATE INDEX IF NOT EXISTS oauth_clients_expiry ON oauth_clients (expires_at) WHERE expires_at IS NOT NULL;

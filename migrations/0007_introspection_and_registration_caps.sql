-- Outside review (issue 12).
-- RFC 7662 §4: a token is described only to the client it was issued to and to the clients an
-- administrator marks as resource servers of this deployment.
ALTER TABLE oauth_clients ADD COLUMN may_introspect INTEGER NOT NULL DEFAULT 0 CHECK (may_introspect IN (0, 1));
-- Where a self-registered client came from: the registrant's network (an IPv4 address, or the
-- /64 of an IPv6 one), so unused registrations can be capped per network as well as in total.
ALTER TABLE oauth_clients ADD COLUMN registered_from TEXT;
CREATE INDEX IF NOT EXISTS oauth_clients_unused_by_network ON oauth_clients (registered_from, expires_at) WHERE expires_at IS NOT NULL;

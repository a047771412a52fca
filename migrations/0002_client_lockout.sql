-- Failed client authentications past the limit lock the client until this time (Unix seconds),
-- read with the client on every authentication: no extra round trip on the success path.
ALTER TABLE oauth_clients ADD COLUMN locked_until INTEGER;

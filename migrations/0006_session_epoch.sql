-- Portal sessions are stateless signed cookies; each carries the epoch of its user at sign-in.
-- Signing out, "sign out everywhere", a password change and disabling the user move the epoch on,
-- so every session issued before (and any copy of its cookie) is signed out. The row is read
-- wherever a session is used anyway: the check costs no extra round trip.
ALTER TABLE users ADD COLUMN session_epoch INTEGER NOT NULL DEFAULT 0;

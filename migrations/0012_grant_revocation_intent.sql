-- A grant lives in two stores: its Durable Object (the truth: codes, refresh tokens, revocation)
-- and this index (which grants a user holds). A revocation is written here first, as an intent,
-- then told to the Durable Object, then marked done; one interrupted between the stores (D1 or
-- the Durable Object failing) is finished by the cron, so a revocation once asked for always
-- completes. See src/oauth/grants.rs.
ALTER TABLE user_grants ADD COLUMN revoke_requested_at INTEGER;
CREATE INDEX IF NOT EXISTS user_grants_unfinished_revocations ON user_grants (revoke_requested_at)
  WHERE revoke_requested_at IS NOT NULL AND revoked_at IS NULL;

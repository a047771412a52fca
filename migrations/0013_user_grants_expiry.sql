-- A grant's index row outlives nothing it indexes: once a grant is older than the refresh
-- family's absolute lifetime (and a day), neither its code nor any refresh token can be used,
-- and the cron deletes the row, oldest first, through this index. Without it the table grew by
-- one row per grant forever, toward D1's 10 GB.
CREATE INDEX IF NOT EXISTS user_grants_by_created ON user_grants (created_at);

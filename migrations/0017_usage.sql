-- Usage over time for the admin console (issue 17): calls per day, route, user and outcome
-- (`ok`, or the refusal's code), counted in each isolate and added here in one batch every
-- USAGE_FLUSH_SECS (30 s), never one write per request. A count an isolate held when it was
-- stopped is lost, so these are approximate; quotas are counted elsewhere, exactly.
CREATE TABLE IF NOT EXISTS usage_daily (
  plugin   TEXT NOT NULL,
  day      TEXT NOT NULL,
  route    TEXT NOT NULL,
  user_id  TEXT NOT NULL,
  outcome  TEXT NOT NULL,
  calls    INTEGER NOT NULL,
  PRIMARY KEY (plugin, day, route, user_id, outcome)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS usage_daily_by_day ON usage_daily (plugin, day);

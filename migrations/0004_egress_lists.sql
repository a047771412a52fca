-- Published egress IP lists (OpenAI's), refreshed by the scheduled event. The gateway keeps the
-- newest in memory per isolate and falls back to the snapshot shipped in the build.
CREATE TABLE IF NOT EXISTS egress_lists (
  source        TEXT PRIMARY KEY,
  creation_time TEXT,
  cidrs         TEXT NOT NULL,
  fetched_at    INTEGER NOT NULL
);

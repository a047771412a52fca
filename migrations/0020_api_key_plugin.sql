-- API keys are bound to the plugin whose admin API issued them (issue 29, second review): with
-- several `user_http` plugins on one deployment, a key works only at its own. Keys issued before
-- this migration have no plugin (NULL): they keep working while the deployment has exactly one
-- `user_http` plugin (the one they can have been issued for) and work nowhere once it has more;
-- issue them again then (docs/storage.md).
ALTER TABLE api_keys ADD COLUMN plugin TEXT;

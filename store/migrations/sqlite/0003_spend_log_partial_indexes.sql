-- Requests made with the master key have no key, user or team: their spend logs need no entry
-- in those indexes (SQLite indexes NULLs). Lookups by `token_hash = ?` (and user, team) still
-- use these partial indexes, since an equality implies IS NOT NULL.
DROP INDEX spend_logs_key;
DROP INDEX spend_logs_user;
DROP INDEX spend_logs_team;
CREATE INDEX spend_logs_key ON spend_logs (token_hash) WHERE token_hash IS NOT NULL;
CREATE INDEX spend_logs_user ON spend_logs (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX spend_logs_team ON spend_logs (team_id) WHERE team_id IS NOT NULL;

-- Virtual keys, users, teams and spend logs. Entities are JSON documents (the admin API's
-- shapes evolve; the gateway keeps them in memory) with the columns lookups and spend need.
-- Money is in nano-dollars (1e-9 USD), integers: never accumulated in floats.

CREATE TABLE keys (
    token_hash   TEXT PRIMARY KEY,
    key_alias    TEXT UNIQUE,
    user_id      TEXT,
    team_id      TEXT,
    data         TEXT NOT NULL,
    spend_nanos  INTEGER NOT NULL DEFAULT 0,
    window_start INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX keys_user ON keys (user_id);
CREATE INDEX keys_team ON keys (team_id);

CREATE TABLE users (
    user_id      TEXT PRIMARY KEY,
    data         TEXT NOT NULL,
    spend_nanos  INTEGER NOT NULL DEFAULT 0,
    window_start INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

CREATE TABLE teams (
    team_id      TEXT PRIMARY KEY,
    team_alias   TEXT,
    data         TEXT NOT NULL,
    spend_nanos  INTEGER NOT NULL DEFAULT 0,
    window_start INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

-- One row per request id: a request is charged once however often its log is written.
CREATE TABLE spend_logs (
    request_id        TEXT PRIMARY KEY,
    token_hash        TEXT,
    user_id           TEXT,
    team_id           TEXT,
    model_group       TEXT NOT NULL,
    model             TEXT NOT NULL,
    deployment        TEXT NOT NULL,
    provider          TEXT NOT NULL,
    spend_nanos       INTEGER NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    status            TEXT NOT NULL,
    start_time        INTEGER NOT NULL,
    end_time          INTEGER NOT NULL
);
CREATE INDEX spend_logs_time ON spend_logs (start_time);
CREATE INDEX spend_logs_key ON spend_logs (token_hash);
CREATE INDEX spend_logs_user ON spend_logs (user_id);
CREATE INDEX spend_logs_team ON spend_logs (team_id);

-- The first schema (kept as it was so that databases made by earlier versions migrate step by step).
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    command TEXT NOT NULL,
    spec TEXT NOT NULL,
    sources TEXT NOT NULL DEFAULT '{}',
    guild_id INTEGER,
    channel_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    stage TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT '{}',
    position INTEGER,
    log TEXT,
    created_at REAL NOT NULL,
    finished_at REAL,
    interaction_id INTEGER,
    interaction_token TEXT,
    token_expires_at REAL,
    application_id INTEGER,
    message_id INTEGER,
    message_channel_id INTEGER,
    moved_to_channel INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    error TEXT,
    cost_estimate REAL,
    delivered_at REAL
);
CREATE INDEX jobs_unfinished ON jobs (stage) WHERE finished_at IS NULL;
CREATE INDEX jobs_by_user ON jobs (guild_id, user_id, created_at);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

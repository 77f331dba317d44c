-- The job store on PostgreSQL: the same tables as SQLite's after its migration 0005, in PostgreSQL's types.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    command TEXT NOT NULL,
    model TEXT NOT NULL,
    spec TEXT NOT NULL,
    sources TEXT NOT NULL DEFAULT '{}',
    guild_id BIGINT,
    user_id BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('waiting', 'starting', 'sending', 'queued', 'running', 'fetching',
                                           'delivering', 'done', 'failed', 'cancelled')),
    outcome TEXT CHECK (outcome IN ('done', 'failed', 'cancelled')),
    step TEXT,
    steps TEXT NOT NULL DEFAULT '{}',
    inputs_ready BOOLEAN NOT NULL DEFAULT FALSE,
    error TEXT,
    refused_input TEXT,
    result TEXT,
    cost_estimate DOUBLE PRECISION,
    seq BIGINT,
    turn DOUBLE PRECISION,
    created_at DOUBLE PRECISION NOT NULL,
    finished_at DOUBLE PRECISION,
    delivered_at DOUBLE PRECISION,
    delivery_error TEXT,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    CHECK (status <> 'delivering' OR outcome IS NOT NULL)
);
CREATE INDEX jobs_live ON jobs (seq) WHERE status NOT IN ('done', 'failed', 'cancelled');
CREATE INDEX jobs_by_user ON jobs (guild_id, user_id, created_at);
CREATE INDEX jobs_by_guild_day ON jobs (guild_id, created_at);
CREATE INDEX jobs_by_created ON jobs (created_at);
CREATE INDEX jobs_done_by_model ON jobs (model, finished_at) WHERE outcome = 'done';

CREATE TABLE job_addresses (
    job_id TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    channel_id BIGINT NOT NULL,
    application_id BIGINT,
    interaction_token TEXT,
    token_expires_at DOUBLE PRECISION,
    message_id BIGINT,
    message_channel_id BIGINT,
    attachment_limit BIGINT,
    reach TEXT NOT NULL DEFAULT 'channel',
    private BOOLEAN NOT NULL DEFAULT FALSE,
    moved_to_channel BOOLEAN NOT NULL DEFAULT FALSE,
    result_channel_id BIGINT,
    result_message_id BIGINT
);

CREATE TABLE guild_config (guild_id BIGINT PRIMARY KEY, config TEXT NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

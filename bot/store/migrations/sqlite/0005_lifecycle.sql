-- One lifecycle owned by the store: `status` (see bot/jobs/lifecycle.py) replaces `stage` plus delivered_at and the
-- `sending` marks inside `state`; the per-step records become `steps`; the Discord addressing of a job moves to a
-- table of its own. Rows written by earlier versions are converted, so jobs in flight carry on after the upgrade.
CREATE TABLE job_addresses (
    job_id TEXT PRIMARY KEY REFERENCES jobs_v5 (id) ON DELETE CASCADE,
    channel_id INTEGER NOT NULL,
    application_id INTEGER,
    interaction_token TEXT,
    token_expires_at REAL,
    message_id INTEGER,
    message_channel_id INTEGER,
    attachment_limit INTEGER,
    reach TEXT NOT NULL DEFAULT 'channel',
    private INTEGER NOT NULL DEFAULT 0,
    moved_to_channel INTEGER NOT NULL DEFAULT 0,
    result_channel_id INTEGER,
    result_message_id INTEGER
);
CREATE TABLE jobs_v5 (
    id TEXT PRIMARY KEY,
    command TEXT NOT NULL,
    model TEXT NOT NULL,
    spec TEXT NOT NULL,
    sources TEXT NOT NULL DEFAULT '{}',
    guild_id INTEGER,
    user_id INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('waiting', 'starting', 'sending', 'queued', 'running', 'fetching',
                                           'delivering', 'done', 'failed', 'cancelled')),
    outcome TEXT CHECK (outcome IN ('done', 'failed', 'cancelled')),
    step TEXT,
    steps TEXT NOT NULL DEFAULT '{}',
    inputs_ready INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    refused_input TEXT,
    result TEXT,
    cost_estimate REAL,
    seq INTEGER,
    turn REAL,
    created_at REAL NOT NULL,
    finished_at REAL,
    delivered_at REAL,
    delivery_error TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    CHECK (status <> 'delivering' OR outcome IS NOT NULL)
);
INSERT INTO jobs_v5 (
    id, command, model, spec, sources, guild_id, user_id, status, outcome, step, steps, inputs_ready, error,
    refused_input, result, cost_estimate, seq, turn, created_at, finished_at, delivered_at, delivery_error
)
SELECT
    id, command, coalesce(json_extract(spec, '$.model'), ''), spec, sources, guild_id, user_id,
    CASE
        WHEN stage IN ('done', 'failed', 'cancelled') AND delivered_at IS NOT NULL THEN stage
        WHEN stage IN ('done', 'failed', 'cancelled') THEN 'delivering'
        WHEN json_extract(state, '$.video.sending') OR json_extract(state, '$.speech.sending') THEN 'sending'
        WHEN json_extract(state, '$.video.submission') IS NOT NULL THEN
            CASE WHEN json_extract(state, '$.video.ran') THEN 'running' ELSE 'queued' END
        WHEN json_extract(state, '$.speech.submission') IS NOT NULL AND json_extract(state, '$.speech.output') IS NULL THEN
            CASE WHEN json_extract(state, '$.speech.ran') THEN 'running' ELSE 'queued' END
        WHEN stage = 'waiting' AND json_extract(state, '$.speech.output') IS NULL THEN 'waiting'
        ELSE 'starting'
    END,
    CASE WHEN stage IN ('done', 'failed', 'cancelled') THEN stage END,
    CASE
        WHEN json_extract(state, '$.video.submission') IS NOT NULL OR json_extract(state, '$.video.sending') THEN 'video'
        WHEN json_extract(state, '$.speech.submission') IS NOT NULL OR json_extract(state, '$.speech.sending') THEN 'speech'
    END,
    json_remove(state, '$.hosted', '$.refused', '$.speech.sending', '$.video.sending'),
    coalesce(json_extract(state, '$.hosted'), 0),
    error, json_extract(state, '$.refused'), result, cost_estimate, seq, turn, created_at, finished_at, delivered_at,
    delivery_error
FROM jobs;
INSERT INTO job_addresses
SELECT id, channel_id, application_id, interaction_token, token_expires_at, message_id, message_channel_id,
       attachment_limit, reach, ephemeral, moved_to_channel, result_channel_id, result_message_id
FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_v5 RENAME TO jobs;
CREATE INDEX jobs_live ON jobs (seq) WHERE status NOT IN ('done', 'failed', 'cancelled');
CREATE INDEX jobs_by_user ON jobs (guild_id, user_id, created_at);
CREATE INDEX jobs_by_guild_day ON jobs (guild_id, created_at);
CREATE INDEX jobs_by_created ON jobs (created_at);
CREATE INDEX jobs_done_by_model ON jobs (model, finished_at) WHERE outcome = 'done';

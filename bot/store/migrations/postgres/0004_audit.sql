-- The audit trail (issue 20): who asked for each job, where and when, what it was given (SHA-256 digests only),
-- its fal requests, estimated cost and outcome. A table of its own, keyed by the job's id but not tied to the
-- jobs table: it keeps what happened whatever becomes of the job, and only the retention sweep deletes it
-- (AUDIT_RETENTION_DAYS). No interaction token, bot token or key is ever written here.
CREATE TABLE audit (
    job_id TEXT PRIMARY KEY,
    created_at DOUBLE PRECISION NOT NULL,
    user_id BIGINT NOT NULL,
    guild_id BIGINT,
    channel_id BIGINT,
    place TEXT NOT NULL,
    install TEXT NOT NULL,
    command TEXT NOT NULL,
    model TEXT NOT NULL,
    inputs TEXT NOT NULL DEFAULT '[]',
    requests TEXT NOT NULL DEFAULT '[]',
    cost_estimate DOUBLE PRECISION,
    outcome TEXT,
    detail TEXT,
    ended_at DOUBLE PRECISION
);
CREATE INDEX audit_guild ON audit (guild_id, created_at);
CREATE INDEX audit_created ON audit (created_at);

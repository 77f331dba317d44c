-- Moderation: a result a requester or a moderator removed keeps its row (the audit keeps the record) and its
-- outcome; removed_at says when its messages were deleted. Reports of results, and who made them. (Blocked members
-- and banned words are server settings, kept in guild_config with the others.)
ALTER TABLE jobs ADD COLUMN removed_at DOUBLE PRECISION;
ALTER TABLE jobs ADD COLUMN removed_by BIGINT;
CREATE TABLE reports (
    id BIGSERIAL PRIMARY KEY,
    job_id TEXT NOT NULL,
    guild_id BIGINT,
    reporter_id BIGINT NOT NULL,
    channel_id BIGINT,
    message_id BIGINT,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX reports_job ON reports (job_id);

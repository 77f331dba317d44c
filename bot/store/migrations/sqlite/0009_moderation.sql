-- Moderation: a result a requester or a moderator removed keeps its row (the audit keeps the record) and its
-- outcome; removed_at says when its messages were deleted. Reports of results, and who made them. (Blocked members
-- and banned words are server settings, kept in guild_config with the others.)
ALTER TABLE jobs ADD COLUMN removed_at REAL;
ALTER TABLE jobs ADD COLUMN removed_by INTEGER;
CREATE TABLE reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    guild_id INTEGER,
    reporter_id INTEGER NOT NULL,
    channel_id INTEGER,
    message_id INTEGER,
    created_at REAL NOT NULL
);
CREATE INDEX reports_job ON reports (job_id);

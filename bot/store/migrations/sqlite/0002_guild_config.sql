CREATE TABLE guild_config (guild_id INTEGER PRIMARY KEY, config TEXT NOT NULL);
CREATE INDEX jobs_by_guild_day ON jobs (guild_id, created_at);

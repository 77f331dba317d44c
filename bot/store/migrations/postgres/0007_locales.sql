-- Localized messages (issue 22): the requester's Discord locale, in which the job's messages are shown, and the
-- server's preferred locale, for posts everyone in its channels sees. NULL: English (jobs from before).
ALTER TABLE jobs ADD COLUMN locale TEXT;
ALTER TABLE job_addresses ADD COLUMN guild_locale TEXT;

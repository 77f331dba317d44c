-- Results that are attached: how large a file the interaction allows, and the message carrying the video
-- when it was not the job's own; where the bot can reach the requester (user installs, private jobs).
ALTER TABLE jobs ADD COLUMN attachment_limit INTEGER;
ALTER TABLE jobs ADD COLUMN result_channel_id INTEGER;
ALTER TABLE jobs ADD COLUMN result_message_id INTEGER;
ALTER TABLE jobs ADD COLUMN reach TEXT NOT NULL DEFAULT 'channel';
ALTER TABLE jobs ADD COLUMN ephemeral INTEGER NOT NULL DEFAULT 0;

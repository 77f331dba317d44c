-- Members' own voices (issue 21): a voice cloned by MiniMax belongs to the member who cloned it. name_key is the name
-- as compared (spaces folded, case ignored), unique per member; custom_voice_id is MiniMax's id for it (never shown);
-- last_used_at the last TTS that spoke with it (MiniMax deletes a clone unused for 7 days); expired_at when the bot
-- learned MiniMax had deleted it. Only digests of the sample are kept, in the audit; never the sample itself.
CREATE TABLE voices (
    user_id BIGINT NOT NULL,
    name_key TEXT NOT NULL,
    name TEXT NOT NULL,
    custom_voice_id TEXT NOT NULL,
    job_id TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    last_used_at DOUBLE PRECISION,
    expired_at DOUBLE PRECISION,
    PRIMARY KEY (user_id, name_key)
);

-- The waiting line (seq is the order of admission), what fal may bill, and deliveries given up.
ALTER TABLE jobs DROP COLUMN interaction_id;
ALTER TABLE jobs ADD COLUMN seq INTEGER;
ALTER TABLE jobs ADD COLUMN turn REAL;
ALTER TABLE jobs ADD COLUMN ran_on_fal INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN delivery_error TEXT;
UPDATE jobs SET seq = rowid;
CREATE INDEX jobs_undelivered ON jobs (seq) WHERE delivered_at IS NULL;
CREATE INDEX jobs_by_created ON jobs (created_at);

-- Several processes over one database: who works each job (claims, taken over from a process that stopped
-- answering), what each job is counted at, and the line's counts, kept beside the jobs so that admission is one
-- short transaction per batch of commands, whichever process takes them.
ALTER TABLE jobs ADD COLUMN owner TEXT;
ALTER TABLE jobs ADD COLUMN counted_day DOUBLE PRECISION;
ALTER TABLE jobs ADD COLUMN counted_price DOUBLE PRECISION NOT NULL DEFAULT 0;
CREATE INDEX jobs_waiting ON jobs (turn, seq) WHERE status = 'waiting';
CREATE INDEX jobs_owned ON jobs (owner, seq) WHERE status NOT IN ('waiting', 'done', 'failed', 'cancelled');
CREATE TABLE line_slots (
    key TEXT PRIMARY KEY,
    running INTEGER NOT NULL DEFAULT 0,
    waiting INTEGER NOT NULL DEFAULT 0,
    turn DOUBLE PRECISION,
    last_at DOUBLE PRECISION,
    seq BIGINT
);
CREATE TABLE line_days (
    day DOUBLE PRECISION NOT NULL,
    key TEXT NOT NULL,
    jobs INTEGER NOT NULL DEFAULT 0,
    spend DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (day, key)
);
CREATE TABLE processes (
    id TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    shards TEXT,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    seen_at DOUBLE PRECISION NOT NULL
);

-- The bot's own C2PA signer (bot/provenance.py), made on the first start when C2PA_CERT/C2PA_KEY are not set and
-- kept here so that every later start, and every process sharing the database, signs as the same signer. The first
-- writer wins (INSERT … ON CONFLICT DO NOTHING, then SELECT). The key is a secret: never logged.
CREATE TABLE credentials (
    name TEXT PRIMARY KEY,
    chain TEXT NOT NULL,
    key TEXT NOT NULL,
    created_at REAL NOT NULL
);

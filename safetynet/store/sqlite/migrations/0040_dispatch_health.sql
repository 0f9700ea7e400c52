-- Whether anything is being sent, in the store rather than in one process's memory: every web
-- process, `campaign start` and a readiness check read it, whichever process dispatches.
-- One row per dispatcher run: a heartbeat every few seconds; a clean stop sets stopped_at.
CREATE TABLE dispatchers (
    owner      TEXT PRIMARY KEY,
    host       TEXT NOT NULL,
    pid        INTEGER NOT NULL,
    lanes      TEXT NOT NULL,
    started_at REAL NOT NULL,
    seen_at    REAL NOT NULL,
    stopped_at REAL
);
CREATE INDEX dispatchers_seen ON dispatchers(seen_at);
-- How each channel fares in each dispatcher: written when its state changes, and with the
-- heartbeat while it fails (the count of failures in a row goes up), never per send.
CREATE TABLE channel_health (
    owner      TEXT NOT NULL REFERENCES dispatchers(owner) ON DELETE CASCADE,
    channel    TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('idle', 'ok', 'failing')),
    since      REAL NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT '',
    failures   INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL,
    PRIMARY KEY (owner, channel)
);

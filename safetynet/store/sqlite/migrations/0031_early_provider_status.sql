-- Provider status callbacks whose MessageSid/CallSid no delivery has yet: over a fast link the
-- callback can beat the commit that records the send. Applied when the id is recorded; kept for
-- a bounded time only (an id never recorded belongs to a send whose result was lost).
CREATE TABLE early_provider_status (
    provider_id TEXT PRIMARY KEY,
    state       TEXT NOT NULL,
    error_code  INTEGER,
    received_at REAL NOT NULL
);
CREATE INDEX early_provider_status_received ON early_provider_status(received_at);

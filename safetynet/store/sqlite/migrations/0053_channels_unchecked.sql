-- Channels as plug-ins: which channels and contact kinds exist is the channel registry's to say
-- (channels/registry.py), so no CHECK constraint lists them any more: a new channel (LINE, email)
-- needs no migration. Contacts and deliveries are rebuilt without those two lists; what is left
-- of their CHECKs is written as OR chains (see 0022: SQLite builds an ephemeral table for
-- x IN ('a', 'b', …) every time a statement runs, four times the cost of the row on hot tables;
-- an OR chain costs nothing). Nothing references either table, so they can be dropped and renamed.

CREATE TABLE contacts_new (
    id           INTEGER PRIMARY KEY,
    household_id INTEGER NOT NULL REFERENCES households(id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,  -- a contact kind a channel declares (mobile, landline, telegram, webpush…)
    address      TEXT NOT NULL,
    source       TEXT NOT NULL DEFAULT 'roster' CHECK (source = 'roster' OR source = 'enrolment'),
    state        TEXT NOT NULL DEFAULT 'working' CHECK (state = 'working' OR state = 'dead'),
    dead_reason  TEXT,
    created_at   REAL NOT NULL,
    UNIQUE (household_id, kind, address)
);
INSERT INTO contacts_new SELECT id, household_id, kind, address, source, state, dead_reason, created_at FROM contacts;
DROP TABLE contacts;
ALTER TABLE contacts_new RENAME TO contacts;
CREATE INDEX contacts_address ON contacts(kind, address);

CREATE TABLE deliveries_new (
    id              INTEGER PRIMARY KEY,
    campaign_id     INTEGER NOT NULL REFERENCES campaigns(id),
    household_id    INTEGER NOT NULL,
    step            INTEGER NOT NULL,
    channel         TEXT NOT NULL,  -- a registered channel's name
    contact_id      INTEGER,
    priority        INTEGER NOT NULL DEFAULT 0,
    fallback_rank   INTEGER NOT NULL DEFAULT 0,
    state           TEXT NOT NULL DEFAULT 'queued' CHECK (state = 'queued' OR state = 'claimed' OR state = 'sent'
                    OR state = 'delivered' OR state = 'undelivered' OR state = 'failed' OR state = 'skipped'
                    OR state = 'standby'),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    lease_until     REAL,
    lease_owner     TEXT,
    provider_id     TEXT,
    provider_status TEXT,
    segments        INTEGER,
    error           TEXT,
    sent_at         REAL,
    updated_at      REAL NOT NULL,
    UNIQUE (campaign_id, household_id, step, channel)
);
INSERT INTO deliveries_new SELECT id, campaign_id, household_id, step, channel, contact_id, priority, fallback_rank,
    state, attempts, next_attempt_at, lease_until, lease_owner, provider_id, provider_status, segments, error, sent_at,
    updated_at FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_new RENAME TO deliveries;
CREATE INDEX deliveries_lane ON deliveries(campaign_id, channel, priority, next_attempt_at) WHERE state = 'queued';
CREATE INDEX deliveries_claimed ON deliveries(lease_until) WHERE state = 'claimed';
CREATE INDEX deliveries_provider ON deliveries(provider_id) WHERE provider_id IS NOT NULL;

-- One send path: staff alerts (need-help, door-knock lists) are outbox rows like every household
-- delivery, so they get the lanes' rate limits, the retry policy and the attempt log. A staff row
-- has no household (household_id NULL, step -1), names its recipient (staff_id) and carries its
-- address and text as composed when queued (a head's contacts have no ids to point to, and the
-- alert says what was true when the answer came in). Its priority is below every household's;
-- the dispatcher claims such rows first, through their own small partial index.
-- household_id loses its NOT NULL, which SQLite changes only by rebuilding the table. Nothing
-- references deliveries.

CREATE TABLE deliveries_new (
    id              INTEGER PRIMARY KEY,
    campaign_id     INTEGER NOT NULL REFERENCES campaigns(id),
    household_id    INTEGER,  -- NULL for a staff alert
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
    staff_id        INTEGER,  -- a staff alert's recipient (a head or deputy)
    address         TEXT,     -- a staff alert's address (a household's is its contact's)
    body            TEXT,     -- a staff alert's text (erased by retention with the campaign's texts)
    link            TEXT,     -- the staff page a staff alert points to
    CHECK ((household_id IS NULL) = (staff_id IS NOT NULL)),
    UNIQUE (campaign_id, household_id, step, channel)
);
INSERT INTO deliveries_new (id, campaign_id, household_id, step, channel, contact_id, priority, fallback_rank,
    state, attempts, next_attempt_at, lease_until, lease_owner, provider_id, provider_status, segments, error,
    sent_at, updated_at)
    SELECT id, campaign_id, household_id, step, channel, contact_id, priority, fallback_rank, state, attempts,
    next_attempt_at, lease_until, lease_owner, provider_id, provider_status, segments, error, sent_at, updated_at
    FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_new RENAME TO deliveries;
CREATE INDEX deliveries_lane ON deliveries(campaign_id, channel, priority, next_attempt_at) WHERE state = 'queued';
CREATE INDEX deliveries_claimed ON deliveries(lease_until) WHERE state = 'claimed';
CREATE INDEX deliveries_provider ON deliveries(provider_id) WHERE provider_id IS NOT NULL;
CREATE INDEX deliveries_staff ON deliveries(channel, next_attempt_at) WHERE state = 'queued' AND staff_id IS NOT NULL;

-- Broadcast, version 2.

-- Where each running campaign is on its ladder, so a restart neither repeats nor skips a step.
-- A drill paused by a real event accumulates paused_seconds; its later steps move back by as much.
CREATE TABLE campaign_ladder (
    campaign_id    INTEGER PRIMARY KEY REFERENCES campaigns(id),
    next_step      INTEGER NOT NULL DEFAULT 0,
    paused_since   REAL,
    paused_seconds REAL NOT NULL DEFAULT 0,
    updated_at     REAL NOT NULL
);

-- Dispatchers claim per lane (one channel of one campaign), vulnerable households first.
-- It replaces deliveries_due: one partial index less to maintain on every insert and claim.
CREATE INDEX deliveries_lane ON deliveries(campaign_id, channel, priority, next_attempt_at) WHERE state = 'queued';
DROP INDEX deliveries_due;

-- The door-knock list of a campaign.
CREATE INDEX campaign_households_doorknock ON campaign_households(campaign_id, association_id)
    WHERE doorknock_at IS NOT NULL;

-- The door-knock notices owed (the same table as SQLite's 0145): written with the ladder's door-knock
-- step, removed once the association's notices are in the outbox, so a failed one outlives a restart.
CREATE TABLE doorknock_notices (
    campaign_id    BIGINT NOT NULL REFERENCES campaigns(id),
    association_id BIGINT NOT NULL,
    owed_since     DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (campaign_id, association_id)
);

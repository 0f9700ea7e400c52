-- The door-knock notices owed: an association's head and deputies not yet told that its door-knock list
-- is ready. Written in the transaction that records the ladder's door-knock step and makes the list, and
-- removed once the association's notices are in the outbox: a notice that failed (the store restarting)
-- is tried again by whichever process leads next, where it was kept in the leader's memory and lost on
-- a restart (a list nobody was told of).
CREATE TABLE doorknock_notices (
    campaign_id    INTEGER NOT NULL REFERENCES campaigns(id),
    association_id INTEGER NOT NULL,
    owed_since     REAL NOT NULL,
    PRIMARY KEY (campaign_id, association_id)
);

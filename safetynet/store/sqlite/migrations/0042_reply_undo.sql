-- Replies, version 2: a staff member can take back an in-person confirmation ("undo" of 訪問).
-- The history stays append-only: the undo is a reply of its own (status 'undo', `undoes` = the id
-- of the confirmation it takes back, staff_id and actor = who undid it); nothing is updated or deleted.
-- prior_status: the household's status just before a staff confirmation, which an undo restores.
-- The status CHECK becomes an OR chain (as the other hot tables in 0022): SQLite builds an ephemeral
-- table for x IN (…) on every insert.

CREATE TABLE replies_new (
    id             INTEGER PRIMARY KEY,
    campaign_id    INTEGER NOT NULL,
    household_id   INTEGER NOT NULL,
    status         TEXT NOT NULL CHECK (status = 'read' OR status = 'safe' OR status = 'need_help'
                   OR status = 'confirmed_in_person' OR status = 'note' OR status = 'undo'),
    channel        TEXT NOT NULL,
    dedupe_key     TEXT UNIQUE,
    people_safe    INTEGER,
    people_injured INTEGER,
    location       TEXT,
    note           TEXT,
    method         TEXT,
    staff_id       INTEGER,
    received_at    REAL NOT NULL,
    actor          TEXT,
    prior_status   TEXT,
    undoes         INTEGER,
    CHECK ((status = 'undo') = (undoes IS NOT NULL))
);
INSERT INTO replies_new (id, campaign_id, household_id, status, channel, dedupe_key, people_safe, people_injured,
    location, note, method, staff_id, received_at, actor)
    SELECT id, campaign_id, household_id, status, channel, dedupe_key, people_safe, people_injured, location, note,
    method, staff_id, received_at, actor FROM replies;
DROP TABLE replies;
ALTER TABLE replies_new RENAME TO replies;
CREATE INDEX replies_household ON replies(campaign_id, household_id);
-- A reply is taken back at most once; the partial index also lists every undo for the report's queries.
CREATE UNIQUE INDEX replies_undoes ON replies(undoes) WHERE undoes IS NOT NULL;

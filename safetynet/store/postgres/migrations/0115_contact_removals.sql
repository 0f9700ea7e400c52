-- A contact a resident removed on their enrolment page (/join/{code}/remove): a roster import does not
-- add it back while the roster's cell still names that address (QA, privacy walk: the next import brought
-- the deleted email back). A cell of the same kind naming another address ends it; so does the resident
-- adding the address again. It goes with its household.
CREATE TABLE contact_removals (
    household_id BIGINT NOT NULL REFERENCES households(id) ON DELETE CASCADE,
    kind         TEXT COLLATE "C" NOT NULL,
    address      TEXT COLLATE "C" NOT NULL,
    removed_at   DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (household_id, kind, address)
);

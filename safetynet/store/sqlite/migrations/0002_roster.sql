-- Roster, version 2.
-- `roster import --replace` deletes a household that left the roster, unless campaigns still
-- refer to it (campaign_households has a foreign key to it and reports need its name): such a
-- household is kept with removed_at set, its contacts and enrolment code deleted. Every query
-- for the current roster filters on `removed_at IS NULL`; a later import of the same
-- (association, household) key brings the household back.
ALTER TABLE households ADD COLUMN removed_at REAL;

-- contacts_household duplicates the leading column of UNIQUE (household_id, kind, address),
-- which serves the same lookups; one index fewer to maintain on a 200k-household import.
DROP INDEX contacts_household;

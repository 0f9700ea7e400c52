-- One send path, as SQLite's 0085: a staff alert is an outbox row with no household, naming its
-- recipient (staff_id) and carrying its address, text and link as composed when queued.
ALTER TABLE deliveries ALTER COLUMN household_id DROP NOT NULL;
ALTER TABLE deliveries ADD COLUMN staff_id BIGINT;
ALTER TABLE deliveries ADD COLUMN address TEXT COLLATE "C";
ALTER TABLE deliveries ADD COLUMN body TEXT COLLATE "C";
ALTER TABLE deliveries ADD COLUMN link TEXT COLLATE "C";
ALTER TABLE deliveries ADD CONSTRAINT deliveries_one_recipient CHECK ((household_id IS NULL) = (staff_id IS NOT NULL));

CREATE INDEX deliveries_staff ON deliveries(channel, next_attempt_at) WHERE state = 'queued' AND staff_id IS NOT NULL;

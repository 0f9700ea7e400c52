-- How many times a call that rang out (busy, no answer) was placed again on this row within its ladder
-- step (`domain.redial`): bounded by `[channels.voice] redials`, kept with the row so that a restart
-- neither loses a redial nor places one twice. A queued row with redials > 0 is a redial.
ALTER TABLE deliveries ADD COLUMN redials INTEGER NOT NULL DEFAULT 0;

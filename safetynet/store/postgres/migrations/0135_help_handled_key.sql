-- The message id of the staff text that last marked a help request handled, kept when it is reopened (the
-- same column as SQLite's 0135): a provider's retry of that text marks nothing handled again.
ALTER TABLE help_requests ADD COLUMN handled_key TEXT COLLATE "C";

-- How many times a call that rang out was placed again on this row within its step (as SQLite's 0152).
ALTER TABLE deliveries ADD COLUMN redials INTEGER NOT NULL DEFAULT 0;

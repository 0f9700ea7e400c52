-- Who did it, by login: API tokens have no staff id, and a staff row may be removed later.
ALTER TABLE replies ADD COLUMN actor TEXT;
ALTER TABLE help_requests ADD COLUMN handled_by_login TEXT;
-- The open help list is read per campaign on every dashboard refresh.
CREATE INDEX help_requests_open ON help_requests(campaign_id) WHERE handled_at IS NULL;
-- Set once the head and deputies were told; open requests without it are re-sent after a restart.
ALTER TABLE help_requests ADD COLUMN notified_at REAL;

-- foreign_keys: off
-- The two-person rule for real events (DESIGN §9): a state `pending_approval` between draft and
-- running, who started it (a staff id for a person; a label alone for a trigger or an API token) and
-- who approved it. `purged_at`: when retention erased its free texts. SQLite cannot change a CHECK,
-- so the table is rebuilt; campaign_households, deliveries and campaign_ladder refer to it, which is
-- why this migration runs with foreign keys off (checked with foreign_key_check before it commits).
-- started_by moves out of the options JSON into its column.
CREATE TABLE campaigns_new (
    id                INTEGER PRIMARY KEY,
    kind              TEXT NOT NULL CHECK (kind IN ('drill', 'real')),
    title             TEXT NOT NULL,
    state             TEXT NOT NULL DEFAULT 'draft'
                      CHECK (state IN ('draft', 'pending_approval', 'running', 'closed', 'cancelled')),
    scope             TEXT NOT NULL,
    messages          TEXT NOT NULL,
    ladder            TEXT NOT NULL,
    options           TEXT NOT NULL DEFAULT '{}',
    source            TEXT NOT NULL DEFAULT 'cli',
    created_by        TEXT NOT NULL DEFAULT '',
    created_at        REAL NOT NULL,
    started_at        REAL,
    closed_at         REAL,
    households        INTEGER NOT NULL DEFAULT 0,
    started_by        TEXT NOT NULL DEFAULT '',
    started_by_staff  INTEGER,
    requested_at      REAL,
    approved_by       TEXT NOT NULL DEFAULT '',
    approved_by_staff INTEGER,
    approved_at       REAL,
    purged_at         REAL,
    -- a real event runs only after a second person approved it, and never by the one who started it
    CHECK (approved_by_staff IS NULL OR started_by_staff IS NULL OR approved_by_staff <> started_by_staff)
);
INSERT INTO campaigns_new (id, kind, title, state, scope, messages, ladder, options, source, created_by, created_at,
                           started_at, closed_at, households, started_by)
SELECT id, kind, title, state, scope, messages, ladder, json_remove(options, '$.started_by'), source, created_by,
       created_at, started_at, closed_at, households, coalesce(json_extract(options, '$.started_by'), '')
FROM campaigns;
DROP TABLE campaigns;
ALTER TABLE campaigns_new RENAME TO campaigns;
CREATE INDEX campaigns_state ON campaigns(state);

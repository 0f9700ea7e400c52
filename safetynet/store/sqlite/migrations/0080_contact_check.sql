-- foreign_keys: off
-- The contact check (連絡先確認): a campaign kind `check` sends every working contact of a household
-- a "tap to confirm" message, each with its own token, so a tap confirms that contact, not only the
-- household. SQLite cannot change the campaigns' kind CHECK, so the table is rebuilt as in 0051.
CREATE TABLE campaigns_new (
    id                INTEGER PRIMARY KEY,
    kind              TEXT NOT NULL CHECK (kind = 'drill' OR kind = 'real' OR kind = 'check'),
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
    CHECK (approved_by_staff IS NULL OR started_by_staff IS NULL OR approved_by_staff <> started_by_staff)
);
INSERT INTO campaigns_new SELECT id, kind, title, state, scope, messages, ladder, options, source, created_by,
    created_at, started_at, closed_at, households, started_by, started_by_staff, requested_at, approved_by,
    approved_by_staff, approved_at, purged_at FROM campaigns;
DROP TABLE campaigns;
ALTER TABLE campaigns_new RENAME TO campaigns;
CREATE INDEX campaigns_state ON campaigns(state);

-- One row per contact asked in a check: the hash of its own token, the channel it went by, and
-- when it was confirmed (NULL: not yet). A dead contact is the contacts table's state.
CREATE TABLE contact_checks (
    campaign_id  INTEGER NOT NULL REFERENCES campaigns(id),
    contact_id   INTEGER NOT NULL,
    household_id INTEGER NOT NULL,
    channel      TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    confirmed_at REAL,
    PRIMARY KEY (campaign_id, contact_id)
) WITHOUT ROWID;
CREATE INDEX contact_checks_contact ON contact_checks(contact_id, campaign_id);

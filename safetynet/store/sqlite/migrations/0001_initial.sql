-- SafetyNet schema, version 1. Times are Unix epoch seconds (REAL, UTC).

-- Roster -------------------------------------------------------------------

CREATE TABLE districts (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE associations (
    id          INTEGER PRIMARY KEY,
    district_id INTEGER NOT NULL REFERENCES districts(id),
    name        TEXT NOT NULL UNIQUE
);
CREATE INDEX associations_district ON associations(district_id);

-- 班: "groups" is an SQL keyword, hence the longer name.
CREATE TABLE household_groups (
    id             INTEGER PRIMARY KEY,
    association_id INTEGER NOT NULL REFERENCES associations(id),
    name           TEXT NOT NULL,
    UNIQUE (association_id, name)
);

CREATE TABLE households (
    id             INTEGER PRIMARY KEY,
    association_id INTEGER NOT NULL REFERENCES associations(id),
    group_id       INTEGER REFERENCES household_groups(id),
    household_key  TEXT NOT NULL,              -- 世帯番号, unique within the association
    name           TEXT NOT NULL,              -- 世帯主
    address        TEXT NOT NULL DEFAULT '',
    members        INTEGER NOT NULL DEFAULT 1,
    vulnerable     INTEGER NOT NULL DEFAULT 0, -- 要配慮
    language       TEXT NOT NULL DEFAULT 'ja',
    notes          TEXT NOT NULL DEFAULT '',
    created_at     REAL NOT NULL,
    updated_at     REAL NOT NULL,
    UNIQUE (association_id, household_key)
);

-- kind: mobile (sms + voice), landline (voice), telegram (chat id), webpush (subscription JSON).
-- source: roster rows are replaced on re-import; enrolment rows survive it.
CREATE TABLE contacts (
    id           INTEGER PRIMARY KEY,
    household_id INTEGER NOT NULL REFERENCES households(id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('mobile', 'landline', 'telegram', 'webpush')),
    address      TEXT NOT NULL,
    source       TEXT NOT NULL DEFAULT 'roster' CHECK (source IN ('roster', 'enrolment')),
    state        TEXT NOT NULL DEFAULT 'working' CHECK (state IN ('working', 'dead')),
    dead_reason  TEXT,
    created_at   REAL NOT NULL,
    UNIQUE (household_id, kind, address)
);
CREATE INDEX contacts_household ON contacts(household_id);
CREATE INDEX contacts_address ON contacts(kind, address);

-- Enrolment codes are stored as a keyed hash; the clear code exists only on the letter.
CREATE TABLE enrolment_codes (
    household_id INTEGER PRIMARY KEY REFERENCES households(id) ON DELETE CASCADE,
    code_hash    TEXT NOT NULL UNIQUE,
    created_at   REAL NOT NULL
);

-- Pending phone confirmations started from the enrolment page.
CREATE TABLE phone_verifications (
    id           INTEGER PRIMARY KEY,
    household_id INTEGER NOT NULL REFERENCES households(id) ON DELETE CASCADE,
    phone        TEXT NOT NULL,
    code_hash    TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    expires_at   REAL NOT NULL,
    created_at   REAL NOT NULL
);

-- Staff and access ----------------------------------------------------------

-- scope: 'city', 'district:NAME' or 'association:NAME' (names as in the roster).
CREATE TABLE staff (
    id               INTEGER PRIMARY KEY,
    login            TEXT NOT NULL UNIQUE,
    display_name     TEXT NOT NULL,
    role             TEXT NOT NULL CHECK (role IN ('city_admin', 'district_head', 'association_head', 'deputy')),
    scope            TEXT NOT NULL,
    password_hash    TEXT,
    phone            TEXT,
    telegram_chat_id TEXT,
    webpush          TEXT,
    language         TEXT NOT NULL DEFAULT 'ja',
    active           INTEGER NOT NULL DEFAULT 1,
    created_at       REAL NOT NULL
);
CREATE INDEX staff_scope ON staff(scope);

CREATE TABLE staff_sessions (
    token_hash TEXT PRIMARY KEY,
    staff_id   INTEGER NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);

CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL CHECK (role IN ('city_admin', 'district_head', 'association_head', 'deputy')),
    scope      TEXT NOT NULL,
    label      TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    revoked_at REAL
);

-- Campaigns ----------------------------------------------------------------

-- scope: JSON list of 'city' | 'district:NAME' | 'association:NAME' | 'group:ASSOCIATION/GROUP'.
-- messages: JSON {language: text}. ladder: JSON list of steps. options: JSON (scenario extras).
CREATE TABLE campaigns (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('drill', 'real')),
    title       TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'running', 'closed', 'cancelled')),
    scope       TEXT NOT NULL,
    messages    TEXT NOT NULL,
    ladder      TEXT NOT NULL,
    options     TEXT NOT NULL DEFAULT '{}',
    source      TEXT NOT NULL DEFAULT 'cli',
    created_by  TEXT NOT NULL DEFAULT '',
    created_at  REAL NOT NULL,
    started_at  REAL,
    closed_at   REAL,
    households  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX campaigns_state ON campaigns(state);

-- One row per household in a campaign: the current status, derived from replies and deliveries.
-- status rank: pending < notified < unreachable < read < answered (safe | need_help | confirmed_in_person);
-- among answers the latest wins.
CREATE TABLE campaign_households (
    campaign_id    INTEGER NOT NULL REFERENCES campaigns(id),
    household_id   INTEGER NOT NULL REFERENCES households(id),
    association_id INTEGER NOT NULL,
    token_hash     TEXT NOT NULL UNIQUE,
    status         TEXT NOT NULL DEFAULT 'pending' CHECK (status IN
                   ('pending', 'notified', 'read', 'safe', 'need_help', 'confirmed_in_person', 'unreachable')),
    status_at      REAL,
    first_answer_at REAL,
    ladder_step    INTEGER NOT NULL DEFAULT -1, -- last ladder step planned for this household
    doorknock_at   REAL,                        -- put on the door-knock list
    PRIMARY KEY (campaign_id, household_id)
) WITHOUT ROWID;
CREATE INDEX campaign_households_assoc ON campaign_households(campaign_id, association_id);

-- Live counters kept in the same transaction as every status change (never recounted per request).
CREATE TABLE campaign_counts (
    campaign_id    INTEGER NOT NULL,
    association_id INTEGER NOT NULL,
    status         TEXT NOT NULL,
    n              INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, association_id, status)
) WITHOUT ROWID;

-- First answers per minute since the campaign started, for the response curve.
CREATE TABLE campaign_answer_minutes (
    campaign_id    INTEGER NOT NULL,
    association_id INTEGER NOT NULL,
    minute         INTEGER NOT NULL,
    n              INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, association_id, minute)
) WITHOUT ROWID;

-- The outbox: one row per (campaign, household, step, channel), written before any send.
-- state: queued -> claimed -> sent | failed | skipped; delivered/undelivered come from provider callbacks.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    campaign_id     INTEGER NOT NULL REFERENCES campaigns(id),
    household_id    INTEGER NOT NULL,
    step            INTEGER NOT NULL,
    channel         TEXT NOT NULL CHECK (channel IN ('webpush', 'telegram', 'sms', 'voice')),
    contact_id      INTEGER,
    priority        INTEGER NOT NULL DEFAULT 0, -- lower goes first (vulnerable households: 0)
    fallback_rank   INTEGER NOT NULL DEFAULT 0, -- 0 = primary; >0 = used only if earlier ones failed
    state           TEXT NOT NULL DEFAULT 'queued' CHECK (state IN
                    ('queued', 'claimed', 'sent', 'delivered', 'undelivered', 'failed', 'skipped', 'standby')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    lease_until     REAL,
    lease_owner     TEXT,
    provider_id     TEXT,
    provider_status TEXT,
    segments        INTEGER,
    error           TEXT,
    sent_at         REAL,
    updated_at      REAL NOT NULL,
    UNIQUE (campaign_id, household_id, step, channel)
);
-- Partial index: a row enters and leaves 'queued' once, so the hot state column is cheap to index here.
CREATE INDEX deliveries_due ON deliveries(next_attempt_at, priority) WHERE state = 'queued';
CREATE INDEX deliveries_claimed ON deliveries(lease_until) WHERE state = 'claimed';
CREATE INDEX deliveries_provider ON deliveries(provider_id) WHERE provider_id IS NOT NULL;
CREATE INDEX deliveries_household ON deliveries(campaign_id, household_id);

-- Append-only log of every provider call.
CREATE TABLE delivery_attempts (
    id          INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL,
    at          REAL NOT NULL,
    duration_ms REAL NOT NULL,
    outcome     TEXT NOT NULL,  -- sent | retry | failed
    error_class TEXT,
    detail      TEXT
);

-- Replies ------------------------------------------------------------------

-- Append-only. dedupe_key makes every inbound idempotent (provider message id, client request id…).
CREATE TABLE replies (
    id             INTEGER PRIMARY KEY,
    campaign_id    INTEGER NOT NULL,
    household_id   INTEGER NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('read', 'safe', 'need_help', 'confirmed_in_person', 'note')),
    channel        TEXT NOT NULL,  -- web | webpush | telegram | sms | voice | staff
    dedupe_key     TEXT UNIQUE,
    people_safe    INTEGER,
    people_injured INTEGER,
    location       TEXT,
    note           TEXT,
    method         TEXT,           -- in person: visit | phone | paper
    staff_id       INTEGER,
    received_at    REAL NOT NULL
);
CREATE INDEX replies_household ON replies(campaign_id, household_id);

-- Households that asked for help; open until a head or deputy marks them handled.
CREATE TABLE help_requests (
    campaign_id  INTEGER NOT NULL,
    household_id INTEGER NOT NULL,
    reply_id     INTEGER NOT NULL,
    opened_at    REAL NOT NULL,
    handled_at   REAL,
    handled_by   INTEGER,
    PRIMARY KEY (campaign_id, household_id)
) WITHOUT ROWID;

-- Triggers -----------------------------------------------------------------

CREATE TABLE trigger_events (
    id           INTEGER PRIMARY KEY,
    source       TEXT NOT NULL,  -- jma | cap
    event_id     TEXT NOT NULL,
    serial       TEXT NOT NULL DEFAULT '',
    info_type    TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL DEFAULT '',
    intensity    TEXT,
    decision     TEXT NOT NULL,
    reason       TEXT NOT NULL,
    campaign_id  INTEGER,
    reported_at  REAL,
    received_at  REAL NOT NULL,
    UNIQUE (source, event_id, serial, info_type)
);

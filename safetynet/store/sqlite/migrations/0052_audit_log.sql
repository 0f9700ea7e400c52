-- The audit log (DESIGN §9): staff views of households' details, exports and in-person
-- confirmations. Append-only but for retention, which deletes by age (`[privacy] audit_retention_days`).
CREATE TABLE audit_log (
    id             INTEGER PRIMARY KEY,
    at             REAL NOT NULL,
    actor          TEXT NOT NULL,              -- staff login, token:ID, cli:USER
    role           TEXT NOT NULL DEFAULT '',
    staff_id       INTEGER,
    action         TEXT NOT NULL,              -- view | export | confirm | undo
    what           TEXT NOT NULL,              -- the page, list or file
    campaign_id    INTEGER,
    association_id INTEGER,
    household_id   INTEGER,
    detail         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log(at);

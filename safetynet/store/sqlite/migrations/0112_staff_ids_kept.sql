-- foreign_keys: off
-- A removed staff member's id is never another's. SQLite gives a new row max(id) + 1, so removing the
-- newest account and adding one gave the newcomer the removed one's id, which other tables keep with no
-- foreign key (api_tokens.created_by, campaigns.started_by_staff and approved_by_staff, audit_log,
-- replies, deliveries): a removed admin's API token was listed as the newcomer's, and the two-person
-- rule took the newcomer for its maker. AUTOINCREMENT never reuses an id; its sequence starts above
-- every id any of those tables holds. The table is rebuilt as in 0051 (PostgreSQL's identity never
-- reused one).
CREATE TABLE staff_new (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    login            TEXT NOT NULL UNIQUE,
    display_name     TEXT NOT NULL,
    role             TEXT NOT NULL CHECK (role IN ('city_admin', 'district_head', 'association_head', 'deputy')),
    scope            TEXT NOT NULL,
    password_hash    TEXT,
    language         TEXT NOT NULL DEFAULT 'ja',
    active           INTEGER NOT NULL DEFAULT 1,
    created_at       REAL NOT NULL
);
INSERT INTO staff_new (id, login, display_name, role, scope, password_hash, language, active, created_at)
    SELECT id, login, display_name, role, scope, password_hash, language, active, created_at FROM staff;
DROP TABLE staff;
ALTER TABLE staff_new RENAME TO staff;
CREATE INDEX staff_scope ON staff(scope);
DELETE FROM sqlite_sequence WHERE name = 'staff';
INSERT INTO sqlite_sequence (name, seq) SELECT 'staff', coalesce(max(n), 0) FROM (
    SELECT max(id) AS n FROM staff
    UNION ALL SELECT max(created_by) FROM api_tokens
    UNION ALL SELECT max(started_by_staff) FROM campaigns
    UNION ALL SELECT max(approved_by_staff) FROM campaigns
    UNION ALL SELECT max(staff_id) FROM audit_log
    UNION ALL SELECT max(staff_id) FROM replies
    UNION ALL SELECT max(staff_id) FROM deliveries);

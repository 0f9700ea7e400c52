-- Staff contacts as rows of (kind, address), like households': a head or deputy reachable over any
-- channel (LINE, email…) without a column per channel. The three columns the staff table had
-- (phone, telegram_chat_id, webpush) move here as kinds mobile, telegram and webpush, then go.

CREATE TABLE staff_contacts (
    id         INTEGER PRIMARY KEY,
    staff_id   INTEGER NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,  -- a contact kind a channel declares
    address    TEXT NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (staff_id, kind, address)
);

INSERT INTO staff_contacts (staff_id, kind, address, created_at)
    SELECT id, 'mobile', phone, created_at FROM staff WHERE coalesce(phone, '') <> ''
    UNION ALL SELECT id, 'telegram', telegram_chat_id, created_at FROM staff WHERE coalesce(telegram_chat_id, '') <> ''
    UNION ALL SELECT id, 'webpush', webpush, created_at FROM staff WHERE coalesce(webpush, '') <> '';

ALTER TABLE staff DROP COLUMN phone;
ALTER TABLE staff DROP COLUMN telegram_chat_id;
ALTER TABLE staff DROP COLUMN webpush;

-- The contact check (連絡先確認), as SQLite's 0080: a campaign kind `check`, and one row per contact
-- asked, with the hash of its own token and when it was confirmed (NULL: not yet).
ALTER TABLE campaigns DROP CONSTRAINT campaigns_kind_check;
ALTER TABLE campaigns ADD CONSTRAINT campaigns_kind_check CHECK (kind IN ('drill', 'real', 'check'));

CREATE TABLE contact_checks (
    campaign_id  BIGINT NOT NULL REFERENCES campaigns(id),
    contact_id   BIGINT NOT NULL,
    household_id BIGINT NOT NULL,
    channel      TEXT COLLATE "C" NOT NULL,
    token_hash   TEXT COLLATE "C" NOT NULL UNIQUE,
    confirmed_at DOUBLE PRECISION,
    PRIMARY KEY (campaign_id, contact_id)
);

CREATE INDEX contact_checks_contact ON contact_checks(contact_id, campaign_id);

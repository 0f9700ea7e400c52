-- A household's consent to have its name, address and phone shown to association heads in normal
-- times (DESIGN §9): yes (同意), no (不同意), ordinance (条例による提供). A 要配慮 household imported
-- before the column existed has no recorded consent, which the roster now reads as `no`.
ALTER TABLE households ADD COLUMN consent TEXT NOT NULL DEFAULT 'yes'
    CHECK (consent = 'yes' OR consent = 'no' OR consent = 'ordinance');
UPDATE households SET consent = 'no' WHERE vulnerable = 1;

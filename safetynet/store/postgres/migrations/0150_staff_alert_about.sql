-- A help alert's row names the household whose call for help it carries (as SQLite's 0150): a request
-- whose every alert to the association's own staff failed goes to the standing-in staff at once.
ALTER TABLE deliveries ADD COLUMN about_household_id BIGINT;
CREATE INDEX deliveries_about ON deliveries(campaign_id, about_household_id) WHERE about_household_id IS NOT NULL;

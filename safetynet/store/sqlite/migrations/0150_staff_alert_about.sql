-- A help alert's row names the household whose call for help it carries: when every alert of a request
-- to the association's own head and deputies has failed (a head who blocked the LINE account, a deputy's
-- mail relay down), the request goes to the staff standing in for them at once, not half an hour on
-- (`help_requests` escalation). Other staff alerts (door-knock lists, notices) leave it empty.
ALTER TABLE deliveries ADD COLUMN about_household_id INTEGER;
CREATE INDEX deliveries_about ON deliveries(campaign_id, about_household_id) WHERE about_household_id IS NOT NULL;

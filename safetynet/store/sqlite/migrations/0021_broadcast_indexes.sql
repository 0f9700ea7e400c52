-- Broadcast, version 3.
-- deliveries_household (campaign_id, household_id) repeats the prefix of the unique key
-- (campaign_id, household_id, step, channel), which serves every lookup by household: one index
-- less to write for each of the half a million rows a city-wide campaign plans.
DROP INDEX deliveries_household;

-- Household notices (step -2): when a campaign that went out is cancelled, each contact it reached
-- is told so. Rows like a staff alert's (address and text composed when queued) but of a household;
-- claimed after the running campaigns' deliveries, through their own small partial index.
CREATE INDEX deliveries_notices ON deliveries(channel, next_attempt_at) WHERE state = 'queued' AND step = -2;

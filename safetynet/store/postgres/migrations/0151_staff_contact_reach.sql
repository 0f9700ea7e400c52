-- The newest alert of each staff member's address, read newest first (as SQLite's 0151): whether a
-- head's or deputy's contact still works, on /admin and /city. Staff alerts only.
CREATE INDEX deliveries_staff_address ON deliveries(staff_id, address, id) WHERE staff_id IS NOT NULL;

-- Whether each staff contact works is what the last alert sent to it came to (`staff_contact_reach`, on
-- /admin beside each contact and on /city for an association none of whose heads and deputies can be
-- reached): the newest alert of a staff member's address, read newest first. Staff alerts only.
CREATE INDEX deliveries_staff_address ON deliveries(staff_id, address, id) WHERE staff_id IS NOT NULL;

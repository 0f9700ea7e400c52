-- Room on each page for a new version of every row on it: a flush changes the status of 500
-- households enrolled side by side (claims follow the enrolment order), so all the rows of a page
-- change at once. At 70, a third of them found no room and went to another page (no HOT update:
-- three new index entries each, measured 1,488 WAL records for 500 rows instead of 500). New pages only.
ALTER TABLE campaign_households SET (fillfactor = 50);

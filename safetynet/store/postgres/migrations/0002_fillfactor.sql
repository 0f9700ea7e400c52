-- Room on each page for the new version of a row: a household's status changes a few times in a
-- campaign and its counters many times, and an update that fits on its page and touches no indexed
-- column is a HOT update (no new index entries). New pages only: existing rows move as they change.
ALTER TABLE campaign_households SET (fillfactor = 70);
ALTER TABLE campaign_counts SET (fillfactor = 50);
ALTER TABLE campaign_answer_minutes SET (fillfactor = 50);
ALTER TABLE deliveries SET (fillfactor = 80);

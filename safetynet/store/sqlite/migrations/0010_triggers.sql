-- Trigger events, version 2.
-- The v1 unique key (source, event_id, serial, info_type) collides for JMA telegrams without a
-- Serial (震度速報, tsunami warnings) that JMA re-issues for one event, and across telegram kinds
-- that share an EventID. Each telegram now carries its own dedupe key (kind, event, serial,
-- info type and Control/DateTime for JMA; sender and identifier for CAP).

CREATE TABLE trigger_events_v2 (
    id           INTEGER PRIMARY KEY,
    source       TEXT NOT NULL,              -- jma | cap
    dedupe_key   TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL DEFAULT '',   -- intensity_flash | hypocenter_intensity | tsunami | ... | cap
    event_key    TEXT NOT NULL DEFAULT '',   -- real:EVENTID | drill:EVENTID | cap:SENDER,IDENTIFIER
    event_id     TEXT NOT NULL,
    serial       TEXT NOT NULL DEFAULT '',
    info_type    TEXT NOT NULL DEFAULT '',   -- 発表 | 訂正 | 取消 | Alert | Update | Cancel
    status       TEXT NOT NULL DEFAULT '',   -- 通常 | 訓練 | 試験 | Actual | Exercise | ...
    intensity    TEXT,                       -- highest intensity over the configured places, "5-" style
    decision     TEXT NOT NULL CHECK (decision IN ('ignore', 'propose', 'start', 'update', 'withdraw')),
    reason       TEXT NOT NULL,
    campaign_id  INTEGER,
    origin       TEXT NOT NULL DEFAULT '',   -- where it came from: feed, a file name, http
    detail       TEXT NOT NULL DEFAULT '{}', -- the whole decision as JSON, to rebuild the rules' memory
    reported_at  REAL,
    received_at  REAL NOT NULL
);

INSERT INTO trigger_events_v2
    (id, source, dedupe_key, event_id, serial, info_type, status, intensity, decision, reason,
     campaign_id, reported_at, received_at)
SELECT id, source, source || ':' || event_id || ':' || serial || ':' || info_type, event_id, serial,
       info_type, status, intensity, decision, reason, campaign_id, reported_at, received_at
FROM trigger_events;

DROP TABLE trigger_events;
ALTER TABLE trigger_events_v2 RENAME TO trigger_events;
CREATE INDEX trigger_events_received ON trigger_events(received_at);
CREATE INDEX trigger_events_campaign ON trigger_events(campaign_id) WHERE campaign_id IS NOT NULL;

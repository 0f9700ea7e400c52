-- The answer given to each staff text acted on (「訪問済み 12」, 「対応済み 12」, 「訪問取消 12」), by its channel and
-- message id: a provider's retry of the text (Telegram redelivers every unacknowledged update after a restart;
-- LINE redelivers; Twilio retries on a failed webhook) gets the same answer and does nothing again, whatever
-- changed since (a new campaign started, a new call for help). Kept two days: a provider retries within one.
CREATE TABLE staff_texts (
    dedupe_key  TEXT PRIMARY KEY,
    answer      TEXT NOT NULL,
    received_at REAL NOT NULL
);

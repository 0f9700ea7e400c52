-- The answer given to each staff text acted on, by its channel and message id (the same table as SQLite's
-- 0140): a provider's retry gets the same answer and does nothing again. Kept two days.
CREATE TABLE staff_texts (
    dedupe_key  TEXT COLLATE "C" PRIMARY KEY,
    answer      TEXT NOT NULL,
    received_at DOUBLE PRECISION NOT NULL
);

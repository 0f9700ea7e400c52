-- A fingerprint of each key the city signs with (the same table as SQLite's 0125): recorded by the first `init`
-- or `serve`, compared by every later one. Never the key itself.
CREATE TABLE key_fingerprints (
    name        TEXT COLLATE "C" PRIMARY KEY,
    fingerprint TEXT COLLATE "C" NOT NULL,
    recorded_at DOUBLE PRECISION NOT NULL
);

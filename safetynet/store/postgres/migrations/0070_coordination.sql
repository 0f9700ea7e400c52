-- Several processes on one store (DESIGN §8): the schedulers' leader lease and the shared send
-- slots of each provider lane (the same tables as SQLite's 0070).
CREATE TABLE leases (
    name       TEXT COLLATE "C" PRIMARY KEY,
    owner      TEXT COLLATE "C" NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);

CREATE TABLE lane_slots (
    lane    TEXT COLLATE "C" PRIMARY KEY,
    next_at DOUBLE PRECISION NOT NULL
);

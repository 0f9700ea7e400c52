-- Several processes on one store (DESIGN §8): the schedulers' leader lease and the shared send
-- slots of each provider lane.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at REAL NOT NULL
);

CREATE TABLE lane_slots (
    lane TEXT PRIMARY KEY,
    next_at REAL NOT NULL  -- the first slot not yet given
);

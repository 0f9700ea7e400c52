-- A process of the `web` role beats too, in the dispatchers' table with role 'web' (QA: it left no trace, and
-- an upgrade's `init` migrated the database under a running older web process). Only an upgrade's look for
-- live processes reads it: every reader of dispatchers (/readyz, /metrics, /city, `campaign start`) takes
-- role 'dispatcher' alone. The rows there before are dispatchers'.
ALTER TABLE dispatchers ADD COLUMN role TEXT NOT NULL DEFAULT 'dispatcher' CHECK (role IN ('dispatcher', 'web'));

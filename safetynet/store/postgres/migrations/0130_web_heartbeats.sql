-- A process of the `web` role beats too, in the dispatchers' table with role 'web' (the same column as SQLite's
-- 0130): only an upgrade's look for live processes reads it; every reader of dispatchers takes role
-- 'dispatcher' alone. The rows there before are dispatchers'.
ALTER TABLE dispatchers ADD COLUMN role TEXT COLLATE "C" NOT NULL DEFAULT 'dispatcher' CHECK (role IN ('dispatcher', 'web'));

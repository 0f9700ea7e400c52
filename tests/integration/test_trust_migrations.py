"""The consent and two-person-rule migrations keep a city's rows: the campaigns table is rebuilt
(its CHECK gains pending_approval) under the tables that refer to it, and nothing dangles."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import aiosqlite
import pytest

from safetynet.store.errors import StoreError
from safetynet.store.sqlite.db import _migrate, _migrations


async def _old_city(conn: aiosqlite.Connection) -> None:
    await conn.execute("PRAGMA foreign_keys=ON")
    await _migrate(conn, [m for m in _migrations() if m[0] < 50])
    await conn.executescript(
        "INSERT INTO districts (name) VALUES ('北');"
        "INSERT INTO associations (district_id, name) VALUES (1, '桜町');"
        "INSERT INTO households (association_id, household_key, name, vulnerable, created_at, updated_at)"
        " VALUES (1, 'k1', 'n1', 0, 0, 0), (1, 'k2', 'n2', 1, 0, 0);"
        "INSERT INTO campaigns (kind, title, state, scope, messages, ladder, options, created_at, started_at)"
        " VALUES ('real', 't', 'running', '[\"city\"]', '{}', '[]', '{\"started_by\": \"admin\", \"scenario\": \"s\"}',"
        " 0, 1);"
        "INSERT INTO campaign_households (campaign_id, household_id, association_id, token_hash, status)"
        " VALUES (1, 1, 1, 'h', 'notified');"
        "INSERT INTO deliveries (campaign_id, household_id, step, channel, state, next_attempt_at, updated_at)"
        " VALUES (1, 1, 0, 'sms', 'sent', 0, 0);"
        "INSERT INTO campaign_ladder (campaign_id, next_step, updated_at) VALUES (1, 2, 0);"
    )


async def test_the_rebuilt_campaigns_keep_their_rows_references_and_starter(tmp_path: Path) -> None:
    async with aiosqlite.connect(tmp_path / "old.db", isolation_level=None) as conn:
        await _old_city(conn)
        await _migrate(conn, _migrations())
        async with conn.execute("SELECT state, options, started_by, started_by_staff FROM campaigns") as cur:
            state, options, started_by, staff = (await cur.fetchall())[0]
        assert (state, json.loads(options), started_by, staff) == ("running", {"scenario": "s"}, "admin", None)
        async with conn.execute("PRAGMA foreign_key_check") as cur:
            assert list(await cur.fetchall()) == []
        async with conn.execute("PRAGMA foreign_keys") as cur:
            assert (await cur.fetchone()) == (1,)  # back on after the rebuild
        with pytest.raises(sqlite3.IntegrityError):  # the references still hold
            await conn.execute("INSERT INTO campaign_ladder (campaign_id, next_step, updated_at) VALUES (99, 0, 0)")
        await conn.execute("UPDATE campaigns SET state = 'pending_approval'")
        with pytest.raises(sqlite3.IntegrityError):
            await conn.execute("UPDATE campaigns SET state = 'approved'")
        with pytest.raises(sqlite3.IntegrityError):  # the last line of the two-person rule
            await conn.execute("UPDATE campaigns SET started_by_staff = 1, approved_by_staff = 1")
        async with conn.execute("SELECT household_key, consent FROM households ORDER BY id") as cur:
            # a 要配慮 household imported before consent existed has none recorded: no
            assert list(await cur.fetchall()) == [("k1", "yes"), ("k2", "no")]
        with pytest.raises(sqlite3.IntegrityError):
            await conn.execute("UPDATE households SET consent = 'maybe'")


async def test_a_rebuild_that_would_leave_a_dangling_reference_is_rolled_back(tmp_path: Path) -> None:
    async with aiosqlite.connect(tmp_path / "old.db", isolation_level=None) as conn:
        await _old_city(conn)
        broken = (99, "broken", "-- foreign_keys: off\nDELETE FROM campaigns;")
        with pytest.raises(StoreError, match="migration 0099_broken failed"):
            await _migrate(conn, [*_migrations(), broken])
        async with conn.execute("SELECT count(*) FROM campaigns") as cur:
            assert (await cur.fetchone()) == (1,)
        async with conn.execute("SELECT max(version) FROM schema_version") as cur:
            assert (await cur.fetchone()) == (max(m[0] for m in _migrations()),)
        async with conn.execute("PRAGMA foreign_keys") as cur:
            assert (await cur.fetchone()) == (1,)


async def test_a_consent_recorded_before_0120_is_stated_but_an_ordinary_households_yes(tmp_path: Path) -> None:
    """0120 records whether a consent was stated by a cell or defaulted by an empty one. Before it nobody
    can tell: an ordinary household's 同意 is taken for a default (marked 要配慮 later with no consent stated,
    it becomes 不同意, the safe side); every other consent is kept as stated."""
    async with aiosqlite.connect(tmp_path / "old.db", isolation_level=None) as conn:
        await conn.execute("PRAGMA foreign_keys=ON")
        await _migrate(conn, [m for m in _migrations() if m[0] < 120])
        await conn.executescript(
            "INSERT INTO districts (name) VALUES ('北');"
            "INSERT INTO associations (district_id, name) VALUES (1, '桜町');"
            "INSERT INTO households (association_id, household_key, name, vulnerable, consent, created_at, updated_at)"
            " VALUES (1, 'k1', 'n', 0, 'yes', 0, 0), (1, 'k2', 'n', 0, 'no', 0, 0), (1, 'k3', 'n', 0, 'ordinance', 0, 0),"
            " (1, 'k4', 'n', 1, 'yes', 0, 0), (1, 'k5', 'n', 1, 'no', 0, 0), (1, 'k6', 'n', 1, 'ordinance', 0, 0);"
        )
        await _migrate(conn, _migrations())
        async with conn.execute("SELECT household_key, consent_stated FROM households ORDER BY id") as cur:
            assert list(await cur.fetchall()) == [("k1", 0), ("k2", 1), ("k3", 1), ("k4", 1), ("k5", 1), ("k6", 1)]
        with pytest.raises(sqlite3.IntegrityError):
            await conn.execute("UPDATE households SET consent_stated = 2")

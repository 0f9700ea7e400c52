"""The broadcast migrations keep the rows of a database made before them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiosqlite
import pytest

from safetynet.store.sqlite.db import _migrate, _migrations


async def test_rebuilt_tables_keep_their_rows_and_their_rules(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    before = [m for m in _migrations() if m[0] < 22]
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        await conn.execute("PRAGMA foreign_keys=ON")
        await _migrate(conn, before)
        await conn.executescript(
            "INSERT INTO districts (name) VALUES ('北');"
            "INSERT INTO associations (district_id, name) VALUES (1, '桜町');"
            "INSERT INTO households (association_id, household_key, name, created_at, updated_at) VALUES (1, 'k', 'n', 0, 0);"
            "INSERT INTO campaigns (kind, title, scope, messages, ladder, created_at) VALUES ('drill', 't', '[]', '{}', '[]', 0);"
            "INSERT INTO campaign_households (campaign_id, household_id, association_id, token_hash, status)"
            " VALUES (1, 1, 1, 'h', 'notified');"
            "INSERT INTO deliveries (campaign_id, household_id, step, channel, state, next_attempt_at, updated_at,"
            " provider_id) VALUES (1, 1, 0, 'sms', 'sent', 0, 0, 'SM1');"
        )
        await _migrate(conn, _migrations())
        async with conn.execute("SELECT status, token_hash FROM campaign_households") as cur:
            assert list(await cur.fetchall()) == [("notified", "h")]
        async with conn.execute("SELECT channel, state, provider_id FROM deliveries") as cur:
            assert list(await cur.fetchall()) == [("sms", "sent", "SM1")]
        for bad in ("UPDATE deliveries SET state = 'lost'", "UPDATE campaign_households SET status = 'fine'"):
            with pytest.raises(sqlite3.IntegrityError):
                await conn.execute(bad)


async def test_staff_rebuilt_keeps_accounts_contacts_and_sessions_and_never_reuses_a_removed_id(tmp_path: Path) -> None:
    """0112: a city's staff keep their ids, contacts and sessions; the next account's id is above every id
    a removed one left in other tables (a token's maker), which SQLite gave the next account before."""
    path = tmp_path / "old.db"
    before = [m for m in _migrations() if m[0] < 112]
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        await conn.execute("PRAGMA foreign_keys=ON")
        await _migrate(conn, before)
        await conn.executescript(
            "INSERT INTO staff (id, login, display_name, role, scope, created_at) VALUES"
            " (1, 'admin', 'A', 'city_admin', 'city', 0), (2, 'kanri2', 'K', 'city_admin', 'city', 0);"
            "INSERT INTO staff_contacts (staff_id, kind, address, created_at) VALUES (1, 'email', 'a@example.jp', 0);"
            "INSERT INTO staff_sessions VALUES ('s', 1, 'c', 0, 9e9);"
            "INSERT INTO api_tokens (token_hash, role, scope, created_at, created_by) VALUES ('h', 'city_admin', 'city', 0, 2);"
            "DELETE FROM staff WHERE id = 2;"  # removed before the upgrade: its token stays, naming id 2
        )
        await _migrate(conn, _migrations())
        async with conn.execute("SELECT s.login, c.address, ss.token_hash FROM staff s JOIN staff_contacts c"
                                " ON c.staff_id = s.id JOIN staff_sessions ss ON ss.staff_id = s.id") as cur:
            assert list(await cur.fetchall()) == [("admin", "a@example.jp", "s")]
        async with conn.execute("INSERT INTO staff (login, display_name, role, scope, created_at)"
                                " VALUES ('suzuki', 'S', 'city_admin', 'city', 0) RETURNING id") as cur:
            assert await cur.fetchone() == (3,)
        await conn.execute("DELETE FROM staff WHERE id = 1")  # the cascade still holds
        async with conn.execute("SELECT count(*) FROM staff_contacts") as cur:
            assert await cur.fetchone() == (0,)

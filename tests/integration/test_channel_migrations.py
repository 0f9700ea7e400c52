"""Migrations 0053 and 0054 keep every row: no CHECK lists the channels or the contact kinds any
more (a new channel needs no migration), and staff contacts become rows of (kind, address)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiosqlite
import pytest
from sqlite_helpers import sqlite_db

from safetynet.clock import FakeClock
from safetynet.config import load_config
from safetynet.domain import Role
from safetynet.store import open_store
from safetynet.store.sqlite.db import _migrate, _migrations

BEFORE = 50


async def _old_database(path: Path) -> None:
    """A database of the version before these migrations, with a contact, a delivery and staff."""
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        await conn.execute("PRAGMA foreign_keys=ON")
        await _migrate(conn, [m for m in _migrations() if m[0] < BEFORE])
        await conn.executescript(
            "INSERT INTO districts (name) VALUES ('北');"
            "INSERT INTO associations (district_id, name) VALUES (1, '桜町');"
            "INSERT INTO households (association_id, household_key, name, created_at, updated_at) VALUES (1, 'k', 'n', 0, 0);"
            "INSERT INTO contacts (household_id, kind, address, source, state, dead_reason, created_at)"
            " VALUES (1, 'mobile', '+819012345678', 'roster', 'dead', '21211', 5);"
            "INSERT INTO campaigns (kind, title, scope, messages, ladder, created_at) VALUES ('drill', 't', '[]', '{}', '[]', 0);"
            "INSERT INTO deliveries (campaign_id, household_id, step, channel, contact_id, state, next_attempt_at,"
            " updated_at, provider_id) VALUES (1, 1, 0, 'sms', 1, 'sent', 0, 0, 'SM1');"
            "INSERT INTO staff (login, display_name, role, scope, phone, telegram_chat_id, webpush, created_at)"
            " VALUES ('head', '会長', 'association_head', 'association:桜町', '+819088880001', '8880001', '{\"endpoint\":\"x\"}', 7);"
            "INSERT INTO staff (login, display_name, role, scope, created_at)"
            " VALUES ('deputy', '副会長', 'deputy', 'association:桜町', 8);"
            "INSERT INTO staff_sessions VALUES ('s', 1, 'c', 0, 99999999999);"
        )


async def test_contacts_and_deliveries_keep_their_rows_and_take_any_channel(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    await _old_database(path)
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        await conn.execute("PRAGMA foreign_keys=ON")
        with pytest.raises(sqlite3.IntegrityError):  # what the old CHECK refused
            await conn.execute("INSERT INTO contacts (household_id, kind, address, created_at) VALUES (1, 'line', 'U1', 0)")
        await _migrate(conn, _migrations())
        async with conn.execute("SELECT id, household_id, kind, address, source, state, dead_reason, created_at"
                                " FROM contacts") as cur:
            assert list(await cur.fetchall()) == [(1, 1, "mobile", "+819012345678", "roster", "dead", "21211", 5.0)]
        async with conn.execute("SELECT channel, contact_id, state, provider_id FROM deliveries") as cur:
            assert list(await cur.fetchall()) == [("sms", 1, "sent", "SM1")]
        # a channel the registry will list later (LINE, email) needs no migration
        await conn.execute("INSERT INTO contacts (household_id, kind, address, created_at) VALUES (1, 'line', 'U1', 0)")
        await conn.execute("INSERT INTO deliveries (campaign_id, household_id, step, channel, next_attempt_at,"
                           " updated_at) VALUES (1, 1, 0, 'line', 0, 0)")
        # the rules that are not lists of channels still hold, and so do the indexes
        for bad in ("UPDATE contacts SET state = 'gone'", "UPDATE contacts SET source = 'import'",
                    "UPDATE deliveries SET state = 'lost'",
                    "INSERT INTO contacts (household_id, kind, address, created_at) VALUES (1, 'line', 'U1', 0)",
                    "INSERT INTO contacts (household_id, kind, address, created_at) VALUES (99, 'line', 'U2', 0)"):
            with pytest.raises(sqlite3.IntegrityError):
                await conn.execute(bad)
        async with conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN"
                                " ('contacts', 'deliveries') AND sql IS NOT NULL ORDER BY name") as cur:
            assert [r[0] for r in await cur.fetchall()] == [
                "contacts_address", "deliveries_about", "deliveries_claimed", "deliveries_lane", "deliveries_notices",
                "deliveries_provider", "deliveries_staff", "deliveries_staff_address"]
        async with conn.execute("SELECT sql FROM sqlite_master WHERE name IN ('contacts', 'deliveries')") as cur:
            schema = " ".join(r[0] for r in await cur.fetchall())
        assert "'webpush'" not in schema and "'mobile'" not in schema


async def test_staff_contacts_move_to_rows_of_kind_and_address(tmp_path: Path) -> None:
    cfg = load_config(None, env={"SAFETYNET_STORE_PATH": str(tmp_path / "var" / "old.db")})
    cfg.db_path.parent.mkdir(parents=True)
    await _old_database(cfg.db_path)
    store = await open_store(cfg, FakeClock())
    try:
        staff = {s.login: s for s in await store.auth.list_staff()}
        assert staff["head"].contacts == (("mobile", "+819088880001"), ("telegram", "8880001"),
                                          ("webpush", '{"endpoint":"x"}'))
        assert staff["deputy"].contacts == ()
        heads = await store.auth.staff_for_association("桜町", "北")
        assert [(s.login, len(s.contacts)) for s in heads] == [("head", 3), ("deputy", 0)]
        assert await store.auth.session("s") is not None  # sessions survived the staff table's change
        columns = [r[1] for r in await sqlite_db(store).fetchall("PRAGMA table_info(staff)")]
        assert not {"phone", "telegram_chat_id", "webpush"} & set(columns)
        # any kind (a channel declares it, the caller normalises it); removed with its staff member
        await store.auth.add_staff_contact(staff["deputy"].id, "mobile", "+819088880002")
        added = await store.auth.add_staff("new", "新人", Role.DEPUTY, "association:桜町", None,
                                           contacts=[("telegram", "8880003")])
        assert added.contacts == (("telegram", "8880003"),)
        again = await store.auth.staff_by_id(staff["deputy"].id)
        assert again is not None and again.contacts == (("mobile", "+819088880002"),)
        assert await store.auth.remove_staff("head")
        left = await sqlite_db(store).fetchval("SELECT count(*) FROM staff_contacts WHERE staff_id = ?", (staff["head"].id,))
        assert left == 0
    finally:
        await store.close()

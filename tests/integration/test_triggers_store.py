"""TriggerStore on the real store (SQLite, and PostgreSQL in the PostgreSQL run): unique per telegram,
queries, and SQLite's v1 → v2 table migration."""

from __future__ import annotations

import sqlite3
import time
from importlib import resources
from pathlib import Path

import pytest
from pg_helpers import on_test_store

from safetynet.clock import FakeClock
from safetynet.config import Config
from safetynet.domain.triggers import AreaMatch, Decision, TriggerRecord
from safetynet.store import open_store


def _decision(key: str, decision: str = "propose", campaign: int | None = 1) -> Decision:
    return Decision(decision, f"reason of {key}", dedupe_key=key, event_key="real:E1", event_id="E1",
                    evidence="intensity_flash", info_type="発表", status="通常", intensity=5,
                    places=(AreaMatch("771", "鹿児島県大隅", "area", 5),), reported_at=1_700_000_000.0,
                    campaign=campaign, mode="propose")


async def test_record_is_unique_per_telegram_and_reads_back(tmp_path: Path) -> None:
    clock = FakeClock(1_700_000_100.0)
    store = await open_store(on_test_store(Config()), clock, path=tmp_path / "t.db")
    try:
        t = store.triggers
        assert await t.record(TriggerRecord.of(_decision("k1"), "http"))
        assert not await t.record(TriggerRecord.of(_decision("k1", "update"), "feed"))
        await clock.advance(10)
        assert await t.record(TriggerRecord.of(_decision("k2", "ignore", None), "file:a.xml"))
        assert await t.exists("k1") and not await t.exists("k3")
        [first, second] = await t.since(0)
        assert (first.decision, first.origin, first.intensity, first.campaign_id, first.received_at) == (
            "propose", "http", "5-", 1, 1_700_000_100.0)
        assert Decision.from_json(first.detail) == _decision("k1")
        assert second.received_at == 1_700_000_110.0
        assert [r.dedupe_key for r in await t.since(1_700_000_105.0)] == ["k2"]
        assert [r.dedupe_key for r in await t.recent()] == ["k2", "k1"]
        assert [r.dedupe_key for r in await t.recent(acted_only=True)] == ["k1"]
        assert [r.dedupe_key for r in await t.for_campaign(1)] == ["k1"]
    finally:
        await store.close()


@pytest.mark.sqlite_only  # a SQLite file of version 1 and SQLite's migrations
async def test_v1_rows_survive_the_migration(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    v1 = (resources.files("safetynet.store.sqlite") / "migrations" / "0001_initial.sql").read_text(encoding="utf-8")
    with sqlite3.connect(path) as conn:
        conn.executescript(v1)
        conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES (1, 'initial', ?)", (time.time(),))
        conn.execute("""INSERT INTO trigger_events (source, event_id, serial, info_type, status, intensity, decision,
                        reason, campaign_id, reported_at, received_at)
                        VALUES ('jma', '20090811050711', '1', '発表', '通常', '6-', 'start', 'old row', 3, 1.0, 2.0)""")
    conn.close()
    store = await open_store(Config(), FakeClock(), path=path)
    try:
        [row] = await store.triggers.since(0)
        assert (row.dedupe_key, row.decision, row.campaign_id, row.reason, row.detail) == (
            "jma:20090811050711:1:発表", "start", 3, "old row", "{}")
        # the old unique key is gone: two telegrams of one event without a Serial now both fit
        assert await store.triggers.record(TriggerRecord.of(_decision("jma:a"), "http"))
        assert await store.triggers.record(TriggerRecord.of(_decision("jma:b"), "http"))
    finally:
        await store.close()

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import aiosqlite
import pytest
from structlog.testing import capture_logs

from safetynet.store import StoreError, StoreUnavailable
from safetynet.store.sqlite.db import (
    Database,
    GroupCommit,
    Sql,
    Steps,
    _busy,
    _migrate,
    _migrations,
    items_per_checkpoint,
    schema_version,
)


async def test_fresh_database_has_every_migration_and_pragmas(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "a.db")
    try:
        latest = max(v for v, _, _ in _migrations())
        assert await db.fetchval("SELECT max(version) FROM schema_version") == latest
        assert await db.fetchval("PRAGMA journal_mode") == "wal"
        assert await db.fetchval("PRAGMA foreign_keys") == 1
    finally:
        await db.close()


async def test_old_database_is_migrated_forward_keeping_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    first = _migrations()[:1]
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        await _migrate(conn, first)
        await conn.execute("INSERT INTO districts (name) VALUES ('北地区')")
        assert await schema_version(conn) == 1
    extra = (999, "later", "CREATE TABLE later_table (x INTEGER); INSERT INTO later_table VALUES (7);")
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        await _migrate(conn, [*_migrations(), extra])
        assert await schema_version(conn) == 999
        async with conn.execute("SELECT name FROM districts") as cur:
            assert [r[0] for r in await cur.fetchall()] == ["北地区"]
        async with conn.execute("SELECT x FROM later_table") as cur:
            assert [r[0] for r in await cur.fetchall()] == [7]


async def test_failed_migration_rolls_back_and_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "bad.db"
    broken = (2, "broken", "CREATE TABLE t2 (x INTEGER); INSERT INTO nowhere VALUES (1);")
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        await _migrate(conn, _migrations()[:1])
        with pytest.raises(StoreError, match="0002_broken"):
            await _migrate(conn, [*_migrations()[:1], broken])
        assert await schema_version(conn) == 1
        async with conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 't2'") as cur:
            assert (await cur.fetchone())[0] == 0


async def test_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "t.db")
    try:
        with pytest.raises(RuntimeError):
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO districts (name) VALUES ('x')")
                raise RuntimeError("boom")
        assert await db.fetchval("SELECT count(*) FROM districts") == 0
    finally:
        await db.close()


async def test_a_writer_cancelled_while_beginning_leaves_no_transaction_open(tmp_path: Path) -> None:
    """The BEGIN of a cancelled task still runs on the connection's thread; the store must close it."""
    db = await Database.open(tmp_path / "t.db")
    try:
        async def write() -> None:
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO districts (name) VALUES ('lost')")

        task = asyncio.ensure_future(write())
        await asyncio.sleep(0)
        assert db._write_lock.locked()  # the task is inside the transaction, waiting on its BEGIN
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await db.execute("INSERT INTO districts (name) VALUES ('kept')") == 1
        assert db.failed is None
        assert [r[0] for r in await db.fetchall("SELECT name FROM districts")] == ["kept"]
    finally:
        await db.close()


async def test_a_one_trip_write_cancelled_on_its_way_is_written_whole(tmp_path: Path) -> None:
    """`execute` and `write` are one item on the writer's queue: cancelling the caller cannot stop
    it half way, leaves no transaction open, and the next write goes through."""
    db = await Database.open(tmp_path / "t.db")
    try:
        task = asyncio.ensure_future(db.executemany("INSERT INTO districts (name) VALUES (?)", [("a",), ("b",)]))
        await asyncio.sleep(0)
        assert db._write_lock.locked()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await db.execute("INSERT INTO districts (name) VALUES ('kept')") == 1
        assert db.failed is None
        assert sorted(r[0] for r in await db.fetchall("SELECT name FROM districts")) == ["a", "b", "kept"]
    finally:
        await db.close()


async def test_a_writer_cancelled_inside_its_transaction_rolls_back(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "t.db")
    inside = asyncio.Event()
    try:
        async def write() -> None:
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO districts (name) VALUES ('lost')")
                inside.set()
                await asyncio.Event().wait()

        task = asyncio.ensure_future(write())
        await inside.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await db.execute("INSERT INTO districts (name) VALUES ('kept')") == 1
        assert [r[0] for r in await db.fetchall("SELECT name FROM districts")] == ["kept"]
    finally:
        await db.close()


async def test_group_commit_answers_each_caller_after_one_shared_commit(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "g.db")
    flushes: list[int] = []

    async def flush(conn: aiosqlite.Connection, names: list[str]) -> list[int]:
        flushes.append(len(names))
        await conn.executemany("INSERT INTO districts (name) VALUES (?)", [(n,) for n in names])
        return [len(n) for n in names]

    gc: GroupCommit[str, int] = GroupCommit(db, flush, max_items=100)
    try:
        results = await asyncio.gather(*(gc.submit(f"d{i}") for i in range(250)))
        assert results == [len(f"d{i}") for i in range(250)]
        assert await db.fetchval("SELECT count(*) FROM districts") == 250
        assert len(flushes) <= 5  # shared commits, not one per caller
        # a failing batch fails its callers and stores none of them
        with pytest.raises(sqlite3.IntegrityError):
            await asyncio.gather(gc.submit("dup"), gc.submit("dup"))
        assert await db.fetchval("SELECT count(*) FROM districts WHERE name = 'dup'") == 0
    finally:
        await gc.stop()
        await db.close()


async def test_group_commit_keeps_a_callers_items_in_one_commit(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "g.db")
    flushes: list[list[str]] = []

    async def flush(conn: aiosqlite.Connection, names: list[str]) -> list[int]:
        flushes.append(names)
        await conn.executemany("INSERT INTO districts (name) VALUES (?)", [(n,) for n in names])
        return [len(n) for n in names]

    gc: GroupCommit[str, int] = GroupCommit(db, flush, max_items=4)
    try:
        first, one, second = await asyncio.gather(
            gc.submit_many(["a", "bb", "ccc"]), gc.submit("dddd"), gc.submit_many(["e", "ff", "g"]))
        assert (first, one, second) == ([1, 2, 3], 4, [1, 2, 1])
        # never split: each caller's items went in with one commit, within max_items where they fit
        assert flushes == [["a", "bb", "ccc", "dddd"], ["e", "ff", "g"]]
        # all or none: a failing item fails the whole call and stores none of it
        with pytest.raises(sqlite3.IntegrityError):
            await gc.submit_many(["h", "a"])
        assert await db.fetchval("SELECT count(*) FROM districts WHERE name = 'h'") == 0
    finally:
        await gc.stop()
        await db.close()


def test_cli_reports_an_unopenable_database_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from safetynet.cli import main

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[store]\npath = "{blocker}/sub/x.db"\n', encoding="utf-8")
    assert main(["--config", str(cfg), "staff", "list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot open the database") and "Traceback" not in err


async def test_a_database_that_cannot_be_opened_leaves_no_thread_behind(tmp_path: Path) -> None:
    """aiosqlite stopped its thread without waiting: the CLI's loop ended first, and the thread's
    "Event loop is closed" traceback followed the clean error (QA, 1 run in 6)."""
    import threading

    folder = tmp_path / "a-folder.db"
    folder.mkdir()
    before = {t.ident for t in threading.enumerate()}
    with pytest.raises(StoreUnavailable, match="cannot open the database"):
        await Database.open(folder)
    # the default executor's idle workers (asyncio_N, which waited for it) stay: they are no connection's
    left = {t.name for t in threading.enumerate() if t.ident not in before and not t.name.startswith("asyncio_")}
    assert left == set()


async def test_staff_reads_are_answered_while_every_shared_reader_is_busy(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "t.db", readers=2)
    slow_sql = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000000) SELECT count(*) FROM n"
    try:
        # one long query on each shared reader (they are taken in turn)
        slow = [asyncio.ensure_future(db.fetchval(slow_sql)) for _ in range(2)]
        await asyncio.sleep(0)
        assert await db.staff.fetchval("SELECT 42") == 42
        assert not any(s.done() for s in slow)  # the staff read did not wait behind them
        assert await asyncio.gather(*slow) == [2000000, 2000000]
    finally:
        await db.close()


def _insert_districts(names: list[str]) -> Steps[int]:
    yield Sql("INSERT INTO districts (name) VALUES (?)", [(n,) for n in names], many=True)
    rows = yield Sql("SELECT count(*) FROM districts")
    return int(rows[0][0])


async def test_a_write_on_the_loop_waits_for_another_process_holding_the_database(tmp_path: Path) -> None:
    """The loop's own connection never waits for a lock (it would stall every request): while an
    import or a backup holds the database, the write goes to the writer's thread, which waits."""
    db = await Database.open(tmp_path / "t.db")
    other = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO districts (name) VALUES ('import')")
        task = asyncio.ensure_future(db.write(_insert_districts(["answer"])))
        await asyncio.sleep(0)
        assert not task.done()  # not refused as "database is locked": waiting on the writer's thread
        other.execute("COMMIT")
        assert await task == 2
        assert [r[0] for r in await db.fetchall("SELECT name FROM districts ORDER BY id")] == ["import", "answer"]
        assert db.failed is None
    finally:
        other.close()
        await db.close()


async def test_a_lock_held_past_the_busy_timeout_refuses_the_write_but_leaves_the_store_healthy(tmp_path: Path) -> None:
    """A roster import or a backup holding the database longer than `busy_timeout_seconds` makes a
    write fail ("database is locked"), which its caller refuses with 503 as before. It made the store
    unhealthy too, so /healthz said 503 and a liveness probe would restart a web process that had
    nothing wrong with it, while the import ran. A full disk or a read-only file still does."""
    db = await Database.open(tmp_path / "t.db", busy_timeout_seconds=0.05)
    other = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with capture_logs() as logs:
            with pytest.raises(StoreUnavailable, match="locked"):
                await db.execute("INSERT INTO districts (name) VALUES ('answer')")  # the writer's thread
            with pytest.raises(StoreUnavailable, match="locked"):
                await db.write(_insert_districts(["answer"]))  # the loop's connection, then the writer's
        assert db.failed is None and db.refusing is not None  # /healthz 200; /readyz: writes refused
        assert [e["event"] for e in logs] == ["store_write_busy", "store_write_busy"]
        other.execute("ROLLBACK")
        assert await db.write(_insert_districts(["answer"])) == 1
        assert db.refusing is None
    finally:
        other.close()
        await db.close()


async def test_writes_on_the_loop_are_checkpointed_on_a_thread_of_their_own(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "t.db")
    try:
        names = [f"d{i}" for i in range(400)]
        for n in range(0, len(names), 40):
            await db.write(_insert_districts(names[n:n + 40]), items=1_000)
        assert db.checkpoints == 0  # nothing waits for a checkpoint: it runs after the write that asked
        running = db._checkpoint
        assert running is not None
        await running
        assert db.checkpoints == 1
        # the WAL was copied back into the database file: nothing is left to checkpoint
        with sqlite3.connect(tmp_path / "t.db") as look:
            busy, wal_pages, copied = look.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert busy == 0 and wal_pages == copied
        assert await db.fetchval("SELECT count(*) FROM districts") == 400
    finally:
        await db.close()


def test_the_next_checkpoint_aims_at_ten_thousand_wal_pages() -> None:
    assert items_per_checkpoint(wal_pages=5_000, items=1_000, now=1_000) == 2_000
    assert items_per_checkpoint(wal_pages=20_000, items=3_000, now=3_000) == 1_500
    # what the WAL held is not only these items' (another connection checkpointed, or wrote):
    # the pace moves at most twofold a turn, within bounds
    assert items_per_checkpoint(wal_pages=300, items=3_000, now=3_000) == 6_000
    assert items_per_checkpoint(wal_pages=300, items=6_000, now=9_000) == 12_000
    assert items_per_checkpoint(wal_pages=10_000_000, items=3_000, now=3_000) == 1_500
    assert items_per_checkpoint(wal_pages=10_000_000, items=100, now=150) == 100
    assert items_per_checkpoint(wal_pages=0, items=3_000, now=2_500) == 2_500  # an empty WAL teaches nothing


def test_busy_in_any_of_its_extended_codes_sends_the_write_to_the_writers_thread() -> None:
    for code in (sqlite3.SQLITE_BUSY, 261, 517, 773):  # _RECOVERY, _SNAPSHOT, _TIMEOUT
        e = sqlite3.OperationalError("database is locked")
        e.sqlite_errorcode = code
        assert _busy(e)
    e = sqlite3.OperationalError("disk I/O error")
    e.sqlite_errorcode = sqlite3.SQLITE_IOERR
    assert not _busy(e)

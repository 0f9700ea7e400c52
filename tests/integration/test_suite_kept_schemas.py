"""The suite's PostgreSQL schemas kept for the next test (`pg_helpers`): a kept one comes back empty with
its sequences restarted, and one its test changed, or another process is still connected to, is dropped."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import asyncpg
import pg_helpers
from pg_helpers import SERVER, TEST_DB, migrated_schema


async def _one(schema: str, sql: str) -> Any:
    """`sql` on a connection of its own, whose backend has ended when this returns (else it would count as
    another process's connection for a moment)."""
    con = await asyncpg.connect(f"{SERVER}/{TEST_DB}", server_settings={"search_path": schema})
    try:
        pid = con.get_server_pid()
        return await con.fetchval(sql)
    finally:
        await con.close()
        for _ in range(2000):  # 10 s at most
            if not pg_helpers._the_admin().call(
                    lambda c: c.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid)):
                break
            await asyncio.sleep(0.005)  # the server's own end of a backend: nothing to wait on


def _exists(schema: str) -> bool:
    return bool(pg_helpers._the_admin().call(
        lambda con: con.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = $1", schema)))


def _migrated_test_schema() -> str:
    schema, url = pg_helpers._create_schema_sync()
    migrated_schema(url)
    return schema


async def test_a_kept_schema_comes_back_empty_with_its_sequences_restarted() -> None:
    pg_helpers._drop_kept()
    schema = _migrated_test_schema()  # the first: migrated by the store's own code, then taken
    assert await _one(schema, "SELECT max(version) FROM schema_version") > 0
    assert await _one(schema, "INSERT INTO districts (name) VALUES ('北区') RETURNING id") == 1
    assert await _one(schema, "INSERT INTO districts (name) VALUES ('南区') RETURNING id") == 2
    pg_helpers._drop_schema_sync(schema)
    assert not _exists(schema) and len(pg_helpers._kept_schemas) == 1  # kept, under another name
    again = _migrated_test_schema()
    try:
        assert pg_helpers._kept_schemas == []  # it took the kept one
        assert await _one(again, "SELECT count(*) FROM districts") == 0
        assert await _one(again, "INSERT INTO districts (name) VALUES ('東区') RETURNING id") == 1
    finally:
        pg_helpers._drop_schema_sync(again)
        pg_helpers._drop_kept()


async def test_a_schema_its_test_changed_or_another_process_still_holds_is_dropped() -> None:
    pg_helpers._drop_kept()
    changed = _migrated_test_schema()
    await _one(changed, "ALTER TABLE districts ADD COLUMN note text")
    pg_helpers._drop_schema_sync(changed)
    assert not _exists(changed) and pg_helpers._kept_schemas == []
    # one this process left open (its test's loop ended) does not hold it
    mine = await asyncpg.connect(f"{SERVER}/{TEST_DB}")
    left = _migrated_test_schema()
    try:
        pg_helpers._drop_schema_sync(left)
        assert len(pg_helpers._kept_schemas) == 1
    finally:
        await mine.close()
        pg_helpers._drop_kept()
    held = _migrated_test_schema()
    server = await asyncio.create_subprocess_exec(  # another process, connected to the database
        sys.executable, "-c", _HOLD, f"{SERVER}/{TEST_DB}", stdout=asyncio.subprocess.PIPE)
    try:
        assert server.stdout is not None and await server.stdout.readline() == b"connected\n"
        pg_helpers._drop_schema_sync(held)
        assert not _exists(held) and pg_helpers._kept_schemas == []
    finally:
        server.kill()
        await server.wait()
        pg_helpers._drop_kept()


_HOLD = """
import asyncio, sys, asyncpg
async def main():
    con = await asyncpg.connect(sys.argv[1])
    print("connected", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""

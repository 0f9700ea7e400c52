"""PostgreSQL for the tests: each test gets a schema of its own in one shared database.

`SAFETYNET_TEST_PG` names the server (default postgresql://postgres@127.0.0.1:5432); the database
`TEST_DB` is created on first use. A schema per test (search_path in the URL) is a fresh, empty
store in ~50 ms, where a database per test would cost a `CREATE DATABASE` each.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import asyncpg

from safetynet.clock import Clock
from safetynet.store import Store
from safetynet.store.postgres import PostgresStore, open_postgres_store

SERVER = os.environ.get("SAFETYNET_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
TEST_DB = os.environ.get("SAFETYNET_TEST_PG_DB", "safetynet_test")


async def _ensure_database(name: str) -> None:
    con = await asyncpg.connect(f"{SERVER}/postgres")
    try:
        if not await con.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await con.execute(f'CREATE DATABASE "{name}"')
    finally:
        await con.close()


@contextlib.asynccontextmanager
async def pg_schema() -> AsyncIterator[str]:
    """A new empty schema; yields the store URL that works in it, and drops it afterwards."""
    await _ensure_database(TEST_DB)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    con = await asyncpg.connect(f"{SERVER}/{TEST_DB}")
    try:
        await con.execute(f"CREATE SCHEMA {schema}")
        yield f"{SERVER}/{TEST_DB}?search_path={schema}"
    finally:
        with contextlib.suppress(Exception):
            await con.execute(f"DROP SCHEMA {schema} CASCADE")
        await con.close()


@contextlib.asynccontextmanager
async def pg_store(tmp_path: Path, clock: Clock) -> AsyncIterator[Store]:
    from contract.support import ROUTES

    async with pg_schema() as url:
        store = await open_postgres_store(url, clock, ROUTES)
        try:
            yield store
        finally:
            await store.close()


async def pg_break_writes(store: Store, broken: bool) -> None:
    """New connections come up read-only (or not), and the pool replaces every connection it has:
    what a read-only standby or a full disk does to writes, reads still working."""
    assert isinstance(store, PostgresStore)
    pool = store.db.pool
    settings = {"default_transaction_read_only": "on" if broken else "off"}
    pool.set_connect_args(store.db.url, server_settings=settings)
    await pool.expire_connections()


def _create_schema_sync() -> tuple[str, str]:
    import asyncio

    async def make() -> tuple[str, str]:
        await _ensure_database(TEST_DB)
        schema = f"t_{uuid.uuid4().hex[:12]}"
        con = await asyncpg.connect(f"{SERVER}/{TEST_DB}")
        try:
            await con.execute(f"CREATE SCHEMA {schema}")
        finally:
            await con.close()
        return schema, f"{SERVER}/{TEST_DB}?search_path={schema}"

    return asyncio.run(make())


def _drop_schema_sync(schema: str) -> None:
    import asyncio

    async def drop() -> None:
        con = await asyncpg.connect(f"{SERVER}/{TEST_DB}")
        try:
            await con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        finally:
            await con.close()

    asyncio.run(drop())


# `SAFETYNET_TEST_STORE=postgres pytest …`: the shared fixtures (broadcast_helpers.make_cfg,
# replies_fixtures.make_config, dashboard_fixtures.make_config) open PostgreSQL, a schema per test.
# (`postgres-all`: every file, to find out which ones pass on PostgreSQL)
ON_POSTGRES = os.environ.get("SAFETYNET_TEST_STORE", "sqlite") in ("postgres", "postgres-all")
EVERY_FILE = os.environ.get("SAFETYNET_TEST_STORE") == "postgres-all"
URL_ENV = "SAFETYNET_TEST_STORE_URL"


def store_env() -> dict[str, str]:
    """What a test config adds so that the store is this test's PostgreSQL schema (nothing on SQLite)."""
    url = os.environ.get(URL_ENV)
    return {"SAFETYNET_STORE_URL": url} if ON_POSTGRES and url else {}

# Integration files that run on both stores (their stores come from the shared fixtures); the
# contract suite (tests/contract) runs on both in every run. `scripts/test.sh` runs these again
# with SAFETYNET_TEST_STORE=postgres.
BOTH_STORES = frozenset({
    "test_api_campaigns.py",
    "test_api_tokens.py",
    "test_attack_bodies.py",
    "test_attack_inputs.py",
    "test_attack_tokens.py",
    "test_attack_web.py",
    "test_attack_webhooks.py",
    "test_audit.py",
    "test_broadcast_batches.py",
    "test_broadcast_dispatch.py",
    "test_broadcast_ladder.py",
    "test_broadcast_service.py",
    "test_broadcast_stop.py",
    "test_broadcast_triggered.py",
    "test_channel_registry.py",
    "test_consent.py",
    "test_consent_routes.py",
    "test_crash_server.py",
    "test_csv_excel.py",
    "test_csv_outputs.py",
    "test_dashboard_console.py",
    "test_dashboard_live.py",
    "test_dashboard_pages.py",
    "test_enrol_confirm_link.py",
    "test_enrol_page.py",
    "test_faults_providers.py",
    "test_hooks_sms.py",
    "test_hooks_status.py",
    "test_hooks_status_early.py",
    "test_hooks_telegram.py",
    "test_hooks_voice.py",
    "test_openapi.py",
    "test_ops.py",
    "test_pwa.py",
    "test_replies_help.py",
    "test_replies_inbound.py",
    "test_replies_intake.py",
    "test_replies_page.py",
    "test_replies_proxies.py",
    "test_replies_staff_alerts.py",
    "test_report_drill.py",
    "test_retention.py",
    "test_scope_routes.py",
    "test_server_limits.py",
    "test_staff_pages.py",
    "test_store_postgres.py",
    "test_undo_in_person.py",
})


class _Result(list):  # type: ignore[type-arg]
    def fetchone(self) -> Any:
        return self[0] if self else None

    def fetchall(self) -> list[Any]:
        return list(self)


class PgReader:
    """What the reliability helpers read a finished run's database with (sqlite3's `execute(sql,
    params)`, rows by index or name), on this test's PostgreSQL schema: each call runs in a thread
    of its own, so it works inside a running event loop too."""

    def __init__(self, url: str) -> None:
        self.url = url

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Result:
        import threading

        from safetynet.store.postgres.db import pg_sql

        if "sqlite_master" in sql:  # the list of tables
            sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        out: list[Any] = []

        async def run() -> None:
            con = await asyncpg.connect(self.url)
            try:
                out.extend(await con.fetch(pg_sql(sql), *params))
            finally:
                await con.close()

        failed: list[BaseException] = []

        def main() -> None:
            try:
                asyncio.run(run())
            except BaseException as e:  # raised again in the caller's thread
                failed.append(e)

        t = threading.Thread(target=main)
        t.start()
        t.join()
        if failed:
            raise failed[0]
        return _Result(out)

    def close(self) -> None:
        pass

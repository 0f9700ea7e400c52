"""The database refusing writes (disk full, a read-only database) while residents answer.

The server must say so loudly (an error log event, /healthz 503), refuse the answers it cannot
store with 503 and a reason (never 200, never a bare 500), lose nothing it acknowledged, and take
answers again once the disk has room.

The faults are made on the store's own connections (tests run as root, so file modes do not stop
SQLite): on SQLite `PRAGMA max_page_count` at the current size is a full disk for every write that
needs a new page, and `PRAGMA query_only` makes every write fail like a read-only file; on PostgreSQL
the pool's connections come back read-only (a standby, a database set read-only). A full disk is
SQLite's case only: PostgreSQL's would need a cluster of its own on a small file system.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiosqlite
import pytest
from replies_fixtures import Env, running_app
from sqlite_helpers import on_every_writer, sqlite_db
from store_helpers import break_writes
from structlog.testing import capture_logs

from safetynet.channels.telegram.updates import callback_data, webhook_secret

KEYS = ("A-001", "A-002", "A-003", "B-001")


def writer(env: Env) -> aiosqlite.Connection:
    conn: aiosqlite.Connection = sqlite_db(env.store)._writer  # the writer's thread's (fault injection only)
    return conn


async def disk_full(env: Env) -> Callable[[], Awaitable[None]]:
    async with writer(env).execute("PRAGMA page_count") as cur:
        row = await cur.fetchone()
    assert row is not None
    await on_every_writer(env.store, f"max_page_count = {int(row[0])}")

    async def room() -> None:
        await on_every_writer(env.store, "max_page_count = 1073741823")
    return room


async def read_only(env: Env) -> Callable[[], Awaitable[None]]:
    await break_writes(env.store, True)

    async def writable() -> None:
        await break_writes(env.store, False)
    return writable


async def health(env: Env) -> int:
    async with env.http.get(f"{env.url}/healthz") as r:
        return r.status


async def post_answer(env: Env, key: str, status: str) -> tuple[int, str]:
    async with env.http.post(env.reply_url(key), data={"status": status, "k": secrets.token_urlsafe(12)}) as r:
        return r.status, await r.text()


# disk_full fails a statement inside the write transaction (SQLITE_FULL on the INSERT); read_only
# fails BEGIN IMMEDIATE. Both must mark the store failed (/healthz 503) and answer 503, not 500.
@pytest.mark.parametrize("fault", [pytest.param(disk_full, id="disk_full", marks=pytest.mark.sqlite_only),
                                   pytest.param(read_only, id="read_only")])
async def test_answers_it_cannot_store_are_refused_loudly_and_none_acknowledged_is_lost(
        tmp_path: Path, fault: Callable[[Env], Awaitable[Callable[[], Awaitable[None]]]]) -> None:
    async with running_app(tmp_path, SAFETYNET_REPLIES_RATE_LIMIT_PER_MINUTE="0") as env:
        acknowledged: list[tuple[str, str]] = []
        for key in KEYS:  # before the fault
            status, _ = await post_answer(env, key, "safe")
            assert status == 200
            acknowledged.append((key, "safe"))
        repair = await fault(env)
        refused: list[tuple[int, str]] = []
        with capture_logs() as logs:
            for i in range(400):  # until the store refuses (a full disk still fits a few rows)
                key = KEYS[i % len(KEYS)]
                answer = "need_help" if i % 2 else "safe"
                status, body = await post_answer(env, key, answer)
                if status == 200:
                    acknowledged.append((key, answer))
                    continue
                refused.append((status, body))
                if len(refused) >= 3:
                    break
            health_during = await health(env)
            # Telegram retries an update until it gets a 2xx: a 200 here would drop the answer
            update = {"update_id": 1, "callback_query": {
                "id": "q-storage", "from": {"id": 5550003, "is_bot": False, "first_name": "R"},
                "chat_instance": "1", "data": callback_data("safe", env.token("A-003"))}}
            async with env.http.post(f"{env.url}/hooks/telegram", json=update, headers={
                    "X-Telegram-Bot-Api-Secret-Token": webhook_secret(env.cfg.secrets.secret_key)}) as r:
                telegram_status = r.status
        assert refused, "the fault never reached a write"
        assert {s for s, _ in refused} == {503}, refused
        # a browser's form post: the page says nothing was recorded and to try again (an API client reads JSON)
        assert all("記録もできません" in body and "もう一度お試しください" in body for _, body in refused), refused
        assert health_during == 503
        assert telegram_status >= 500
        events = [e for e in logs if e.get("log_level") in ("error", "critical")]
        assert any(e["event"] in ("store_write_failed", "request_refused_store_unavailable") for e in events), logs
        await repair()
        status, _ = await post_answer(env, "B-001", "need_help")
        assert status == 200
        acknowledged.append(("B-001", "need_help"))
        assert await health(env) == 200
        for key in KEYS:  # every acknowledged answer is there, the latest one is the status
            stored = [s for s in await env.history(key) if s in ("safe", "need_help")]
            mine = [a for k, a in acknowledged if k == key]
            assert stored == mine, (key, stored, mine)  # and nothing it refused
            assert await env.status(key) == mine[-1]
        await env.intake.idle()

"""What a slow or idle client can hold, and who may read the database files.

A client has `server.header_timeout_seconds` to send its request headers (from connecting, or from
its previous answer) and `server.body_timeout_seconds` for its body; past that the server closes
the connection (headers) or answers 408 (body). 200 slow clients once held their sockets for as
long as they liked. The database, its -wal and -shm files are the owner's only (0600).
"""

from __future__ import annotations

import asyncio
import os
import stat
import time
from pathlib import Path

from replies_fixtures import running_app

from safetynet.clock import FakeClock
from safetynet.config import load_config
from safetynet.store import open_store

FAST = {"SAFETYNET_SERVER_HEADER_TIMEOUT_SECONDS": "1", "SAFETYNET_SERVER_BODY_TIMEOUT_SECONDS": "1"}
# Far beyond the 1 s limits, far below aiohttp's own hour-long keep-alive: a server without the
# limits fails here instead of hanging.
GIVE_UP_SECONDS = 15.0


async def _closed_after(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    return await asyncio.wait_for(reader.read(), timeout=GIVE_UP_SECONDS)


async def test_clients_that_never_finish_their_headers_are_cut_off(tmp_path: Path) -> None:
    async with running_app(tmp_path, **FAST) as env:
        host, port = "127.0.0.1", int(env.url.rsplit(":", 1)[1])
        conns = [await asyncio.open_connection(host, port) for _ in range(200)]
        started = time.monotonic()
        for i, (_, writer) in enumerate(conns):
            if i % 4:  # three in four send part of a request, then nothing; the rest send nothing at all
                writer.write(f"POST {env.reply_url('A-001')[len(env.url):]} HTTP/1.1\r\nHost: x\r\nX-Slow: ".encode())
        for _, writer in conns:
            await writer.drain()
        answers = await asyncio.gather(*(_closed_after(reader) for reader, _ in conns))
        elapsed = time.monotonic() - started
        assert all(a == b"" for a in answers)  # closed without an answer: there was no request
        assert elapsed < 5.0, elapsed
        for _, writer in conns:
            writer.close()
        async with env.http.get(env.reply_url("A-001")) as r:  # the server itself is fine
            assert r.status == 200


async def test_a_body_that_trickles_in_gets_408(tmp_path: Path) -> None:
    async with running_app(tmp_path, **FAST) as env:
        host, port = "127.0.0.1", int(env.url.rsplit(":", 1)[1])
        path = env.reply_url("A-001")[len(env.url):]

        async def trickle(route: str, ctype: str) -> None:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(f"POST {route} HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\nContent-Length: 100\r\n"
                         f"X-Telegram-Bot-Api-Secret-Token: wrong\r\n\r\nstatus=sa".encode())
            await writer.drain()
            started = time.monotonic()
            first_line = await asyncio.wait_for(reader.readuntil(b"\r\n"), timeout=GIVE_UP_SECONDS)
            writer.close()
            # the webhook refuses a wrong secret before reading; the reply routes wait for the body
            expected = b"403" if route == "/hooks/telegram" else b"408"
            assert first_line.startswith(b"HTTP/1.1 " + expected), (route, first_line)
            assert time.monotonic() - started < 5.0

        # side by side, each on its own connection: the three 1-s waits at once, not one after another
        await asyncio.gather(trickle(path, "application/x-www-form-urlencoded"),
                             trickle(path + "/answer", "application/json"),
                             trickle("/hooks/telegram", "application/json"))
        assert await env.history("A-001") == []


async def test_the_database_and_its_wal_are_the_owners_only(tmp_path: Path) -> None:
    cfg_file = tmp_path / "config.toml"
    cfg_file.write_text('[store]\npath = "data/sn.db"\n', encoding="utf-8")
    cfg = load_config(cfg_file, env={})
    old = os.umask(0o022)  # what most systems run with: files 0644 unless asked otherwise
    try:
        store = await open_store(cfg, FakeClock())
        try:
            await store.roster.import_households([])
            names = {p.name: stat.S_IMODE(p.stat().st_mode) for p in cfg.db_path.parent.iterdir()}
        finally:
            await store.close()
        assert names == {"sn.db": 0o600, "sn.db-wal": 0o600, "sn.db-shm": 0o600}, {k: oct(v) for k, v in names.items()}
        assert stat.S_IMODE(cfg.db_path.parent.stat().st_mode) == 0o700
        # an older install's readable files are tightened when the store opens them
        cfg.db_path.chmod(0o644)
        store = await open_store(cfg, FakeClock())
        await store.close()
        assert stat.S_IMODE(cfg.db_path.stat().st_mode) == 0o600
    finally:
        os.umask(old)

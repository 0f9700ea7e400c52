"""A running `serve --role web` is seen by an upgrade (QA: it left no trace in the database, so a newer `init`
migrated the schema under it and it went on serving pages against a schema it did not know), and counted as
a dispatcher nowhere. A real process on the city's database; both engines."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from locale_helpers import terminal_locale
from roster_helpers import init_city

from safetynet.admin import shown_database
from safetynet.cli import main
from safetynet.config import Config, check_store_url, load_config
from safetynet.i18n import t

NEWEST = 152  # the calls' redials: its column dropped, the database says it is the release before's
READY = "SafetyNet serving on "  # the first words of `serve`, not translated


async def _on_the_database(cfg: Config, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    """`sql` on the city's database as it is, not migrated (its schema may be the release before's)."""
    db: Any
    if check_store_url(cfg.store.url) == "postgresql":
        from safetynet.store.postgres.db import PgDatabase

        db = await PgDatabase.open(cfg.store.url.strip(), min_size=1, max_size=1, migrate=False)
    else:
        from safetynet.store.sqlite.db import Database

        db = await Database.open(cfg.db_path, readers=1, migrate=False)
    try:
        if sql.lstrip().upper().startswith("SELECT"):
            return [tuple(r) for r in await db.fetchall(sql, params)]
        await db.execute(sql, params)
        return []
    finally:
        await db.close()


def _sql(cfg: Config, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    return asyncio.run(_on_the_database(cfg, sql, params))


@pytest.fixture
def city(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> list[str]:
    monkeypatch.delenv("SAFETYNET_SECRET_KEY", raising=False)  # the city's own key file, for the process too
    terminal_locale(monkeypatch, "C.UTF-8")
    c = init_city(tmp_path)
    capsys.readouterr()
    return c


@pytest.fixture
def web_process(city: list[str], tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`safetynet serve --role web` on the city, started (it said it serves); stopped at the end if still running."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with (tmp_path / "web.log").open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "safetynet", *city, "serve", "--role", "web",
                                 "--host", "127.0.0.1", "--port", str(port)],
                                stdout=subprocess.PIPE, stderr=log, text=True, cwd=tmp_path)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(READY):
                break
        else:
            raise AssertionError(f"serve ended: {(tmp_path / 'web.log').read_text()}")
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_a_running_web_process_refuses_the_upgrade_until_it_stops(
        city: list[str], web_process: tuple[subprocess.Popen[str], str],
        capsys: pytest.CaptureFixture[str]) -> None:
    proc, url = web_process
    cfg = load_config(Path(city[1]))
    here = socket.gethostname()
    # a dispatcher it is not: /readyz finds none, /metrics counts none
    status, body = _get(f"{url}/readyz")
    assert status == 503 and json.loads(body)["dispatcher"] == {"alive": 0, "this_process": None, "last_seen": None}
    status, body = _get(f"{url}/metrics")
    assert status == 200 and "\nsafetynet_dispatchers_alive 0.0\n" in body
    # the database records the release before's schema with this process running on it: an upgrade is refused
    # (the record only: the column stays, so the process's beats and its stop go on being written)
    _sql(cfg, "DELETE FROM schema_version WHERE version = ?", (NEWEST,))
    said = "error: " + t("en", "cli.migrate_under_live", db=shown_database(cfg), found=NEWEST - 1, known=NEWEST,
                         processes=f"{here} (pid {proc.pid})", seconds=20) + "\n"
    assert main([*city, "init"]) == 2
    assert capsys.readouterr() == ("", said)
    assert _sql(cfg, "SELECT max(version) FROM schema_version") == [(NEWEST - 1,)]  # nothing migrated
    assert _sql(cfg, "SELECT host, pid, role, stopped_at FROM dispatchers") == [(here, proc.pid, "web", None)]
    # a clean stop says so in its row (not only its pid gone from this machine)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    [(stopped_at,)] = _sql(cfg, "SELECT stopped_at FROM dispatchers WHERE pid = ?", (proc.pid,))
    assert stopped_at is not None
    _sql(cfg, "ALTER TABLE deliveries DROP COLUMN redials")  # the rest of the release before's schema
    assert main([*city, "init"]) == 0
    assert "_call_redials" in capsys.readouterr().out
    assert _sql(cfg, "SELECT max(version) FROM schema_version") == [(NEWEST,)]



async def test_every_process_without_a_dispatcher_beats_as_web(tmp_path: Path) -> None:
    """`serve --no-dispatch` serves pages without a dispatcher, as a web process does: it beats as one and says
    so on its clean stop; a process with a dispatcher has its dispatcher's row alone."""
    from broadcast_helpers import make_cfg

    from safetynet.system import running_system

    cfg = make_cfg(tmp_path)
    rows = "SELECT host, pid, role, stopped_at IS NULL FROM dispatchers ORDER BY started_at"
    here = (socket.gethostname(), os.getpid())
    async with running_system(cfg, port=0, dispatch=False) as system:
        assert system.dispatcher is None
        assert await _on_the_database(cfg, rows) == [(*here, "web", True)]
    assert await _on_the_database(cfg, rows) == [(*here, "web", False)]
    async with running_system(cfg, port=0, role="all") as system:
        assert system.dispatcher is not None and system.web_beat is None
    # its dispatcher's row, written by its last beat on the way out (and no second web row)
    assert await _on_the_database(cfg, rows) == [(*here, "web", False), (*here, "dispatcher", False)]

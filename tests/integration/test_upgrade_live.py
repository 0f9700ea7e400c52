"""An upgrade does not migrate the city's database under a running older SafetyNet (QA: a checkout at schema
110 was serving with a fresh heartbeat; the new `safetynet init` applied 0115 without a word, and the old server
kept running on the newer schema). Both engines."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from locale_helpers import terminal_locale
from roster_helpers import init_city

from safetynet.admin import shown_database
from safetynet.broadcast.leader import LEASE_NAME
from safetynet.cli import main
from safetynet.config import load_config
from safetynet.domain.campaigns import DispatcherBeat
from safetynet.i18n import t
from safetynet.store import SchemaBehind, migrations_on_open, store_session

NEWEST = 152  # this release's last migration, undone to make the release before's database


async def _as_the_release_before(config: str, *beats: DispatcherBeat, lease: tuple[str, float] | None = None) -> None:
    """The city's database as the release before left it (its newest migration not applied), with the
    heartbeats `beats` of its dispatchers and the schedulers' `lease` (owner, expires_at) written first
    (opening the store migrates it again, so all in one session)."""
    async with store_session(load_config(Path(config))) as store:
        db = store.db  # type: ignore[attr-defined]
        for beat in beats:
            await store.health.beat(beat)
        if lease is not None:
            await db.execute("DELETE FROM leases WHERE name = ?", (LEASE_NAME,))
            await db.execute("INSERT INTO leases (name, owner, expires_at) VALUES (?, ?, ?)", (LEASE_NAME, *lease))
        await db.execute("ALTER TABLE deliveries DROP COLUMN redials")  # 0152
        await db.execute("DELETE FROM schema_version WHERE version = ?", (NEWEST,))


def _beat(*, stopped: bool = False, ago: float = 0.0, host: str = "host-a", pid: int = 4242) -> DispatcherBeat:
    """A dispatcher's heartbeat heard `ago` seconds ago (or its last, saying it stopped)."""
    now = time.time()
    return DispatcherBeat(f"{host}:{pid}", host, pid, ("sms",), now - 600, now - ago, now if stopped else None)


def _schema_behind(config: str) -> bool:
    async def look() -> None:
        async with store_session(load_config(Path(config))):
            pass

    try:
        with migrations_on_open(False):
            asyncio.run(look())
    except SchemaBehind:
        return True
    return False


@pytest.fixture
def city(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> list[str]:
    monkeypatch.delenv("SAFETYNET_SECRET_KEY", raising=False)
    terminal_locale(monkeypatch, "C.UTF-8")
    c = init_city(tmp_path)
    capsys.readouterr()
    return c


def test_init_and_serve_refuse_to_migrate_while_an_older_dispatcher_beats(
        city: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    asyncio.run(_as_the_release_before(city[1], _beat()))
    db = shown_database(load_config(Path(city[1])))
    said = "error: " + t("en", "cli.migrate_under_live", db=db, found=NEWEST - 1, known=NEWEST,
                         processes="host-a (pid 4242)", seconds=20) + "\n"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free: `serve` would start if it were not refused
    for argv in (["init"], ["serve", "--port", str(port)]):
        assert main([*city, *argv]) == 2, argv
        assert capsys.readouterr() == ("", said), argv
        assert _schema_behind(city[1])  # nothing migrated
    terminal_locale(monkeypatch, "ja_JP.UTF-8")
    assert main([*city, "init"]) == 2
    assert "古い版の SafetyNet がまだ動いています: host-a（プロセス ID 4242）。" in capsys.readouterr().err
    # stopped: the upgrade goes on
    terminal_locale(monkeypatch, "C.UTF-8")
    asyncio.run(_as_the_release_before(city[1], _beat(stopped=True)))
    assert main([*city, "init"]) == 0
    assert "_call_redials" in capsys.readouterr().out
    assert not _schema_behind(city[1])


def test_the_schedulers_lease_of_an_older_process_counts_and_a_stale_one_does_not(
        city: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """A `serve --no-dispatch` runs the schedulers (their lease) without a dispatcher's heartbeat; a process
    killed without stopping is no longer counted once its heartbeat and lease are stale."""
    asyncio.run(_as_the_release_before(city[1], lease=("host-b:777:0123abcd", time.time() + 30)))
    assert main([*city, "init"]) == 2
    assert "host-b (pid 777)" in capsys.readouterr().err
    assert _schema_behind(city[1])
    asyncio.run(_as_the_release_before(city[1], _beat(ago=21, host="host-c"),
                                       lease=("host-b:777:0123abcd", time.time() - 1)))
    assert main([*city, "init"]) == 0
    assert not _schema_behind(city[1])


def test_store_copy_refuses_to_migrate_its_sqlite_source_while_an_older_dispatcher_beats(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Review: `store copy` opens the city's SQLite database, which migrates it, and was not among the
    commands that look first: under a live older server it migrated the city as `init` had (QA's 0115)."""
    monkeypatch.delenv("SAFETYNET_STORE_URL", raising=False)  # the source is a SQLite city, on either engine
    monkeypatch.delenv("SAFETYNET_SECRET_KEY", raising=False)
    terminal_locale(monkeypatch, "C.UTF-8")
    city = init_city(tmp_path)
    capsys.readouterr()
    asyncio.run(_as_the_release_before(city[1], _beat()))
    db = shown_database(load_config(Path(city[1])))
    # refused before the target is opened: none listens on port 9
    assert main([*city, "store", "copy", "--to", "postgresql://sn@127.0.0.1:9/sn"]) == 2
    assert capsys.readouterr() == ("", "error: " + t("en", "cli.migrate_under_live", db=db, found=NEWEST - 1,
                                                       known=NEWEST, processes="host-a (pid 4242)", seconds=20) + "\n")
    assert _schema_behind(city[1])  # nothing migrated


def test_store_copy_refuses_a_city_that_is_still_serving(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Review: `store copy` read the city table by table under a running server: answers taken meanwhile
    were in the SQLite file only, and lost with the switch to PostgreSQL."""
    monkeypatch.delenv("SAFETYNET_STORE_URL", raising=False)
    monkeypatch.delenv("SAFETYNET_SECRET_KEY", raising=False)
    terminal_locale(monkeypatch, "C.UTF-8")
    city = init_city(tmp_path)
    capsys.readouterr()

    async def beating() -> None:
        async with store_session(load_config(Path(city[1]))) as store:
            await store.health.beat(_beat())

    asyncio.run(beating())
    db = shown_database(load_config(Path(city[1])))
    assert main([*city, "store", "copy", "--to", "postgresql://sn@127.0.0.1:9/sn"]) == 2  # none listens on 9
    assert capsys.readouterr() == ("", "error: " + t("en", "cli.store.copy.live", db=db, processes="host-a (pid 4242)",
                                                       seconds=20) + "\n")


def _a_dead_pid() -> int:
    """The pid of a process of this machine that ran and ended (started, then reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_crashed_process_of_this_machine_does_not_refuse_its_own_restart(
        city: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Review: a server that crashed left its heartbeat and the schedulers' lease fresh for up to 20 s; its
    restart by systemd (Restart=on-failure) was refused by it, exit 2, five times, and the unit stayed down.
    A row of this machine whose pid runs no more is not a live process; one whose pid runs is, and another
    machine's is (its pids cannot be looked at from here)."""
    here, dead = socket.gethostname(), _a_dead_pid()
    asyncio.run(_as_the_release_before(city[1], _beat(host=here, pid=os.getpid())))  # a live one here: refused
    assert main([*city, "init"]) == 2
    assert f"{here} (pid {os.getpid()})" in capsys.readouterr().err
    asyncio.run(_as_the_release_before(city[1], _beat(host="host-b", pid=dead)))
    assert main([*city, "init"]) == 2
    assert f"host-b (pid {dead})" in capsys.readouterr().err
    assert _schema_behind(city[1])
    # the crashed one: its heartbeat of a moment ago and its lease, unexpired, on this machine
    asyncio.run(_as_the_release_before(city[1], _beat(host=here, pid=os.getpid(), stopped=True),
                                       _beat(host="host-b", pid=dead, stopped=True), _beat(host=here, pid=dead),
                                       lease=(f"{here}:{dead}:0123abcd", time.time() + 30)))
    assert main([*city, "init"]) == 0, capsys.readouterr().err
    assert not _schema_behind(city[1])


def test_the_processes_are_named_in_the_terminals_language(
        city: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Review: the list was built in English ("host (pid N)", joined by ", ") inside the Japanese line."""
    asyncio.run(_as_the_release_before(city[1], _beat(ago=1), _beat(host="host-b", pid=777)))
    terminal_locale(monkeypatch, "ja_JP.UTF-8")
    assert main([*city, "init"]) == 2
    err = capsys.readouterr().err
    assert "まだ動いています: host-b（プロセス ID 777）、host-a（プロセス ID 4242）。" in err and "pid" not in err
    terminal_locale(monkeypatch, "C.UTF-8")
    assert main([*city, "init"]) == 2
    assert "still running: host-b (pid 777), host-a (pid 4242)." in capsys.readouterr().err

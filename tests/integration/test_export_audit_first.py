"""Every export of households' details from the command line leaves its audit entry, written before
the output goes out (DESIGN §9). QA: `campaign report 2 --format json | head -n 3` and
`audit export | tail -3` left none (the reader closed the pipe and the command returned before
writing it); now an entry that cannot be written stops the export: nothing shown, no file."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from dashboard_fixtures import World, world
from pg_helpers import store_env
from roster_helpers import SECRET_KEY

from safetynet.cli import main
from safetynet.domain.audit import AuditEntry
from safetynet.store import StoreError
from safetynet.store.sqlite.audit import AuditStore

T = TypeVar("T")


def _in_world(tmp_path: Path, work: Callable[[World], Awaitable[T]], seeded: bool = True) -> T:
    async def run() -> T:
        async with world(tmp_path, serve=False, seeded=seeded) as w:
            return await work(w)

    return asyncio.run(run())


def _campaign(tmp_path: Path) -> int:
    async def cid(w: World) -> int:
        return w.campaign_id

    return _in_world(tmp_path, cid)


def _exports(tmp_path: Path) -> list[AuditEntry]:
    return [e for e in _in_world(tmp_path, lambda w: w.store.audit.entries(), seeded=False) if e.action == "export"]


def _to_a_closed_pipe(tmp_path: Path, *argv: str) -> int:
    """`safetynet ARGV | head -c 0`: the reader is gone before the first byte (its end of the pipe
    closed before the command starts), so the command's first write meets a broken pipe."""
    env = {**os.environ, **store_env(), "SAFETYNET_SECRET_KEY": SECRET_KEY}
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, "-m", "safetynet", "--config", str(tmp_path / "config.toml"), *argv],
                              stdout=write_end, stderr=subprocess.PIPE, env=env, timeout=60, check=False)
    finally:
        os.close(write_end)
    assert b"Traceback" not in done.stderr, done.stderr.decode()
    return done.returncode


@pytest.mark.parametrize("fmt", ["json", "csv", "html"])
def test_a_report_read_through_a_pipe_that_closes_early_is_recorded(tmp_path: Path, fmt: str) -> None:
    cid = _campaign(tmp_path)
    assert _to_a_closed_pipe(tmp_path, "campaign", "report", str(cid), "--format", fmt) == 141
    assert [(e.what, e.campaign_id, e.detail, e.actor.startswith("cli:")) for e in _exports(tmp_path)] == [
        ("report", cid, f"{fmt}, stdout", True)]


def test_an_audit_export_read_through_a_pipe_that_closes_early_is_recorded(tmp_path: Path) -> None:
    _in_world(tmp_path, lambda w: w.store.audit.append(
        [AuditEntry(1_790_000_000.0 + n, f"head{n}", "view", "dashboard") for n in range(3)]), seeded=False)
    assert _to_a_closed_pipe(tmp_path, "audit", "export", "--since", "2026-04-01") == 141
    assert [(e.what, e.detail) for e in _exports(tmp_path)] == [("audit", "csv, stdout")]


@pytest.fixture
def unwritable_audit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFETYNET_SECRET_KEY", SECRET_KEY)

    async def refuse(self: AuditStore, entries: object) -> None:
        raise StoreError("disk full")

    monkeypatch.setattr(AuditStore, "append", refuse)


def test_a_report_whose_entry_cannot_be_written_is_not_shown(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             unwritable_audit: None) -> None:
    cid = _campaign(tmp_path)
    capsys.readouterr()
    c = ["--config", str(tmp_path / "config.toml")]
    for fmt in ("json", "csv", "html"):
        assert main([*c, "campaign", "report", str(cid), "--format", fmt]) == 2
        out, err = capsys.readouterr()
        assert out == "" and "disk full" in err
        target = tmp_path / f"report.{fmt}"
        assert main([*c, "campaign", "report", str(cid), "--format", fmt, "--output", str(target)]) == 2
        assert not target.exists() and not list(tmp_path.glob(".report*"))
    assert main([*c, "campaign", "report", str(cid), "--format", "csv", "--encoding", "cp932",
                 "--output", str(tmp_path / "sjis.csv")]) == 2
    assert not (tmp_path / "sjis.csv").exists()


def test_an_audit_export_whose_entry_cannot_be_written_is_not_shown(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], unwritable_audit: None) -> None:
    _in_world(tmp_path, lambda w: asyncio.sleep(0), seeded=False)
    c = ["--config", str(tmp_path / "config.toml")]
    for fmt in ("csv", "json"):
        assert main([*c, "audit", "export", "--format", fmt]) == 2
        out, err = capsys.readouterr()
        assert out == "" and "disk full" in err
        assert main([*c, "audit", "export", "--format", fmt, "--output", str(tmp_path / "audit.out")]) == 2
        assert not (tmp_path / "audit.out").exists() and not list(tmp_path.glob(".audit*"))


def test_roster_files_whose_entry_cannot_be_written_are_not_left(tmp_path: Path, unwritable_audit: None) -> None:
    async def codes_stored(w: World) -> int:
        return len(await w.store.roster.code_targets(None, only_without_code=False)) - len(
            await w.store.roster.code_targets(None, only_without_code=True))

    _campaign(tmp_path)
    c = ["--config", str(tmp_path / "config.toml")]
    before = _in_world(tmp_path, codes_stored, seeded=False)
    assert main([*c, "roster", "export", str(tmp_path / "roster.csv")]) == 2
    assert main([*c, "roster", "codes", "--output", str(tmp_path / "codes.csv")]) == 2
    assert main([*c, "roster", "letters", "--output", str(tmp_path / "letters.html")]) == 2
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["config.toml"]
    assert _in_world(tmp_path, codes_stored, seeded=False) == before  # no code issued that no letter carries


def test_each_roster_export_is_recorded_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    households = len(_in_world(tmp_path, lambda w: asyncio.sleep(0, w.households)))
    monkeypatch.setenv("SAFETYNET_SECRET_KEY", SECRET_KEY)
    c = ["--config", str(tmp_path / "config.toml")]
    assert main([*c, "roster", "export", str(tmp_path / "roster.csv")]) == 0
    assert main([*c, "roster", "codes", "--output", str(tmp_path / "codes.csv")]) == 0
    assert main([*c, "roster", "letters", "--output", str(tmp_path / "letters.html"), "--rotate"]) == 0
    assert [(e.what, e.detail) for e in _exports(tmp_path)] == [
        ("roster", f"{households} households"), ("codes", f"{households} households"),
        ("letters", f"html, {households} households, city")]


@pytest.mark.parametrize("what", ["report", "audit"])
def test_an_export_to_a_full_disk_says_so_in_one_line(tmp_path: Path, what: str) -> None:
    """`> /dev/full` (a full disk, a quota) under a redirect: one line and exit 2 (review: a traceback;
    only a broken pipe is the CLI's quiet 141)."""
    cid = _campaign(tmp_path)
    argv = ["campaign", "report", str(cid)] if what == "report" else ["audit", "export"]
    env = {**os.environ, **store_env(), "SAFETYNET_SECRET_KEY": SECRET_KEY, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "safetynet", "--config", str(tmp_path / "config.toml"), *argv],
                              stdout=full, stderr=subprocess.PIPE, env=env, timeout=60, check=False)
    err = done.stderr.decode()
    assert done.returncode == 2 and "Traceback" not in err
    assert err.strip().endswith("cannot write standard output: No space left on device")

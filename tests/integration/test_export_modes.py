"""Every file the command line writes with households' names, addresses, phones or answers is
readable by its owner alone (0600), whatever the umask and even over an older file of another mode:
QA found roster exports and report CSVs world-readable on a shared server."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest
from dashboard_fixtures import world

from safetynet.cli import main


def test_exports_and_reports_are_private_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def campaign() -> int:
        async with world(tmp_path, serve=False) as w:
            return w.campaign_id

    cid = asyncio.run(campaign())
    monkeypatch.setenv("SAFETYNET_SECRET_KEY", "x" * 32)
    cfg = ["--config", str(tmp_path / "config.toml")]
    out = tmp_path / "out"
    out.mkdir()
    old = out / "roster.csv"
    old.write_text("an earlier export\n")
    old.chmod(0o644)
    umask = os.umask(0o022)
    try:
        assert main([*cfg, "roster", "export", str(old)]) == 0
        for fmt in ("csv", "html", "json"):
            assert main([*cfg, "campaign", "report", str(cid), "--format", fmt, "--output", str(out / f"r.{fmt}")]) == 0
    finally:
        os.umask(umask)
    modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in out.iterdir()}
    assert modes == {"roster.csv": "0o600", "r.csv": "0o600", "r.html": "0o600", "r.json": "0o600"}
    assert "an earlier export" not in old.read_text(encoding="utf-8-sig")

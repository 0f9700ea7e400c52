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
from roster_helpers import SECRET_KEY

from safetynet.cli import main
from safetynet.csvout import private_text


def test_exports_and_reports_are_private_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def campaign() -> int:
        async with world(tmp_path, serve=False) as w:
            return w.campaign_id

    cid = asyncio.run(campaign())
    monkeypatch.setenv("SAFETYNET_SECRET_KEY", SECRET_KEY)
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
        # the audit export and `private_text` itself over a file that was there, 0644
        audit = out / "audit.csv"
        audit.write_text("old\n")
        audit.chmod(0o644)
        assert main([*cfg, "audit", "export", "--output", str(audit)]) == 0
        kept = out / "kept.txt"
        kept.write_text("old\n")
        kept.chmod(0o644)
        with private_text(kept) as f:
            f.write("new\n")
    finally:
        os.umask(umask)
    modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in out.iterdir()}
    assert modes == {name: "0o600" for name in ("roster.csv", "r.csv", "r.html", "r.json", "audit.csv", "kept.txt")}
    assert "an earlier export" not in old.read_text(encoding="utf-8-sig")

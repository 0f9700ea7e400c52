"""The suite's own session checks (tests/logscan.py's scan, tests/conftest.py's check of SQLite connections
left open) fail a run wherever the leak happened, pytest-xdist's workers included."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

_LEAKY_SESSION = '''
import aiosqlite
import logscan

_KEPT = []


def test_logs_a_phone_number() -> None:
    logscan.scan_external("call 090-1234-5678", "child")  # as a server child's unmasked line would be


async def test_leaves_a_connection_open() -> None:
    _KEPT.append(await aiosqlite.connect(":memory:"))


def test_something_else() -> None:
    pass
'''


def _session(path: Path, n: str, *lines: str) -> subprocess.CompletedProcess[str]:
    """pytest on one file with this suite's conftest (its log scan, its check of SQLite connections)
    and `-n` pytest-xdist workers, as scripts/test.sh runs the passes."""
    path.write_text(_LEAKY_SESSION if lines else "def test_fine() -> None:\n    pass\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "SAFETYNET_"))}
    # Only the plugins this check needs: hypothesis's and schemathesis's, loaded by default, cost ~2 s of
    # CPU in each of the runs' up to three processes (11.7 s → 2.7 s a run with workers)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", n, "-p", "xdist.plugin", "-p", "conftest",
                           "--rootdir", str(REPO),
                           "-c", str(REPO / "pyproject.toml"), str(path)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_leak_in_any_worker_fails_the_run_and_is_named(tmp_path: Path, workers: str) -> None:
    """With pytest-xdist a worker's exit status is not the run's: the controller sums what each worker's
    scan and connection check found (`pytest_testnodedown`), says it and fails the run."""
    clean = _session(tmp_path / "test_clean_session.py", workers)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "log lines scanned, no secret, token or phone number" in clean.stdout
    leaky = _session(tmp_path / "test_leaky_session.py", workers, "leak")
    assert leaky.returncode == 1, leaky.stdout + leaky.stderr
    assert "3 passed" in leaky.stdout
    assert "phone '090-1234-5678'" in leaky.stdout and "logscan: 1 leaks" in leaky.stdout
    assert "1 SQLite connection(s) left open by: " in leaky.stderr
    assert "test_leaves_a_connection_open" in leaky.stderr

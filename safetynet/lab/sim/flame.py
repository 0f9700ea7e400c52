"""py-spy flame graphs of the server during one stage of a benchmark (`bench citywide --profile`).

py-spy samples another process from outside (ptrace), so the server runs unchanged; `--subprocesses`
takes in its web-push worker. The graphs are SVG files for a person to read, never figures: a run
being profiled is a run perturbed, so its CPU multiples are not for comparison.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import sys
from pathlib import Path

STOP_TIMEOUT_SECONDS = 60.0
ATTACH_TIMEOUT_SECONDS = 10.0
ATTACH_POLL_SECONDS = 0.05


def py_spy() -> str | None:
    """The py-spy command: on PATH, or beside this Python (a venv's bin/)."""
    beside = Path(sys.executable).with_name("py-spy")
    return shutil.which("py-spy") or (str(beside) if beside.exists() else None)


class StageFlame:
    """Records `pid` (and the processes it started) from `start` to `stop` into `svg`."""

    def __init__(self, pid: int, svg: Path, rate: int = 100) -> None:
        self.pid, self.svg, self.rate = pid, svg, rate
        self.log = svg.with_suffix(".log")
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        exe = py_spy()
        if exe is None:
            raise RuntimeError("py-spy is not installed (pip install py-spy)")
        self.svg.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self._proc = await asyncio.create_subprocess_exec(
                exe, "record", "--pid", str(self.pid), "--subprocesses", "--nonblocking", "--rate", str(self.rate),
                "--format", "flamegraph", "--output", str(self.svg),
                stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out)
        # py-spy takes a moment to attach: a short stage started before it samples ends with an empty graph
        # (CI: "No valid input provided to flamegraph" at 200 households). Its first line says it samples.
        for _ in range(int(ATTACH_TIMEOUT_SECONDS / ATTACH_POLL_SECONDS)):  # its output is a file: polled
            if self._proc.returncode is not None or b"Sampling" in self.log.read_bytes():
                break
            await asyncio.sleep(ATTACH_POLL_SECONDS)

    async def stop(self) -> Path | None:
        """Ends the recording (py-spy writes its graph on SIGINT); the SVG, or None if none was written."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_SECONDS)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        return self.svg if self.svg.exists() and self.svg.stat().st_size > 0 else None

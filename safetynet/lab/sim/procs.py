"""Child processes of the benchmark and the soak: `safetynet serve`, the sandbox-and-residents host.

Each child writes its logs to a file in the work folder (a pipe nobody reads would fill and stop
it); the parent waits for its ready line, and reads peak memory from /proc.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from safetynet.lab.procinfo import cpu_seconds as process_cpu_seconds
from safetynet.lab.procinfo import peak_rss_mb
from safetynet.lab.sim.host import MAX_LINE_BYTES, READY

SERVER_READY = "SafetyNet serving on "
READY_TIMEOUT_SECONDS = 120.0


class ChildFailed(RuntimeError):
    """A child process did not start, or died; the message points at its log."""


def descendants(pid: int) -> list[int]:
    """The process and every process below it (a lane process of the server, for one)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo += [int(c) for c in task.read_text().split()]
    return out


def cpu_seconds(pid: int, tree: bool = True) -> float:
    """User + system CPU of a process (and with `tree`, of every process below it), in seconds."""
    total = 0.0
    for p in descendants(pid) if tree else [pid]:
        total += process_cpu_seconds(p)
    return total


async def _ready_line(proc: asyncio.subprocess.Process, prefix: str, log: Path) -> str:
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            while line := (await proc.stdout.readline()).decode(errors="replace"):
                if line.startswith(prefix):
                    return line[len(prefix):].split()[0].strip()
    except TimeoutError:
        pass
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    raise ChildFailed(f"{prefix.strip()!r} never came; see {log}")


class ServerProcess:
    """`python -m safetynet serve` with the given environment."""

    def __init__(self, env: Mapping[str, str], log: Path) -> None:
        self.env, self.log = dict(env), log
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""

    async def start(self) -> str:
        err = self.log.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "safetynet", "serve", stdout=asyncio.subprocess.PIPE, stderr=err, env=self.env)
        err.close()
        self.url = await _ready_line(self.proc, SERVER_READY, self.log)
        # Nothing more is read from stdout: let it drain to nowhere so the server never blocks on it.
        asyncio.get_running_loop().create_task(self._drain())
        return self.url

    async def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while await self.proc.stdout.read(65536):
            pass

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def peak_rss_mb(self) -> dict[str, float]:
        """Per process of the server (it may run a lane process of its own)."""
        return {str(p): round(peak_rss_mb(p), 1) for p in descendants(self.pid)}

    async def stop(self) -> int:
        """SIGTERM and wait; the exit code (0 after a clean stop, negative: killed by that signal)."""
        if self.proc is None:
            return 0
        if self.proc.returncode is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(60):
                return await self.proc.wait()
        except TimeoutError:
            self.proc.kill()
            return await self.proc.wait()


class HostProcess:
    """`python -m safetynet.lab.sim.host`: the sandbox and the residents, driven over a pipe."""

    def __init__(self, env: Mapping[str, str], log: Path, model: Mapping[str, Any], *, concurrency: int = 64,
                 hold: bool = True, seen: bool = False, rate: float = 0.0) -> None:
        self.env, self.log = dict(env), log
        self.args = ["--model", json.dumps(dict(model)), "--concurrency", str(concurrency), "--rate", str(rate)]
        self.args += ["--hold"] if hold else []
        self.args += ["--seen"] if seen else []
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""
        self._lock = asyncio.Lock()

    async def start(self) -> str:
        err = self.log.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "safetynet.lab.sim.host", *self.args, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=err, env=self.env, limit=MAX_LINE_BYTES)
        err.close()
        self.url = await _ready_line(self.proc, READY, self.log)
        return self.url

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def call(self, cmd: str, **args: Any) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        async with self._lock:
            self.proc.stdin.write((json.dumps({"cmd": cmd, **args}) + "\n").encode())
            await self.proc.stdin.drain()
            line = await self.proc.stdout.readline()
        if not line:
            raise ChildFailed(f"the residents' host ended; see {self.log}")
        doc: dict[str, Any] = json.loads(line)
        return doc

    async def stop(self) -> dict[str, Any]:
        if self.proc is None or self.proc.returncode is not None:
            return {}
        try:
            final = await self.call("stop")
        except (ChildFailed, ConnectionError):
            final = {}
        try:
            async with asyncio.timeout(30):
                await self.proc.wait()
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        return final

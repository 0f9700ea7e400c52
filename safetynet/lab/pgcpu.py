"""CPU the PostgreSQL server spends for a benchmark's processes, read from /proc.

On SQLite the database's work runs inside the process that writes (its writer thread), so a
process's CPU includes it; on PostgreSQL it runs in the server's backends, one per connection,
which no process tree of the benchmark holds. To compare the two stores the same way, each
backend of the run's database is given to the benchmark process that holds the client end of its
connection (matched by TCP port through /proc/net/tcp), and its CPU added to that process's.

Only when the server runs on this machine (a loopback URL); backends are polled every
`every_seconds`, so a backend that ends between two polls loses what it did since the last one
(a pool keeps its connections: few do).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from safetynet.lab.procinfo import cpu_seconds

LOOPBACK = ("127.0.0.1", "localhost", "::1")
UNATTRIBUTED = "other"


def measurable(url: str) -> bool:
    """Whether the server's backends are processes of this machine (a loopback TCP URL)."""
    return (urlsplit(url).hostname or "") in LOOPBACK


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.scandir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(fd.path)
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
    return inodes


def _port_of_inode() -> dict[int, int]:
    """Local TCP port of every socket of this machine, by inode."""
    ports: dict[int, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table, encoding="ascii") as f:
            next(f, None)
            for line in f:
                fields = line.split()
                ports[int(fields[9])] = int(fields[1].rsplit(":", 1)[1], 16)
    return ports


def client_ports(owners: Mapping[str, Iterable[int]]) -> dict[int, str]:
    """Each local TCP port the named processes hold, with the name of its holder."""
    by_inode = _port_of_inode()
    found: dict[int, str] = {}
    for name, pids in owners.items():
        for pid in pids:
            for inode in _socket_inodes(pid):
                if inode in by_inode:
                    found[by_inode[inode]] = name
    return found


class PostgresCpu:
    """CPU seconds of the run database's backends since `start`, by the process they serve.

    `owners()` names the benchmark's processes (name → pids, read again at each poll, as a server
    may start a lane process). This sampler's own backend is left out."""

    def __init__(self, url: str, owners: Callable[[], Mapping[str, Iterable[int]]], every_seconds: float = 0.5) -> None:
        self.url, self.owners, self.every_seconds = url, owners, every_seconds
        self._owner: dict[int, str] = {}  # backend pid → the process it serves
        self._base: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._con: Any = None  # an asyncpg connection, imported only on PostgreSQL
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        import asyncpg

        self._con = await asyncpg.connect(self.url)
        await self.sample(first=True)
        self._task = asyncio.create_task(self._poll(), name="postgres-cpu")

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.every_seconds)
            await self.sample()

    async def sample(self, first: bool = False) -> None:
        """Reads every backend's CPU now; a backend first seen now started since the last poll,
        so all its CPU is the run's (except at the first poll, which is the baseline)."""
        async with self._lock:
            rows = await self._con.fetch(
                "SELECT pid, client_port FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()")
            new = [r for r in rows if r["pid"] not in self._owner]
            if new:
                ports = client_ports(self.owners())
                for r in new:
                    self._owner[r["pid"]] = ports.get(r["client_port"], UNATTRIBUTED)
            for r in rows:
                used = cpu_seconds(r["pid"])
                if used <= 0.0:
                    continue  # gone already
                self._base.setdefault(r["pid"], used if first else 0.0)
                self._last[r["pid"]] = used

    def seconds(self) -> dict[str, float]:
        """CPU seconds since `start`, by served process, as of the last sample."""
        out: dict[str, float] = {}
        for pid, used in self._last.items():
            name = self._owner.get(pid, UNATTRIBUTED)
            out[name] = out.get(name, 0.0) + used - self._base.get(pid, 0.0)
        return out

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._con is not None:
            await self._con.close()

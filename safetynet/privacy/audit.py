"""The web process's audit log writer: staff pages record an entry without waiting for the store.

`record` only appends to a bounded in-memory queue; a background task writes what is queued in
one transaction (at most every `gather_seconds`, or at once past `batch` entries), so a dashboard
never waits on an audit write. Nothing is dropped: a store that cannot write keeps the entries
queued and retried; past `max_pending` of them the view itself is refused (`AuditBacklog`: no
unrecorded look at households' details). `close` writes what is left; if the store still refuses,
the entries go to a spill file (JSON lines, owner-only) that the next start writes to the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
from collections import deque
from pathlib import Path

import structlog

from safetynet.clock import Clock
from safetynet.domain.audit import AuditEntry
from safetynet.store.ports import AuditRepo

log = structlog.get_logger("privacy.audit")

MAX_PENDING = 10_000
BATCH = 500
GATHER_SECONDS = 0.25
RETRY_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)


class AuditBacklog(Exception):
    """The audit log cannot keep up (the store refuses writes): what needs an entry is refused."""


class AuditLog:
    def __init__(self, repo: AuditRepo, clock: Clock, *, spill: Path | None = None, max_pending: int = MAX_PENDING,
                 batch: int = BATCH, gather_seconds: float = GATHER_SECONDS) -> None:
        self.repo = repo
        self.clock = clock
        self.spill = spill
        self.max_pending = max_pending
        self.batch = batch
        self.gather_seconds = gather_seconds
        self._pending: deque[AuditEntry] = deque()
        self._recorded = 0  # entries ever recorded
        self._written = 0  # of them, committed to the store
        self._wake = asyncio.Event()
        self._now = asyncio.Event()  # flush or close: no gathering
        self._done = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def pending(self) -> int:
        return len(self._pending)

    def record(self, entry: AuditEntry) -> None:
        """Queues an entry; raises AuditBacklog when `max_pending` are waiting for the store."""
        if self._closing:
            raise AuditBacklog("the server is stopping")
        if len(self._pending) >= self.max_pending:
            log.error("audit_backlog_full", pending=len(self._pending))
            raise AuditBacklog("the audit log cannot be written (storage is failing); try again shortly")
        self._pending.append(entry)
        self._recorded += 1
        if self._task is None:
            self.start()
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="audit-log")

    async def recover(self) -> int:
        """Writes the entries a previous process spilled at shutdown, then removes the file."""
        if self.spill is None or not self.spill.exists():
            return 0
        entries = [AuditEntry(**{k: v for k, v in json.loads(line).items() if k != "id"})
                   for line in self.spill.read_text(encoding="utf-8").splitlines() if line.strip()]
        await self.repo.append(entries)
        self.spill.unlink()
        log.warning("audit_spill_recovered", entries=len(entries))
        return len(entries)

    async def flush(self) -> None:
        """Returns once every entry recorded before the call is in the store."""
        target = self._recorded
        if self._written >= target:
            return
        self.start()
        self._now.set()
        self._wake.set()
        async with self._done:
            await self._done.wait_for(lambda: self._written >= target)

    async def close(self) -> None:
        """Writes what is queued; what the store still refuses goes to the spill file (never lost)."""
        self._closing = True
        self._now.set()
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self._pending:
            self._spill()

    async def _run(self) -> None:
        failures = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._pending:
                if self._closing:
                    return
                continue
            if len(self._pending) < self.batch and not self._now.is_set():
                with contextlib.suppress(TimeoutError):  # gather more views into one transaction
                    await asyncio.wait_for(self._now.wait(), timeout=self.gather_seconds)
            self._now.clear()
            while self._pending:
                chunk = [self._pending[i] for i in range(min(self.batch, len(self._pending)))]
                try:
                    await self.repo.append(chunk)
                except Exception as e:  # never lose an entry: keep it queued and try again
                    failures += 1
                    log.warning("audit_write_failed", error=str(e), pending=len(self._pending), failures=failures)
                    if self._closing:
                        return
                    # a flush or close asks again at once; otherwise back off
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._now.wait(), RETRY_SECONDS[min(failures, len(RETRY_SECONDS)) - 1])
                    self._now.clear()
                    continue
                failures = 0
                for _ in chunk:
                    self._pending.popleft()
                self._written += len(chunk)
                async with self._done:
                    self._done.notify_all()

    def _spill(self) -> None:
        entries = list(self._pending)
        if self.spill is None:
            log.error("audit_entries_lost", entries=len(entries))
            return
        fd = os.open(self.spill, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            for e in entries:
                f.write(json.dumps(dataclasses.asdict(e), ensure_ascii=False) + "\n")
        self._pending.clear()
        log.error("audit_entries_spilled", entries=len(entries), path=str(self.spill))

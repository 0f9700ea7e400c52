"""Group commits on PostgreSQL: a batch that lost a lock race (deadlock detected, serialisation
failure) with another process is written again, in a new transaction, before any caller hears."""

from __future__ import annotations

import asyncio
from typing import TypeVar

import structlog

from safetynet.store.postgres.db import is_conflict
from safetynet.store.sqlite.db import GroupCommit

log = structlog.get_logger("store")

T = TypeVar("T")
R = TypeVar("R")

_TRIES = 5


class PgGroupCommit(GroupCommit[T, R]):
    async def _write(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        items = [i for i, _ in batch]
        for attempt in range(_TRIES):
            try:
                async with self._db.transaction() as conn:
                    results = await self._flush(conn, items)
                break
            except Exception as e:
                if attempt + 1 < _TRIES and is_conflict(e):
                    log.info("store_commit_retried", attempt=attempt + 1, items=len(items))
                    continue
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(e)
                return
        for (_, fut), res in zip(batch, results, strict=True):
            if not fut.done():
                fut.set_result(res)

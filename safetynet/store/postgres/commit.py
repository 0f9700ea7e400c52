"""Group commits on PostgreSQL: a batch that lost a lock race (deadlock detected, serialisation
failure) with another process is written again, in a new transaction, before any caller hears."""

from __future__ import annotations

from typing import TypeVar

import structlog

from safetynet.store.postgres.db import is_conflict
from safetynet.store.sqlite.db import GroupCommit

log = structlog.get_logger("store")

T = TypeVar("T")
R = TypeVar("R")

_TRIES = 5


class PgGroupCommit(GroupCommit[T, R]):
    async def _commit(self, items: list[T]) -> list[R]:
        for attempt in range(1, _TRIES + 1):
            try:
                return await super()._commit(items)
            except Exception as e:
                if attempt == _TRIES or not is_conflict(e):
                    raise
                log.info("store_commit_retried", attempt=attempt, items=len(items))
        raise AssertionError("unreachable")

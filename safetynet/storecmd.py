"""`safetynet store …`: the store's own commands (`copy --to URL`: a SQLite city into PostgreSQL)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import TYPE_CHECKING

from safetynet.admin import CommandError
from safetynet.auth import cli_audit_entry
from safetynet.config import Config, ConfigError, check_store_url
from safetynet.console import say
from safetynet.domain.audit import AuditAction

if TYPE_CHECKING:
    from safetynet.store.postgres.copy import TableCount


async def _copy(cfg: Config, to: str, detail: str) -> list[TableCount]:
    """The copy, in the audit log as an export of the whole city (QA, privacy walk: it left no entry).
    The entry is written in the source before anything moves, as every export's is: the copy carries
    it too, and an entry that cannot be written stops the copy. One that fails says so after it."""
    from safetynet.store import store_session
    from safetynet.store.postgres.copy import copy_sqlite_to_postgres

    async with store_session(cfg) as store:
        await store.audit.append([cli_audit_entry(store.clock.now(), AuditAction.EXPORT, "store", detail=detail)])
    try:
        return await copy_sqlite_to_postgres(cfg.db_path, to, cfg.store.busy_timeout_seconds)
    except Exception:
        with contextlib.suppress(Exception):  # the copy's own error is the one to say
            async with store_session(cfg) as store:
                await store.audit.append([cli_audit_entry(store.clock.now(), AuditAction.EXPORT, "store",
                                                          detail=f"{detail}: nothing copied")])
        raise


def store_copy(cfg: Config, args: argparse.Namespace) -> int:
    from safetynet.store.postgres.copy import TargetNotEmpty
    from safetynet.store.postgres.db import database_name, redact

    if check_store_url(cfg.store.url) != "sqlite":
        raise CommandError(say("cli.store.copy.needs_sqlite"))
    try:
        if check_store_url(args.to) != "postgresql":
            raise CommandError(say("cli.store.copy.needs_postgres"))
    except ConfigError:
        raise CommandError(say("cli.store.copy.needs_postgres")) from None
    if not cfg.db_path.exists():
        raise CommandError(say("cli.store.copy.no_source", path=str(cfg.db_path)))
    to = args.to.strip()
    try:
        counts = asyncio.run(_copy(cfg, to, f"copy to {redact(to)}"))
    except TargetNotEmpty as e:
        raise CommandError(say("cli.store.copy.not_empty", url=redact(to), tables=", ".join(e.tables),
                               name=database_name(to))) from None
    for c in counts:
        print(say("cli.store.copy.table", table=c.table, source=c.source, target=c.target))
    print(say("cli.store.copy.done", path=str(cfg.db_path), url=redact(to),
              rows=sum(c.target for c in counts)))
    return 0

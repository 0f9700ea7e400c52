"""`safetynet store …`: the store's own commands (`copy --to URL`: a SQLite city into PostgreSQL)."""

from __future__ import annotations

import argparse
import asyncio

from safetynet.admin import CommandError
from safetynet.config import Config, ConfigError, check_store_url
from safetynet.console import say


def store_copy(cfg: Config, args: argparse.Namespace) -> int:
    from safetynet.store.postgres.copy import TargetNotEmpty, copy_sqlite_to_postgres
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
        counts = asyncio.run(copy_sqlite_to_postgres(cfg.db_path, to, cfg.store.busy_timeout_seconds))
    except TargetNotEmpty as e:
        raise CommandError(say("cli.store.copy.not_empty", url=redact(to), tables=", ".join(e.tables),
                               name=database_name(to))) from None
    for c in counts:
        print(say("cli.store.copy.table", table=c.table, source=c.source, target=c.target))
    print(say("cli.store.copy.done", path=str(cfg.db_path), url=redact(to),
              rows=sum(c.target for c in counts)))
    return 0

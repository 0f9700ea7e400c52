"""A fresh SQLite store without migrating it again: a copy of one the real migrations made.

Opening a new database file runs every migration (26, ~52 ms of CPU), and the SQLite pass opened a few
hundred new ones. The first time a test process needs one, `open_sqlite_store` makes the template on a
new file with the product's own migration code; `migrated_copy(path)` then writes the template's bytes at
`path`, so the store opened there finds this SafetyNet's schema and migrates nothing, as a store that
would have been made empty and migrated (the template's rows are its `schema_version`, nothing else).

Only for such a store: the shared fixtures that make a new city (`dashboard_fixtures.world`,
`replies_fixtures.running_app`, `broadcast_helpers.opened`, `roster_helpers.init_city`…) call it. A test
of migrations over an older file, of `init` itself, or of a command that must refuse or handle a missing
or empty database makes its own file and keeps the real path. On PostgreSQL the same fixtures get a kept
migrated schema (`pg_helpers.migrated_schema`).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
from pathlib import Path

from safetynet.channels import registry
from safetynet.clock import SystemClock
from safetynet.config import Config, check_store_url
from safetynet.store.sqlite import open_sqlite_store

_template: bytes | None = None


def _make_template() -> bytes:
    """A new database file migrated by `open_sqlite_store`, closed (its WAL checkpointed into it), read
    back. On a thread of its own, with its own event loop: the caller may be inside one."""

    async def make(path: Path) -> None:
        store = await open_sqlite_store(path, SystemClock(), registry.routes())
        await store.close()

    failed: list[BaseException] = []

    def run(path: Path) -> None:
        try:
            asyncio.run(make(path))
        except BaseException as e:  # raised again in the caller's thread
            failed.append(e)

    with tempfile.TemporaryDirectory(prefix="safetynet-template-") as folder:
        path = Path(folder) / "template.db"
        t = threading.Thread(target=run, args=(path,), name="sqlite-template")
        t.start()
        t.join()
        if failed:
            raise failed[0]
        wal = path.with_name(path.name + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0, "the template's WAL was not checkpointed"
        return path.read_bytes()


def migrated_copy(path: Path) -> None:
    """Makes `path` a new database at this SafetyNet's schema (the template's bytes), private as the store
    makes its files (`db.make_private`). Only where none is: an existing file is left as it is, for the
    store to open (and migrate, if it is older) as ever."""
    global _template
    if any(p.exists() for p in (path, path.with_name(path.name + "-wal"))):
        return
    if _template is None:
        _template = _make_template()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(_template)


def migrated_store_for(cfg: Config) -> None:
    """`migrated_copy` at the SQLite file `cfg` names; on PostgreSQL, a kept migrated schema in place of
    the test's empty one (`pg_helpers.migrated_schema`)."""
    if check_store_url(cfg.store.url) == "sqlite":
        migrated_copy(cfg.db_path)
    else:
        from pg_helpers import migrated_schema

        migrated_schema(cfg.store.url)

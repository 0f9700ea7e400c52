"""Which store a benchmark runs on: `--store-url postgresql://…`, or the embedded SQLite by default.

On PostgreSQL each run gets a database of its own, `safetynet_bench_<random>`, created on the
server the URL names (the URL's own database is only where the `CREATE DATABASE` is issued) and
migrated by the first process that opens it, as `safetynet serve` does. It is dropped afterwards
unless the run keeps its work (`--workdir`): a benchmark never measures rows an earlier run left.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from safetynet.config import ConfigError, check_store_url

DATABASE_PREFIX = "safetynet_bench_"


def store_url_argument(value: str) -> str:
    """argparse type of `--store-url`: a PostgreSQL URL (SQLite is the default, needing no URL)."""
    try:
        kind = check_store_url(value)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if kind != "postgresql":
        raise argparse.ArgumentTypeError("--store-url takes a postgresql://… URL (SQLite is the default)")
    return value.strip()


def add_store_argument(parser: argparse.ArgumentParser) -> None:
    # default None, not "": argparse would pass a string default through `type`, which refuses "".
    parser.add_argument("--store-url", type=store_url_argument, default=None, metavar="postgresql://…",
                        help="run on PostgreSQL: a fresh database is created on this server for the run and "
                             "dropped afterwards (kept with --workdir); default: the embedded SQLite")


def database_url(server_url: str, database: str) -> str:
    """`server_url` naming `database` instead of its own. A search_path names a schema of the
    other database, which the new one does not have: it is left out."""
    parts = urlsplit(server_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "search_path"]
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, urlencode(query), ""))


@dataclass(frozen=True)
class BenchStore:
    """The store of one run: `url` empty means SQLite in the run's work folder."""

    url: str = ""
    database: str = ""
    kept: bool = False

    @property
    def kind(self) -> str:
        return "postgresql" if self.url else "sqlite"

    def env(self) -> dict[str, str]:
        """What a child's environment adds so that it opens this store (nothing on SQLite)."""
        return {"SAFETYNET_STORE_URL": self.url} if self.url else {}

    def to_dict(self) -> dict[str, str | bool]:
        # The database's name only: the URL may hold a password.
        return {"kind": self.kind, "database": self.database, "kept": self.kept} if self.url else {"kind": "sqlite"}


async def _admin(server_url: str, sql: str) -> None:
    import asyncpg

    con = await asyncpg.connect(server_url)
    try:
        await con.execute(sql)
    finally:
        await con.close()


@contextlib.asynccontextmanager
async def bench_store(server_url: str | None, keep: bool = False) -> AsyncIterator[BenchStore]:
    """A fresh PostgreSQL database on `server_url`'s server for the run, or SQLite when it is empty."""
    if not server_url:
        yield BenchStore()
        return
    name = DATABASE_PREFIX + secrets.token_hex(6)
    await _admin(server_url, f'CREATE DATABASE "{name}"')
    try:
        yield BenchStore(database_url(server_url, name), name, keep)
    finally:
        if not keep:
            # FORCE: a child killed mid-run may leave a connection the server has not noticed closing.
            await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

"""Shared helpers of the roster tests: CSV bytes, a temporary config, a dump of the database."""

from __future__ import annotations

import asyncio
import codecs
import csv
import dataclasses
import io
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from pg_helpers import ON_POSTGRES, URL_ENV, PgReader, store_env
from sqlite_template import migrated_store_for

from safetynet.clock import SystemClock
from safetynet.config import Config, load_config
from safetynet.domain.roster import HouseholdRecord
from safetynet.roster.csvio import COLUMNS

# The secret key of the tests' cities: one the config accepts (safetynet.config's floor, 32 characters
# of which 8 different), for every test that sets SAFETYNET_SECRET_KEY or writes a key file.
SECRET_KEY = "test-secret-key-0123456789abcdef"

# Every column the roster knows, in file order: the channels' contact columns (registry) included.
EN = [c.en for c in COLUMNS]
JA = [c.ja for c in COLUMNS]


def row(**cells: str) -> list[str]:
    """A valid row in EN column order; keyword arguments replace cells (household= etc.)."""
    base = {
        "district": "北地区",
        "association": "東町会",
        "group": "1班",
        "household": "1",
        "name": "佐藤 一郎",
        "address": "さくら市東町1-2-3",
        "members": "2",
        "vulnerable": "",
        "language": "ja",
        "phone": "090-1234-5678",
        "landline": "",
        "telegram": "",
        "notes": "",
        "consent": "",
    }
    base.update(cells)
    return [base.get(c, "") for c in EN]


def csv_bytes(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    encoding: str = "utf-8",
    bom: bool = False,
    delimiter: str = ",",
) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n", delimiter=delimiter)
    w.writerow(header)
    w.writerows(rows)
    data = buf.getvalue().encode(encoding)
    return codecs.BOM_UTF8 + data if bom else data


def make_config(tmp_path: Path, secret_key: str | None = None) -> Config:
    path = tmp_path / "config.toml"
    path.write_text('[store]\npath = "var/x.db"\n', encoding="utf-8")
    if secret_key is not None:
        (tmp_path / "var").mkdir(exist_ok=True)
        (tmp_path / "var" / "secret.key").write_text(secret_key, encoding="utf-8")
    return load_config(path, env=store_env())  # this test's PostgreSQL schema when the tests run there


async def create_store(cfg: Config) -> None:
    """The city's empty database, as `safetynet init` makes it (without its keys and admin): every
    command but init refuses a database that is not there."""
    from safetynet.store import store_session

    migrated_store_for(cfg)
    async with store_session(cfg, SystemClock()):
        pass


def new_city(config_path: Path) -> Path:
    """`config_path` with its (empty) database made, for tests that drive the CLI from the roster on."""
    asyncio.run(create_store(load_config(config_path, env=store_env())))
    return config_path


def init_city(tmp_path: Path) -> list[str]:
    """`safetynet init` in `tmp_path` (its own config, var/sn.db): the CLI arguments that name it."""
    from safetynet.cli import main

    cfg = tmp_path / "config.toml"
    cfg.write_text('[store]\npath = "var/sn.db"\n', encoding="utf-8")
    c = ["--config", str(cfg)]
    migrated_store_for(load_config(cfg))  # init then finds this SafetyNet's schema: keys and admin as on a new file
    assert main([*c, "init", "--admin-password", "kinkyu-renraku-mou"]) == 0
    return c


def dump(db_path: Path) -> list[str]:
    """Every table's content as SQL text (schema included); closed before returning. When the tests run
    on PostgreSQL: every table of this test's schema, a line per row (sorted), `db_path` unused."""
    if ON_POSTGRES and os.environ.get(URL_ENV):
        db = PgReader(os.environ[URL_ENV])
        tables = sorted(r[0] for r in db.execute("SELECT name FROM sqlite_master"))
        return [f"{t}: {tuple(row.values())!r}" for t in tables
                for row in sorted(db.execute(f'SELECT * FROM "{t}"'), key=lambda r: repr(tuple(r.values())))]
    conn = sqlite3.connect(db_path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def stored_bytes(cfg: Config) -> bytes:
    """Everything the store holds, to look for what it must never hold (a code in the clear): the
    SQLite file's bytes, or the rows of this test's PostgreSQL schema."""
    if ON_POSTGRES and os.environ.get(URL_ENV):
        return "\n".join(dump(cfg.db_path)).encode()
    return cfg.db_path.read_bytes()


def household(*args: object, phone: str = "", landline: str = "", telegram: str = "", **kw: object) -> HouseholdRecord:
    """A HouseholdRecord with the roster's phone, landline and telegram cells as its contacts."""
    contacts = tuple((k, a) for k, a in (("mobile", phone), ("landline", landline), ("telegram", telegram)) if a)
    return HouseholdRecord(*args, contacts=contacts, **kw)  # type: ignore[arg-type]


def with_contacts(record: HouseholdRecord, **cells: str) -> HouseholdRecord:
    """`record` with its phone, landline or telegram cell replaced ("" removes it)."""
    kinds = {"phone": "mobile", "landline": "landline", "telegram": "telegram"}
    current = {k: a for k, a in record.contacts}
    for cell, value in cells.items():
        current[kinds[cell]] = value
    order = ("mobile", "landline", "telegram")
    return dataclasses.replace(record, contacts=tuple((k, current[k]) for k in order if current.get(k)))


SAMPLE_CSV = Path(__file__).resolve().parents[1] / "examples" / "roster-sample.csv"


def sample_rows() -> list[list[str]]:
    """The sample roster's rows (its header first), to change and write back (`write_rows`)."""
    return list(csv.reader(io.StringIO(SAMPLE_CSV.read_text(encoding="utf-8-sig"))))


def write_rows(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)
    return path

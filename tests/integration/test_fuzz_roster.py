"""Fuzzed roster files through `safetynet roster import` (the command's function, a fresh store each
time: a SQLite file, or a PostgreSQL schema in the PostgreSQL run): any bytes, any encoding, mangled CSV.

A file is imported whole or refused whole: on refusal the command exits non-zero, prints each
problem (with its row and column when there is one) and "nothing was imported", and the database
holds no household; on success it holds exactly the file's households. Never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pg_helpers import fresh_store_env
from reliability_helpers import read_db
from roster_helpers import EN, JA, SECRET_KEY, csv_bytes, row

from safetynet.config import load_config
from safetynet.roster import commands
from safetynet.roster.csvio import parse_bytes

FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")), deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])

VALID = csv_bytes(EN, [row(household=str(i), phone=f"090-1234-{5000 + i}") for i in range(1, 6)])
ENCODINGS = ["utf-8", "utf-8-sig", "cp932", "shift_jis", "euc_jp", "utf-16", "utf-16-le", "latin-1", "iso2022_jp"]
CELLS = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "北地区", "東町会", "1班", "1", "佐藤 一郎", "090-1234-5678", "+819012345678", "0312345678",
                     "はい", "yes", "ja", "en", "zz", "-1", "1000", "１２", "\x00", "=cmd|' /C calc'!A0", '"', "\r\n",
                     "'; DROP TABLE households; --", "<script>alert(1)</script>", "a" * 5000]),
)


def import_file(data: bytes) -> tuple[int, str, str, int | None]:
    """(exit code, stdout, stderr, households in the database or None if it was never created).
    Every example starts from an empty store: a new SQLite file, or a new PostgreSQL schema."""
    with tempfile.TemporaryDirectory() as tmp, fresh_store_env() as store:
        path = Path(tmp) / "roster.csv"
        path.write_bytes(data)
        cfg = load_config(None, env={"SAFETYNET_STORE_PATH": str(Path(tmp) / "x.db"),
                                     "SAFETYNET_SECRET_KEY": SECRET_KEY, **store})
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = commands.import_(cfg, argparse.Namespace(file=str(path), replace=False, yes=False))
        households = None
        if store or cfg.db_path.exists():
            with contextlib.closing(read_db(cfg)) as db:
                tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
                if "households" in tables:
                    households = int(db.execute("SELECT count(*) FROM households").fetchone()[0])
        return rc, out.getvalue(), err.getvalue(), households


def check(data: bytes) -> None:
    rc, out, err, households = import_file(data)
    assert "Traceback" not in out + err
    parsed = parse_bytes(data)
    if rc == commands.OK:
        assert parsed.ok and households == len({(r.association, r.household_key) for r in parsed.records}), (
            households, len(parsed.records))
        assert "\nimported " in "\n" + out
    else:
        assert rc in (commands.DATA_ERROR, commands.USAGE)
        assert households in (None, 0), "a refused file left households behind"
        problems = [line for line in err.splitlines() if line.strip()]
        assert problems and problems[-1].endswith("nothing was imported"), err
        assert len(problems) >= 2, "a refusal must say why"
        assert all(issue.message.strip() for issue in parsed.errors)


@FUZZ
@example(b"")
@example(b"\xff\xfe" + "district,association\r\n".encode("utf-16-le"))
@example(b"PK\x03\x04 not a workbook")
@example(VALID + VALID)
@example(VALID.replace(b"\r\n", b"\x00\r\n", 1))
@given(st.binary(max_size=1500))
def test_any_bytes(data: bytes) -> None:
    check(data)


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    names = draw(st.sampled_from([EN, JA]))
    header = draw(st.permutations(names))[: draw(st.integers(1, len(names)))]
    header = header + draw(st.lists(st.sampled_from(["extra", "", "地区", "phone", "電話"]) | st.text(max_size=8),
                                    max_size=2))
    base = [dict(zip(EN, row(household=str(i)), strict=True)) for i in range(draw(st.integers(0, 5)))]
    rows = []
    for cells in base:
        mapped = {ja: cells[en] for en, ja in zip(EN, JA, strict=True)} | cells
        rows.append([draw(CELLS) if draw(st.integers(0, 3)) == 0 else mapped.get(h, "") for h in header])
    buf = io.StringIO()
    csv.writer(buf, delimiter=draw(st.sampled_from([",", "\t", ";"])), lineterminator="\r\n").writerows([header, *rows])
    text = buf.getvalue()
    return text.encode(draw(st.sampled_from(ENCODINGS)), errors="replace")


@FUZZ
@given(csv_files())
def test_mangled_csv_in_any_encoding(data: bytes) -> None:
    check(data)


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(["flip", "delete", "insert"]), st.integers(0, len(VALID) - 1),
                          st.binary(min_size=1, max_size=8)), min_size=1, max_size=5))
def test_byte_mutations_of_a_valid_roster(edits: list[tuple[str, int, bytes]]) -> None:
    data = bytearray(VALID)
    for op, at, blob in edits:
        at = min(at, max(0, len(data) - 1))
        if op == "flip" and data:
            data[at] = blob[0]
        elif op == "delete":
            del data[at: at + len(blob)]
        else:
            data[at:at] = blob
    check(bytes(data))

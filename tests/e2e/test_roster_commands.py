"""`safetynet roster …` end to end through the real CLI entry point and a real store (a SQLite file, or
PostgreSQL in the PostgreSQL run)."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from pg_helpers import ON_POSTGRES, URL_ENV, PgReader, fresh_store_env
from roster_helpers import EN, csv_bytes, dump, make_config, new_city, row

from safetynet.cli import main
from safetynet.roster.csvio import header_row

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "roster-sample.csv"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    make_config(tmp_path)
    return new_city(tmp_path / "config.toml")


def _no_household_stored(tmp_path: Path) -> bool:
    """Nothing imported: the city's database (made empty, as init makes it) holds no household."""
    return not [line for line in dump(tmp_path / "var" / "x.db")
                if line.startswith(('INSERT INTO "households"', "households:"))]


def run(config: Path, *argv: str) -> int:
    return main(["roster", *argv, "--config", str(config)])


def test_import_prints_a_summary_and_export_gives_the_same_file_back(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config, "import", str(SAMPLE)) == 0
    out = capsys.readouterr().out
    assert f"imported {SAMPLE}: 3 districts, 12 associations" in out
    assert "households: 600 added, 0 updated, 0 unchanged, 0 removed" in out
    assert "households with no working channel: 14" in out
    exported = tmp_path / "export.csv"
    assert run(config, "export", str(exported)) == 0
    assert "exported 600 households" in capsys.readouterr().out
    assert exported.read_bytes() == SAMPLE.read_bytes()  # the sample was written by the same writer

    db = tmp_path / "var" / "x.db"
    before = dump(db)
    assert run(config, "import", str(exported)) == 0
    assert "households: 0 added, 0 updated, 600 unchanged, 0 removed" in capsys.readouterr().out
    # the roster as it was; the audit log has the import's entry (who imported, when, its counts)
    after = dump(db)
    added = [line for line in after if line not in before]
    assert [line for line in after if line not in added] == before
    assert len(added) == 1 and "audit_log" in added[0] and "'cli:" in added[0]
    assert re.search(r"'import', ?'roster'", added[0])


def test_cp932_export(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, "import", str(SAMPLE)) == 0
    sjis = tmp_path / "sjis.csv"
    # the sample has a Portuguese name with "ã", which Shift_JIS cannot hold: refused, cell named
    assert run(config, "export", str(sjis), "--encoding", "cp932") == 1
    err = capsys.readouterr().err
    assert "column 世帯主: 'ã' cannot be written in cp932; export as UTF-8" in err
    assert not sjis.exists()
    plain = tmp_path / "plain.csv"
    plain.write_bytes(csv_bytes(EN, [row(household="1"), row(household="2", name="髙橋 ①")]))
    (tmp_path / "other").mkdir()
    with fresh_store_env() as store, pytest.MonkeyPatch.context() as mp:  # another city: a store of its own
        for name, value in store.items():
            mp.setenv(name, value)
            mp.setenv(URL_ENV, value)  # where `new_city` makes it: the import no longer makes it (it migrates nothing)
        other = make_config(tmp_path / "other")
        new_city(Path(other.base_dir) / "config.toml")
        assert main(["roster", "import", str(plain), "--config", str(Path(other.base_dir) / "config.toml")]) == 0
        assert main(["roster", "export", str(sjis), "--encoding", "cp932", "--headers", "en",
                     "--config", str(Path(other.base_dir) / "config.toml")]) == 0  # fmt: skip
    text = sjis.read_bytes().decode("cp932")
    # the columns of every registered channel, in English
    assert text.startswith(",".join(header_row("en"))) and "髙橋 ①" in text
    assert run(config, "check", str(sjis)) == 0


def test_a_bad_file_is_refused_whole_with_every_error_and_the_database_unchanged(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config, "import", str(SAMPLE)) == 0
    db = tmp_path / "var" / "x.db"
    before = dump(db)
    bad = tmp_path / "bad.csv"
    rows = [row(household="1", name="新しい名前"), row(household="2", phone="090-12"), row(household="3"),
            row(household="4", members="0", language="??")]  # fmt: skip
    bad.write_bytes(csv_bytes(EN, rows, encoding="cp932"))
    capsys.readouterr()
    assert run(config, "import", str(bad)) == 1
    err = capsys.readouterr().err.splitlines()
    assert [line.split(":")[0] for line in err] == [
        "row 3, column phone",
        "row 5, column members",
        "row 5, column language",
        f"{bad}",
    ]
    assert err[-1] == f"{bad}: 3 problems; nothing was imported"
    assert dump(db) == before
    assert run(config, "check", str(bad)) == 1


def test_a_stray_quote_is_refused_by_check_and_import_replace_removes_nothing(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 備考 starting with an unclosed quote once swallowed every row below it: `check` said ok and
    `import --replace` removed those households."""
    assert run(config, "import", str(SAMPLE)) == 0
    db = tmp_path / "var" / "x.db"
    before = dump(db)
    data = SAMPLE.read_bytes()
    assert data.count(",要介護2,".encode()) > 1
    stray = tmp_path / "stray.csv"
    stray.write_bytes(data.replace(",要介護2,".encode(), ',"要介護2,'.encode(), 1))  # row 5, line 5
    capsys.readouterr()
    assert run(config, "check", str(stray)) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith('row 5, column 備考: its quote (") opens on line 5 of the file and is not closed')
    assert err[-1] == f"{stray}: 1 problem; roster import would refuse this file"  # check imports nothing, ever
    assert run(config, "import", str(stray), "--replace", "--yes") == 1
    assert capsys.readouterr().err.splitlines()[-1] == f"{stray}: 1 problem; nothing was imported"
    assert dump(db) == before


def test_a_bidi_override_in_a_name_is_refused_with_its_row_and_column(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bidi.csv"
    bad.write_bytes(csv_bytes(EN, [row(household="1"), row(household="2", name="佐藤\u202egpj.exe")]))
    assert run(config, "import", str(bad)) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == ("row 3, column name: contains U+202E (RIGHT-TO-LEFT OVERRIDE) at character 3, an invisible "
                      "control character a roster cannot hold: delete it")
    assert _no_household_stored(tmp_path)


def test_check_reports_without_writing(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, "check", str(SAMPLE)) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"ok: {SAMPLE} (utf-8-sig): 600 households, 12 associations, 3 districts")
    assert _no_household_stored(tmp_path)


def test_replace_says_how_many_it_will_remove_and_needs_yes(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config, "import", str(SAMPLE)) == 0
    lines = SAMPLE.read_text(encoding="utf-8-sig").splitlines()
    reader = list(csv.reader(io.StringIO("\n".join(lines))))
    first_assoc = reader[1][1]
    kept = [reader[0]] + [r for r in reader[1:] if r[1] != first_assoc] + [r for r in reader[1:] if r[1] == first_assoc][:5]
    smaller = tmp_path / "smaller.csv"
    smaller.write_bytes(csv_bytes(kept[0], kept[1:]))
    missing = sum(1 for r in reader[1:] if r[1] == first_assoc) - 5
    db = tmp_path / "var" / "x.db"
    before = dump(db)
    capsys.readouterr()

    assert run(config, "import", str(smaller), "--replace") == 2  # no terminal to ask, no --yes
    out = capsys.readouterr()
    assert f"--replace will remove {missing} households missing from the file:\n  {first_assoc}: {missing}" in out.out
    assert "add --yes" in out.err
    assert dump(db) == before

    assert run(config, "import", str(smaller), "--replace", "--yes") == 0
    out = capsys.readouterr().out
    assert f"0 added, 0 updated, {len(kept) - 1} unchanged, {missing} removed" in out
    assert run(config, "import", str(smaller), "--replace") == 0  # nothing left to remove: no question
    assert "none will be removed" in capsys.readouterr().out


def test_generate_writes_a_valid_roster(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "big.csv"
    assert run(config, "generate", "--households", "1000", "--output", str(out), "--seed", "3") == 0
    assert "wrote 1000 fictional households" in capsys.readouterr().out
    assert run(config, "check", str(out)) == 0
    assert "1000 households, 5 associations, 1 district\n" in capsys.readouterr().out


def test_unreadable_file_is_a_usage_error(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, "import", "/nonexistent/roster.csv") == 2
    assert "error: cannot read /nonexistent/roster.csv" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["import", "check", "export", "codes", "generate"])
def test_every_command_has_help_with_an_example(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["roster", command, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"safetynet roster {command}" in out


def test_the_process_exits_after_each_command(config: Path) -> None:
    """aiosqlite's worker thread is not a daemon: a connection left open would hang the exit."""
    # the second run opens the store twice: to count what --replace removes, then to import
    for argv, code in ((["import", str(SAMPLE)], 0), (["import", str(SAMPLE), "--replace"], 0)):
        done = subprocess.run(
            [sys.executable, "-m", "safetynet", "roster", *argv, "--config", str(config)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == code, done.stderr


def test_a_database_that_cannot_be_used_is_one_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_config(tmp_path)  # not the `config` fixture: no city made, the broken database below is all there is
    config = tmp_path / "config.toml"
    # claims version 1 but has no tables: migration 2 fails
    claims_version_1 = ["CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT, applied_at REAL)",
                        "INSERT INTO schema_version VALUES (1, 'initial', 0)"]
    if ON_POSTGRES:
        for sql in claims_version_1:
            PgReader(os.environ[URL_ENV]).execute(sql)
    else:
        db = tmp_path / "var" / "x.db"
        db.parent.mkdir()
        with contextlib.closing(sqlite3.connect(db)) as conn:
            conn.executescript(";".join(claims_version_1))
    assert run(config, "import", str(SAMPLE)) == 2  # an import migrates nothing: it names `init`
    assert "is at schema version 1, older than this SafetyNet's" in capsys.readouterr().err.splitlines()[-1]
    assert main(["init", "--config", str(config)]) == 2  # which does, and fails at migration 2
    assert re.match(r"error: migration 0002_\w+ failed", capsys.readouterr().err.splitlines()[-1])

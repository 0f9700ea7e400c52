"""What the command line refuses before it does anything: outputs that are not plain files (QA: `roster
codes --rotate` to a folder rewrote every code, then wrote the new ones nowhere), a missing or newer
database, a roster file that moves an association to another district."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import os
import signal
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pg_helpers import ON_POSTGRES, PgReader, fresh_store_env
from roster_helpers import init_city

from safetynet.cli import main
from safetynet.config import Config, load_config
from safetynet.roster.codes import hash_code
from safetynet.store import store_session

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "roster-sample.csv"
DRILL = Path(__file__).resolve().parents[2] / "drills" / "citywide-earthquake.toml"


@pytest.fixture
def city(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    c = init_city(tmp_path)
    assert main([*c, "roster", "import", str(SAMPLE)]) == 0
    capsys.readouterr()
    return c


def _first_code(path: Path) -> str:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return next(csv.DictReader(f))["登録コード"]


def _code_works(c: list[str], code: str) -> bool:
    cfg = load_config(Path(c[1]))

    async def run() -> bool:
        async with store_session(cfg) as store:
            return await store.roster.household_by_code_hash(hash_code(code, cfg.secrets.secret_key)) is not None

    return asyncio.run(run())


def _outputs(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "out-folder"
    folder.mkdir()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    aim = tmp_path / "aim.txt"
    aim.write_text("kept\n", encoding="utf-8")
    link = tmp_path / "link.csv"
    link.symlink_to(aim)
    return {"folder": folder, "missing folder": tmp_path / "nowhere" / "x.csv", "fifo": fifo, "symlink": link,
            "device": Path("/dev/null")}


@pytest.mark.parametrize("command", [["roster", "codes", "--rotate"],
                                     ["roster", "letters", "--format", "pdf", "--rotate"]])
def test_rotating_to_an_output_that_cannot_take_the_file_keeps_the_codes_that_were_printed(
        city: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    first = tmp_path / "first.csv"
    assert main([*city, "roster", "codes", "--output", str(first)]) == 0
    code = _first_code(first)
    for what, out in _outputs(tmp_path).items():
        capsys.readouterr()
        assert main([*city, *command, "--output", str(out)]) == 2, what
        err = capsys.readouterr().err
        assert err.startswith("error: cannot write") and "Traceback" not in err, (what, err)
        assert _code_works(city, code), f"{what}: the printed codes stopped working"
    assert os.path.islink(tmp_path / "link.csv") and (tmp_path / "aim.txt").read_text() == "kept\n"
    assert (tmp_path / "fifo").is_fifo() and (tmp_path / "out-folder").is_dir()
    assert not list((tmp_path / "out-folder").iterdir())


@pytest.mark.parametrize("command", [
    ["roster", "export", "{out}"],
    ["campaign", "report", "1", "--format", "csv", "--output", "{out}"],
    ["campaign", "report", "1", "--format", "html", "--output", "{out}"],
    ["audit", "export", "--output", "{out}"],
])
def test_exports_refuse_an_output_that_is_not_a_plain_file_and_leave_it_as_it_was(
        city: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    if command[0] == "campaign":
        assert main([*city, "campaign", "start", str(DRILL)]) == 0
    capsys.readouterr()
    audit_before = _audit_lines(city, tmp_path)
    for what, out in _outputs(tmp_path).items():
        args = [a.replace("{out}", str(out)) for a in command]
        assert main([*city, *args]) == 2, what
        err = capsys.readouterr().err
        assert "cannot write" in err and "Traceback" not in err, (what, err)
    assert os.path.islink(tmp_path / "link.csv") and (tmp_path / "aim.txt").read_text() == "kept\n"
    assert (tmp_path / "fifo").is_fifo()
    assert _audit_lines(city, tmp_path) == audit_before  # a failed export is not recorded as one


def test_an_empty_output_name_is_refused(city: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*city, "roster", "export", ""]) == 2
    assert "no file name" in capsys.readouterr().err


def _audit_lines(c: list[str], tmp_path: Path) -> list[str]:
    out = tmp_path / "audit-check.jsonl"
    assert main([*c, "audit", "export", "--format", "json", "--output", str(out)]) == 0
    return [line for line in out.read_text(encoding="utf-8").splitlines() if '"audit"' not in line]


@pytest.mark.sqlite_only
@pytest.mark.parametrize("command", [["staff", "list"], ["campaign", "list"], ["token", "create", "--role", "city_admin"],
                                     ["staff", "add", "tanaka", "--role", "city_admin"],
                                     ["roster", "import", str(SAMPLE)], ["roster", "export", "OUT"]])
def test_a_missing_or_empty_database_is_refused_and_none_is_made(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    """QA: a mistyped [store] path made a new empty city on every command, exit 0."""
    command = [str(tmp_path / "x.csv") if a == "OUT" else a for a in command]  # never the working folder
    cfg = tmp_path / "config.toml"
    cfg.write_text('[store]\npath = "var/typo.db"\n', encoding="utf-8")
    assert main(["--config", str(cfg), *command]) == 2
    err = capsys.readouterr().err
    assert f"there is no database at {tmp_path / 'var' / 'typo.db'}" in err and "safetynet init" in err
    assert not (tmp_path / "var").exists()
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "typo.db").touch()  # SQLite would take an empty file as a new database
    assert main(["--config", str(cfg), *command]) == 2
    assert "is not a SafetyNet database (an empty file)" in capsys.readouterr().err
    assert (tmp_path / "var" / "typo.db").stat().st_size == 0
    assert main(["--config", str(cfg), "init", "--admin-password", "kinkyu-renraku-mou"]) == 0  # init makes it


def test_a_database_from_a_newer_safetynet_is_refused_untouched(
        city: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """QA: `insert into schema_version values (999, …)` and every command went on as if nothing were wrong."""
    if ON_POSTGRES:
        PgReader(os.environ["SAFETYNET_STORE_URL"]).execute("INSERT INTO schema_version VALUES (999, 'future', 0)")
    else:
        with sqlite3.connect(tmp_path / "var" / "sn.db") as con:
            con.execute("INSERT INTO schema_version VALUES (999, 'future', 0)")
    for command in (["staff", "list"], ["roster", "export", str(tmp_path / "r.csv")], ["init"]):
        assert main([*city, *command]) == 2, command
        err = capsys.readouterr().err
        assert "schema version 999, newer than this SafetyNet knows" in err and "Traceback" not in err, err
    monkeypatch.setenv("LANG", "ja_JP.UTF-8")
    assert main([*city, "campaign", "list"]) == 2
    assert "スキーマ版 999" in capsys.readouterr().err
    assert not (tmp_path / "r.csv").exists()


def _tables_and_version(tmp_path: Path) -> tuple[list[str], int]:
    """The city's tables and its schema version, read outside SafetyNet."""
    if ON_POSTGRES:
        db = PgReader(os.environ["SAFETYNET_STORE_URL"])
        tables = sorted(r[0] for r in db.execute("SELECT name FROM sqlite_master"))
        version = db.execute("SELECT max(version) FROM schema_version").fetchone()[0] if "schema_version" in tables else 0
        return tables, int(version)
    with contextlib.closing(sqlite3.connect(tmp_path / "var" / "sn.db")) as con:
        tables = sorted(r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
        version = con.execute("SELECT max(version) FROM schema_version").fetchone()[0] if "schema_version" in tables else 0
        return tables, int(version)


def test_a_command_that_does_not_migrate_refuses_an_older_schema_untouched(
        city: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """QA: a newer SafetyNet's `campaign list` from a laptop migrated the live database under the older
    servers still using it. Only `init`, `serve` and the demo migrate; every other command says the schema
    is behind, names `safetynet init`, and changes nothing."""
    from safetynet.store.postgres import db as pg_db
    from safetynet.store.sqlite import db as sqlite_db

    before = _tables_and_version(tmp_path)
    # this SafetyNet is one migration ahead of the city's database
    for module in (sqlite_db, pg_db):
        known = module._migrations()
        monkeypatch.setattr(module, "_migrations", lambda known=known: [
            *known, (known[-1][0] + 1, "later_table", "CREATE TABLE later_table (x integer);")])
    for command in (["campaign", "list"], ["staff", "list"], ["roster", "export", str(tmp_path / "r.csv")],
                    ["campaign", "status", "1"]):
        assert main([*city, *command]) == 2, command
        err = capsys.readouterr().err
        assert (f"is at schema version {before[1]}, older than this SafetyNet's ({before[1] + 1})" in err
                and "`safetynet init`" in err and "Traceback" not in err), err
        assert _tables_and_version(tmp_path) == before, command
    monkeypatch.setenv("LANG", "ja_JP.UTF-8")
    assert main([*city, "campaign", "list"]) == 2
    assert f"スキーマ版 {before[1]} は、この SafetyNet の版（{before[1] + 1}）より古い" in capsys.readouterr().err
    assert not (tmp_path / "r.csv").exists()
    assert main([*city, "init"]) == 0  # init migrates, as the README says
    assert f"{before[1] + 1:04d}_later_table" in capsys.readouterr().out
    assert _tables_and_version(tmp_path) == (sorted([*before[0], "later_table"]), before[1] + 1)
    assert main([*city, "campaign", "list"]) == 0  # a current schema: as before


def test_a_command_on_a_database_with_no_safetynet_tables_says_so_and_makes_none(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A mistyped name that is another, empty database (PostgreSQL), or another program's SQLite file: the
    command says it is not a SafetyNet database yet, and leaves it as it was."""
    cfg = tmp_path / "config.toml"
    cfg.write_text('[store]\npath = "var/sn.db"\n', encoding="utf-8")
    (tmp_path / "var").mkdir()
    with fresh_store_env() as env:
        if ON_POSTGRES:
            monkeypatch.setenv("SAFETYNET_STORE_URL", env["SAFETYNET_STORE_URL"])
            PgReader(env["SAFETYNET_STORE_URL"]).execute("CREATE TABLE notes (x integer)")
        else:
            with contextlib.closing(sqlite3.connect(tmp_path / "var" / "sn.db")) as con:
                con.execute("CREATE TABLE notes (x integer)")
        assert main(["--config", str(cfg), "campaign", "list"]) == 2
        err = capsys.readouterr().err
        assert "has no SafetyNet tables yet" in err and "`safetynet init`" in err and "Traceback" not in err, err
        assert _tables(env, tmp_path / "var" / "sn.db") == ["notes"]


def _tables(env: dict[str, str], path: Path) -> list[str]:
    if ON_POSTGRES:
        return sorted(r[0] for r in PgReader(env["SAFETYNET_STORE_URL"]).execute("SELECT name FROM sqlite_master"))
    with contextlib.closing(sqlite3.connect(path)) as con:
        return sorted(r[0] for r in con.execute("SELECT name FROM sqlite_master"))


def test_a_roster_that_moves_an_association_to_another_district_is_refused_until_said(
        city: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """QA: `中央 地区` (one space more) made a new district and moved 花園町一丁目町会's households out of
    their district head's scope, exit 0. A refusal of the file's content: exit 1, and `check` says it
    as `import` does (review: the import said 2, "could not run", and `check` said ok)."""
    text = SAMPLE.read_text(encoding="utf-8-sig")
    moved = tmp_path / "moved.csv"
    moved.write_text(text.replace("中央地区,花園町一丁目町会", "中央 地区,花園町一丁目町会"), encoding="utf-8")
    row = 1 + next(i for i, line in enumerate(text.splitlines()) if "花園町一丁目町会" in line)
    said = (f"error: row {row}, column 地区: association 花園町一丁目町会 is in district 中央地区; this file puts it in "
            "中央 地区, which would move its 65 households out of 中央地区\n")
    assert main([*city, "roster", "check", str(moved)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err == (said + "error: if the district is misspelt, correct the file; to move the association,"
                                 f" check and import with --move-district\n{moved}: 1 problem; roster import would"
                                 " refuse this file\n")
    assert main([*city, "roster", "import", str(moved)]) == 1
    out, err = capsys.readouterr()
    assert said in err
    assert "--move-district" in err and "nothing" in out
    assert _districts(city) == {"中央地区", "北部地区", "南部地区"}
    assert main([*city, "roster", "check", str(moved), "--move-district"]) == 0
    assert capsys.readouterr().out.startswith(f"ok: {moved}")
    assert main([*city, "roster", "import", str(moved), "--move-district"]) == 0
    assert "中央 地区" in _districts(city)


def test_the_move_refusal_counts_the_association_s_households_in_the_city_not_the_file_s_rows(
        city: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """QA: a file of 2 of 花園町一丁目町会's 65 households in another district said "would move its 2 households",
    while --move-district moves the whole association, all 65 of them."""
    moved = tmp_path / "move.csv"
    moved.write_text("地区,町会,班,世帯番号,世帯主\n西地区,花園町一丁目町会,1班,1,池田 修\n"
                     "西地区,花園町一丁目町会,1班,2,田中 隆\n", encoding="utf-8")
    assert main([*city, "roster", "import", str(moved)]) == 1
    assert ("row 2, column 地区: association 花園町一丁目町会 is in district 中央地区; this file puts it in 西地区, "
            "which would move its 65 households out of 中央地区") in capsys.readouterr().err
    monkeypatch.setenv("LANG", "ja_JP.UTF-8")
    assert main([*city, "roster", "import", str(moved)]) == 1
    assert "65 世帯が「中央地区」から移ります" in capsys.readouterr().err
    assert main([*city, "roster", "check", str(moved)]) == 1
    err = capsys.readouterr().err
    assert "65 世帯が「中央地区」から移ります" in err and "--move-district を付けて確認し、取り込んでください" in err
    assert err.endswith(f"{moved}: 問題 1 件。このファイルはこのままでは取り込めません\n")
    assert main([*city, "roster", "import", str(moved), "--move-district"]) == 0
    assert _association_households(city, "花園町一丁目町会") == ("西地区", 65)


def _association_households(c: list[str], name: str) -> tuple[str, int]:
    cfg = load_config(Path(c[1]))

    async def run() -> tuple[str, int]:
        async with store_session(cfg) as store:
            association = await store.roster.association_by_name(name)
            assert association is not None
            return association.district, await store.roster.count_in_scope([f"district:{association.district}"])

    return asyncio.run(run())


def test_a_row_with_fewer_cells_than_the_header_is_refused_by_check_and_import_and_changes_nothing(
        city: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """QA: a row of 5 cells under the sample's 16 columns was imported, exit 0, "1 updated … 1 removed":
    household 2 lost its address, members (4 → 1), 要配慮, consent, notes and mobile."""
    header = SAMPLE.read_text(encoding="utf-8-sig").splitlines()[0]
    width = len(header.split(","))
    short = tmp_path / "short.csv"
    short.write_text(f"{header}\n中央地区,花園町一丁目町会,1班,2,田中 隆\n", encoding="utf-8")
    before, after = tmp_path / "before.csv", tmp_path / "after.csv"
    assert main([*city, "roster", "export", str(before)]) == 0
    said = f"row 2: has only 5 cells but the header has {width} columns (no 住所 and after)"
    assert main([*city, "roster", "check", str(short)]) == 1
    assert said in capsys.readouterr().err
    assert main([*city, "roster", "import", str(short)]) == 1
    out, err = capsys.readouterr()
    assert said in err and "nothing was imported" in err and "imported " not in out
    assert main([*city, "roster", "export", str(after)]) == 0
    assert after.read_bytes() == before.read_bytes()


def test_ctrl_c_during_the_import_says_it_stopped_and_nothing_was_imported(
        city: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """QA: Ctrl-C during `roster import` left the data intact but printed nothing: the operator could not tell
    whether anything was imported. Here SIGINT comes inside the import's transaction, after its first writes
    (the file's new association), as a key press would: asyncio.run cancels the import, which rolls back."""
    from safetynet.store.sqlite import roster_import  # both stores' imports begin with its upsert_places

    text = SAMPLE.read_text(encoding="utf-8-sig")
    changed = tmp_path / "changed.csv"
    changed.write_text(text.replace("花園町一丁目町会", "新町会"), encoding="utf-8")
    before, after = tmp_path / "before.csv", tmp_path / "after.csv"
    assert main([*city, "roster", "export", str(before)]) == 0
    upsert_places = roster_import.upsert_places

    async def interrupted(*args: object, **kwargs: object) -> object:
        ids = await upsert_places(*args, **kwargs)  # type: ignore[arg-type]
        signal.raise_signal(signal.SIGINT)
        return ids

    monkeypatch.setattr(roster_import, "upsert_places", interrupted)
    capsys.readouterr()
    assert main([*city, "roster", "import", str(changed), "--replace", "--yes"]) == 130
    out, err = capsys.readouterr()
    assert err.splitlines()[-1] == "stopped (Ctrl-C); nothing was imported" and "Traceback" not in err
    assert "imported " not in out
    monkeypatch.undo()
    assert main([*city, "roster", "export", str(after)]) == 0
    assert after.read_bytes() == before.read_bytes()
    assert "新町会" not in _association_names(city)
    assert main([*city, "roster", "import", str(changed)]) == 0  # the store is as it was, and takes the next import
    assert "新町会" in _association_names(city)


def test_ctrl_c_once_the_import_is_written_still_prints_its_summary(
        city: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGINT while the store closes after the import committed: "nothing was imported" would be false."""
    from safetynet.roster import commands

    changed = tmp_path / "changed.csv"
    changed.write_text(SAMPLE.read_text(encoding="utf-8-sig").replace("花園町一丁目町会", "新町会"), encoding="utf-8")
    sessions = []
    real = commands.store_session

    @contextlib.asynccontextmanager
    async def session(cfg: Config) -> AsyncIterator[Any]:
        sessions.append(cfg)
        async with real(cfg) as store:
            yield store
            if len(sessions) == 2:  # the import's (the first checks the file against the city)
                signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(commands, "store_session", session)
    assert main([*city, "roster", "import", str(changed)]) == 0
    out, err = capsys.readouterr()
    assert len(sessions) == 2 and "nothing was imported" not in out + err
    assert out.startswith(f"imported {changed}: 3 districts, 12 associations\n  households: 65 added, 0 updated, 535 unchanged")
    monkeypatch.undo()
    assert "新町会" in _association_names(city)


def test_ctrl_c_during_the_imports_commit_reports_it_imported(
        city: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGINT as the import's COMMIT is sent (SQLite's statement, or PostgreSQL's): it was cancelled there,
    and said 「何も取り込まれていません」 of an import SQLite had committed. The COMMIT is let finish, and
    the import reported done."""
    import aiosqlite
    import asyncpg

    changed = tmp_path / "changed.csv"
    changed.write_text(SAMPLE.read_text(encoding="utf-8-sig").replace("花園町一丁目町会", "新町会"), encoding="utf-8")
    commits: list[str] = []

    def interrupting(execute: Any) -> Any:
        def run(self: Any, sql: str, *args: Any, **kwargs: Any) -> Any:
            if sql.rstrip(";") == "COMMIT" and not commits:
                commits.append(sql)
                signal.raise_signal(signal.SIGINT)  # asyncio.run cancels the command: the key press
            return execute(self, sql, *args, **kwargs)  # aiosqlite's is awaited or entered: as it is

        return run

    # the command's first COMMIT is the import's (checking the file against the city only reads)
    monkeypatch.setattr(aiosqlite.Connection, "execute", interrupting(aiosqlite.Connection.execute))
    monkeypatch.setattr(asyncpg.connection.Connection, "execute", interrupting(asyncpg.connection.Connection.execute))
    assert main([*city, "roster", "import", str(changed)]) == 0
    out, err = capsys.readouterr()
    assert commits and "nothing was imported" not in out + err
    assert out.startswith(f"imported {changed}: 3 districts, 12 associations\n  households: 65 added, 0 updated, 535 unchanged")
    monkeypatch.undo()
    assert "新町会" in _association_names(city)


@pytest.mark.postgres_only  # a connection the server ends: PostgreSQL's
@pytest.mark.parametrize(("at", "said"), [
    ("copy", "error: the connection to the database was lost; nothing was imported: run it again"),
    ("COMMIT", "error: the connection to the database was lost as the import was committed: it may or may not"
               " have been written. Run it again (importing the same file twice leaves the roster as once)"),
])
def test_a_connection_lost_during_the_import_says_so_in_one_line_and_a_second_run_imports(
        at: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """QA (`pg_terminate_backend` of the database's connections during `roster import`): a JSON
    store_write_failed line on the terminal, then "the database cannot be used: cannot call
    Transaction.__aexit__(): the underlying connection is closed". Here the server ends the import's
    connection as its COPY (or its COMMIT) is sent: one line says so and what to do, exit 2, nothing
    imported; the same command again imports the file."""
    import asyncpg

    c = init_city(tmp_path)
    capsys.readouterr()
    url = load_config(Path(c[1])).store.url
    ended: list[int] = []

    async def terminate(con: Any) -> None:
        ended.append(con.get_server_pid())
        admin = await asyncpg.connect(url)
        try:  # returns once the backend is gone, as psql's pg_terminate_backend leaves it
            assert await admin.fetchval("SELECT pg_terminate_backend($1, 10000)", ended[0])
        finally:
            await admin.close()

    copy, execute = asyncpg.connection.Connection.copy_records_to_table, asyncpg.connection.Connection.execute

    async def copying(self: Any, *args: Any, **kwargs: Any) -> Any:
        if at == "copy" and not ended:
            await terminate(self)
        return await copy(self, *args, **kwargs)

    async def executing(self: Any, sql: str, *args: Any, **kwargs: Any) -> Any:
        if at == "COMMIT" and sql.rstrip(";") == "COMMIT" and not ended:  # the command's first is the import's
            await terminate(self)
        return await execute(self, sql, *args, **kwargs)

    monkeypatch.setattr(asyncpg.connection.Connection, "copy_records_to_table", copying)
    monkeypatch.setattr(asyncpg.connection.Connection, "execute", executing)
    assert main([*c, "roster", "import", str(SAMPLE)]) == 2
    out, err = capsys.readouterr()
    assert ended and out == "" and err.splitlines() == [said]  # no log line, no trace
    monkeypatch.undo()
    assert _association_names(c) == set()
    assert main([*c, "roster", "import", str(SAMPLE)]) == 0
    assert "households: 600 added" in capsys.readouterr().out


def test_ctrl_c_while_the_file_is_read_says_so_in_japanese(
        city: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("safetynet.roster.csvio.read_roster", interrupted)
    monkeypatch.setenv("LANG", "ja_JP.UTF-8")
    assert main([*city, "roster", "import", str(SAMPLE)]) == 130
    assert capsys.readouterr().err == "中断しました（Ctrl-C）。何も取り込んでいません\n"


def _association_names(c: list[str]) -> set[str]:
    cfg = load_config(Path(c[1]))

    async def run() -> set[str]:
        async with store_session(cfg) as store:
            return {a.name for a in await store.roster.list_associations()}

    return asyncio.run(run())


def _districts(c: list[str]) -> set[str]:
    cfg = load_config(Path(c[1]))

    async def run() -> set[str]:
        async with store_session(cfg) as store:
            return {a.district for a in await store.roster.list_associations()}

    return asyncio.run(run())


@pytest.mark.parametrize("argv", [["campaign", "status", "99999999999999999999"], ["campaign", "close", "0"],
                                  ["token", "revoke", "99999999999999999999"],
                                  ["campaign", "list", "--limit", "99999999999999999999"],
                                  ["serve", "--port", "-1"], ["serve", "--port", "99999"],
                                  ["sandbox", "--port", "99999"]])
def test_ids_and_ports_out_of_range_are_refused_at_parsing(
        argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "out of range" in err or "is not a port" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("text", ["１", "1_0", " 1", "+1", "²"])
def test_an_id_on_the_command_line_is_ascii_digits_as_on_the_web(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["campaign", "status", text])
    assert e.value.code == 2 and "is not a whole number" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "env", "said"), [
    ('[store]\nbusy_timeout_seconds = nan\n', {}, "store.busy_timeout_seconds must be a finite number"),
    ('[store]\nbusy_timeout_seconds = inf\n', {}, "store.busy_timeout_seconds must be a finite number"),
    ("", {"SAFETYNET_STORE_BUSY_TIMEOUT_SECONDS": "nan"}, "store.busy_timeout_seconds must be a finite number"),
    ('[server]\nport = 99999\n', {}, "server.port must be 1 to 65535"),
])
def test_config_numbers_that_cannot_work_are_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        text: str, env: dict[str, str], said: str) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(text, encoding="utf-8")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert main(["--config", str(cfg), "staff", "list"]) == 2
    assert said in capsys.readouterr().err


def test_a_config_path_that_is_a_folder_or_has_a_bom(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["--config", str(tmp_path), "staff", "list"]) == 2
    assert f"config: {tmp_path} is a folder, not a config file" in capsys.readouterr().err
    monkeypatch.setenv("SAFETYNET_CONFIG", str(tmp_path))
    assert main(["staff", "list"]) == 2
    assert "is a folder" in capsys.readouterr().err
    cfg = tmp_path / "config.toml"
    cfg.write_bytes('\ufeff[store]\npath = "var/sn.db"\n'.encode())  # Notepad's UTF-8
    assert main(["--config", str(cfg), "init", "--admin-password", "kinkyu-renraku-mou"]) == 0
    assert load_config(cfg, env={}).db_path == tmp_path / "var" / "sn.db"  # the first key was read, BOM and all

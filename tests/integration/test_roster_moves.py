"""`roster check` and `roster import --replace` on a household that moved within the city: gone from one
association's rows, listed in another's under a new number (same head's name, a shared phone)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from roster_helpers import init_city, sample_rows, write_rows

from safetynet.cli import main
from safetynet.config import load_config
from safetynet.domain.roster import Household
from safetynet.store import store_session

OLD, NEW = "花園町一丁目町会", "天神町一丁目町会"
CHAT = "777000111"


@pytest.fixture
def city(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The sample city, its household 1 of 花園町一丁目町会 (池田 修) with consent 不同意 and a Telegram chat
    its resident enrolled."""
    c = init_city(tmp_path)
    rows = sample_rows()
    assert rows[1][1:5] == [OLD, "1班", "1", "池田 修"] and rows[0][-1] == "同意"
    rows[1][-1] = "不同意"
    assert main([*c, "roster", "import", str(write_rows(tmp_path / "city.csv", rows))]) == 0
    hid = _household_id(c, OLD, "1")

    async def enrol() -> None:
        async with store_session(load_config(Path(c[1]))) as store:
            await store.roster.add_contact(hid, "telegram", CHAT)

    asyncio.run(enrol())
    capsys.readouterr()
    return c


def _moved(tmp_path: Path, *news: tuple[str, str, str], gone: int = 1) -> Path:
    """The sample with households 1 (to `gone`) of 花園町一丁目町会 gone and (number, name, mobile) rows added
    to 天神町一丁目町会, their consent cells empty."""
    rows = sample_rows()
    template = next(r for r in rows if r[1] == NEW)
    added = [[template[0], NEW, template[2], key, name, "さくら市天神町一丁目1-1", "1", "", "ja", mobile, "", "", "", "",
              "", ""] for key, name, mobile in news]
    return write_rows(tmp_path / "next.csv", [rows[0], *rows[1 + gone :], *added])


def _household_id(c: list[str], association: str, key: str) -> int:
    async def run() -> int:
        async with store_session(load_config(Path(c[1]))) as store:
            found = await store.roster.code_targets([association], only_without_code=False)
        return next(t.household_id for t in found if t.household_key == key)

    return asyncio.run(run())


def _household(c: list[str], association: str, key: str) -> Household:
    hid = _household_id(c, association, key)

    async def run() -> Household:
        async with store_session(load_config(Path(c[1]))) as store:
            h = await store.roster.get_household(hid)
        assert h is not None
        return h

    return asyncio.run(run())


def test_a_household_moving_takes_its_telegram_and_its_refusal_and_check_says_so(
        city: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    moved = _moved(tmp_path, ("901", "池田　修", "09000630343"))
    assert main([*city, "roster", "check", str(moved)]) == 0
    assert "imported with --replace, 1 households would move to another association" in capsys.readouterr().out
    assert main([*city, "roster", "import", str(moved), "--replace", "--yes"]) == 0
    out = capsys.readouterr().out
    # the question before --replace says which of the households it takes out move (the moves' reread)
    assert "--replace will remove 1 household missing from the file:" in out
    assert "of which 1 moved to another association in this file" in out
    assert "moved to another association: 1 households" in out and "1 with an empty consent cell kept" in out
    assert "households: 0 added, 0 updated, 599 unchanged, 0 removed" in out
    new = _household(city, NEW, "901")
    assert new.consent == "no"
    assert ("telegram", CHAT, "enrolment") in {(c.kind, c.address, c.source) for c in new.contacts}
    assert "池田" not in out


def test_two_candidates_with_the_same_name_and_phone_are_no_move_and_said(
        city: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    moved = _moved(tmp_path, ("901", "池田 修", "090-0063-0343"), ("902", "池田 修", "090-0063-0343"))
    assert main([*city, "roster", "check", str(moved)]) == 0
    assert "imported with --replace, 1 households would not move" in capsys.readouterr().out
    assert main([*city, "roster", "import", str(moved), "--replace", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "not taken as moves: 1 households" in out and "moved to another association" not in out
    assert "of which" not in out
    for key in ("901", "902"):
        h = _household(city, NEW, key)
        assert h.consent == "yes" and all(c.kind != "telegram" for c in h.contacts)


def test_a_move_without_a_shared_phone_is_no_move(
        city: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Household 1 comes back with another mobile: no move; household 2 (田中 隆) with its own: moved."""
    moved = _moved(tmp_path, ("901", "池田 修", "090-9999-8888"), ("903", "田中 隆", "090-0001-6886"), gone=2)
    assert main([*city, "roster", "import", str(moved), "--replace", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "households: 1 added, 0 updated, 598 unchanged, 1 removed" in out
    assert "moved to another association: 1 households" in out and "not taken as moves" not in out
    h = _household(city, NEW, "901")
    assert h.consent == "yes" and all(c.kind != "telegram" for c in h.contacts)

"""A household's language when the roster file does not state it: the city's `[city] default_language` for a
household new to the roster, what the roster records for one already there."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pg_helpers import store_env
from roster_helpers import csv_bytes

from safetynet.cli import main
from safetynet.config import load_config
from safetynet.roster.csvio import contact_kinds
from safetynet.store import store_session


@pytest.fixture
def english_city(tmp_path: Path) -> list[str]:
    """`safetynet init` of a city whose default language is English."""
    cfg = tmp_path / "config.toml"
    cfg.write_text('[store]\npath = "var/sn.db"\n\n[city]\ndefault_language = "en"\n', encoding="utf-8")
    c = ["--config", str(cfg)]
    assert main([*c, "init", "--admin-password", "kinkyu-renraku-mou"]) == 0
    return c


def _languages(c: list[str]) -> dict[str, str]:
    cfg = load_config(Path(c[1]), env=store_env())

    async def run() -> dict[str, str]:
        async with store_session(cfg) as store:
            return {r.household_key: r.language for r in await store.roster.export_records(contact_kinds())}

    return asyncio.run(run())


def test_a_file_without_the_language_column_gives_new_households_the_citys_language(
        english_city: list[str], tmp_path: Path) -> None:
    """The last closing note: without a 言語 column a new household got `ja`, in a city whose default is
    English, though an empty 言語 cell gave it English. Household 1, recorded Korean, keeps Korean."""
    first = tmp_path / "first.csv"
    first.write_bytes(csv_bytes(["地区", "町会", "世帯番号", "世帯主", "言語"],
                                [["北地区", "東町会", "1", "金 民俊", "ko"], ["北地区", "東町会", "2", "佐藤 一郎", ""]]))
    assert main([*english_city, "roster", "import", str(first)]) == 0
    assert _languages(english_city) == {"1": "ko", "2": "en"}
    without = tmp_path / "without.csv"
    without.write_bytes(csv_bytes(["地区", "町会", "世帯番号", "世帯主"],
                                  [["北地区", "東町会", "1", "金 民俊"], ["北地区", "東町会", "3", "Smith John"]]))
    assert main([*english_city, "roster", "check", str(without)]) == 0
    assert main([*english_city, "roster", "import", str(without)]) == 0
    assert _languages(english_city) == {"1": "ko", "2": "en", "3": "en"}


def test_households_added_while_a_campaign_runs_are_said_to_be_enrolled_by_the_server(
        english_city: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review: a corrected roster imported during a city-wide event added households that no running
    campaign asked, and the import said nothing of it. The server's ladder enrols them now
    (test_broadcast_ladder); the import says so."""
    from contract.support import running_campaign

    first = tmp_path / "first.csv"
    first.write_bytes(csv_bytes(["地区", "町会", "世帯番号", "世帯主"], [["北地区", "東町会", "1", "金 民俊"]]))
    assert main([*english_city, "roster", "import", str(first)]) == 0

    async def start() -> int:
        async with store_session(load_config(Path(english_city[1]), env=store_env())) as store:
            return await running_campaign(store)

    cid = asyncio.run(start())
    capsys.readouterr()
    more = tmp_path / "more.csv"
    more.write_bytes(csv_bytes(["地区", "町会", "世帯番号", "世帯主"],
                               [["北地区", "東町会", "1", "金 民俊"], ["北地区", "東町会", "2", "佐藤 一郎"]]))
    assert main([*english_city, "roster", "import", str(more)]) == 0
    assert (f"note: the household added will be enrolled within a minute, by the server (safetynet serve), in those"
            f" of the running campaign(s) #{cid} whose scope takes it") in capsys.readouterr().err
    assert main([*english_city, "roster", "import", str(more)]) == 0  # nothing added: nothing said
    assert "running campaign" not in capsys.readouterr().err

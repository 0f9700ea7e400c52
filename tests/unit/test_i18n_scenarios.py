"""The shipped drill scenarios speak every resident page language: a household whose language a scenario
lacks reads the alert in Japanese (broadcast.messages.text_language), inside a page in its own language."""

from __future__ import annotations

from pathlib import Path

import pytest

from safetynet.broadcast.scenario import load_scenario
from safetynet.i18n import PAGE_LANGUAGES

DRILLS = Path(__file__).resolve().parents[2] / "drills"
SHIPPED = sorted(DRILLS.glob("*.toml"))


def test_the_drills_are_found() -> None:
    assert {p.name for p in SHIPPED} >= {"citywide-earthquake.toml", "association-monthly.toml",
                                         "tsunami-evacuation.toml"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_a_shipped_scenario_has_a_message_in_every_page_language(path: Path) -> None:
    messages = load_scenario(path).messages
    assert [lang for lang in PAGE_LANGUAGES if not messages.get(lang, "").strip()] == [], path.name

"""The shipped drill scenarios speak every resident page language: a household whose language a scenario
lacks reads the alert in Japanese (broadcast.messages.text_language), inside a page in its own language."""

from __future__ import annotations

from pathlib import Path

import pytest

from safetynet.broadcast.scenario import load_scenario
from safetynet.i18n import CATALOGS, PAGE_LANGUAGES, t

DRILLS = Path(__file__).resolve().parents[2] / "drills"
SHIPPED = sorted(DRILLS.glob("*.toml"))


def test_the_drills_are_found() -> None:
    assert {p.name for p in SHIPPED} >= {"citywide-earthquake.toml", "association-monthly.toml",
                                         "tsunami-evacuation.toml"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_a_shipped_scenario_has_a_message_in_every_page_language(path: Path) -> None:
    messages = load_scenario(path).messages
    assert [lang for lang in PAGE_LANGUAGES if not messages.get(lang, "").strip()] == [], path.name


# -- a scenario's texts say nothing of a drill ------------------------------------------------------
# The same file runs as a drill or, started with --real, as a real event: the code puts 【訓練】/[DRILL]
# in front of a drill's title and messages and nothing in front of a real event's. A title or message
# that says 訓練 itself would tell residents a real earthquake is a drill (the title is the notification's
# headline, the email's subject and the reply page's heading).

# Each language's word for a drill, lower case: every catalog's drill marker, and the spellings around it.
DRILL_WORDS = ("訓練", "くんれん", "drill", "演练", "演習", "훈련", "diễn tập", "simulado", "simulacro")


def _marker_word(lang: str) -> str:
    return t(lang, "message.drill_prefix").strip(" 【】[]").lower()


def test_every_languages_drill_marker_is_a_drill_word() -> None:
    assert [lang for lang in CATALOGS if _marker_word(lang) not in DRILL_WORDS] == []


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_a_shipped_scenarios_title_and_messages_say_nothing_of_a_drill(path: Path) -> None:
    scenario = load_scenario(path)
    texts = {"title": scenario.title, **{f"messages.{lang}": text for lang, text in scenario.messages.items()}}
    said = {key: [w for w in DRILL_WORDS if w in text.lower()] for key, text in texts.items()}
    assert {key: words for key, words in said.items() if words} == {}, path.name


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_a_shipped_scenario_states_no_intensity(path: Path) -> None:
    """Started with --real for whatever quake struck, a scenario must not tell residents a wrong
    intensity (QA2: 「震度6強の地震が発生しました」 in the city-wide scenario)."""
    s = load_scenario(path)
    texts = [s.title, *s.messages.values()]
    assert [x for x in texts if "震度" in x or "intensity" in x.lower()] == [], path.name

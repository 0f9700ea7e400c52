"""Scenario files: the shipped ones load; a bad one is refused with the key and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from safetynet.broadcast.scenario import ScenarioError, load_scenario
from safetynet.channels import registry
from safetynet.domain import CampaignKind

DRILLS = Path(__file__).resolve().parents[2] / "drills"

GOOD = """
title = "訓練"
scope = ["district:北地区", "group:桜町町会/1班"]
[messages]
ja = "訓練です。"
en = "A drill."
[[ladder]]
after_minutes = 0
channels = ["webpush", "telegram"]
fallback = ["sms"]
[[ladder]]
after_seconds = 90
channels = ["sms"]
[[ladder]]
after_minutes = 5
door_knock = true
[simulate]
answer_share = 0.8
"""


def test_shipped_scenarios_load() -> None:
    city = load_scenario(DRILLS / "citywide-earthquake.toml")
    assert (city.kind, city.scope, city.ladder) == (CampaignKind.DRILL, ("city",), registry.default_ladder())
    assert {"ja", "ja-easy", "en"} <= set(city.messages)
    monthly = load_scenario(DRILLS / "association-monthly.toml")
    assert monthly.scope == ()  # named when it starts: never the whole city by default
    assert monthly.ladder[0].channels == ("webpush", "telegram", "line", "email") and monthly.ladder[0].fallback == ()
    assert monthly.ladder[-1].door_knock and monthly.ladder[-1].after_seconds == 900


def test_a_full_scenario_parses(tmp_path: Path) -> None:
    p = tmp_path / "x.toml"
    p.write_text(GOOD, encoding="utf-8")
    s = load_scenario(p)
    assert s.name == "x" and s.scope == ("district:北地区", "group:桜町町会/1班")
    assert [st.after_seconds for st in s.ladder] == [0, 90, 300]
    assert s.options == {"simulate": {"answer_share": 0.8}}


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (('title = "訓練"', 'title = ""'), "title"),
        (('scope = ["district:北地区", "group:桜町町会/1班"]', 'scope = ["town:x"]'), "scope"),
        (('scope = ["district:北地区", "group:桜町町会/1班"]', 'scope = ["group:nogroup"]'), "scope"),
        (('ja = "訓練です。"', 'fr = "Exercice."'), "messages.ja"),
        (('channels = ["sms"]', 'channels = ["fax"]'), "ladder[1].channels"),
        (("after_seconds = 90", "after_seconds = 900"), "ladder[2].after_minutes"),
        (("after_minutes = 0\n", "after_minutes = 1\n"), "ladder[0].after_minutes"),
        (("door_knock = true", 'door_knock = "yes"'), "ladder[2].door_knock"),
        (('title = "訓練"', 'title = "訓練"\ncolour = "red"'), "colour"),
        # NaN passes every comparison, 1e300 overflows a timestamp: both were stored as given
        (("after_seconds = 90", "after_seconds = nan"), "ladder[1].after_seconds: a number from 0"),
        (("after_minutes = 5", "after_minutes = inf"), "ladder[2].after_minutes: a number from 0 to 10,080"),
        (("after_minutes = 5", "after_minutes = 1e300"), "ladder[2].after_minutes"),
        (("after_minutes = 5", "after_minutes = 5\nafter_seconds = 30"), "after_minutes or after_seconds, not both"),
        (('title = "訓練"', 'title = "訓練' + "。" * 120 + '"'), "title: longer than 120"),
        (('title = "訓練"', 'title = "訓練\\u202e"'), "title: contains U+202E (RIGHT-TO-LEFT OVERRIDE)"),
        (('title = "訓練"', 'title = "訓練\\n二行目"'), "title: contains U+000A (LF)"),
        (('ja = "訓練です。"', 'ja = "訓練\\u0000です。"'), "messages.ja: contains U+0000 (NUL)"),
        (("answer_share = 0.8", "answer_share = 0.8\n[[ladder]]\nafter_minutes = 9\nchannels = [\"sms\"]"),
         "door_knock must be the last step"),
    ],
)
def test_a_bad_scenario_names_the_key(tmp_path: Path, change: tuple[str, str], key: str) -> None:
    p = tmp_path / "bad.toml"
    text = GOOD.replace(*change)
    assert text != GOOD
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as e:
        load_scenario(p)
    assert key in str(e.value) and str(p) in str(e.value)


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "broken.toml"
    p.write_text("title = ", encoding="utf-8")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(p)
    with pytest.raises(ScenarioError, match="not found"):
        load_scenario(tmp_path / "nope.toml")


def test_a_message_keeps_its_line_breaks_and_tabs(tmp_path: Path) -> None:
    p = tmp_path / "lines.toml"
    # a form's textarea sends CR LF; a message is several lines; Word and PDFs paste U+2028 for a break
    p.write_text(GOOD.replace('ja = "訓練です。"', 'ja = "訓練です。\\r\\n避難所:\\t第一小学校\\u2028体育館"'),
                 encoding="utf-8")
    assert load_scenario(p).messages["ja"] == "訓練です。\r\n避難所:\t第一小学校\n体育館"

"""A scenario file's errors come from the catalogs: `str()` is the English the API's JSON, logs and tests
have always read (the file, the key, the reason), `text(lang)` what the CLI prints, Japanese first."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import pytest

from safetynet.broadcast.scenario import Scenario, ScenarioError, load_scenario, parse_scenario
from safetynet.broadcast.service import CampaignSpec
from safetynet.domain import CampaignKind
from safetynet.i18n import catalog

KEYS = sorted(k for k in catalog("ja") if k.startswith(("scenario.", "scope.invalid")))
GOOD: dict[str, Any] = {"title": "訓練", "messages": {"ja": "訓練です。"}}


def _fields(text: str) -> list[str]:
    return sorted(name for _, name, _, _ in string.Formatter().parse(text) if name)


def _refused(table: dict[str, Any]) -> ScenarioError:
    with pytest.raises(ScenarioError) as e:
        parse_scenario(table, where="drills/x.toml")
    return e.value


def test_every_scenario_error_is_written_in_japanese_and_english() -> None:
    assert len(KEYS) > 20
    en = catalog("en")
    assert [k for k in KEYS if k not in en] == []
    assert all(_fields(en[k]) == _fields(catalog("ja")[k]) for k in KEYS)


@pytest.mark.parametrize(("table", "english", "japanese"), [
    ({**GOOD, "sceop": ["city"]}, "drills/x.toml: sceop: unknown key (known: description, kind, ladder, messages,"
     " options, scope, simulate, simulation, title)", "シナリオ drills/x.toml の sceop: 使えないキーです（使えるキー: "),
    ({**GOOD, "messages": {"en": "Drill"}}, "drills/x.toml: messages.ja: required: Japanese is every household's"
     " fallback", "シナリオ drills/x.toml の messages.ja: 日本語の本文は必須です（ほかの言語の本文がない世帯には"),
    ({**GOOD, "title": 3}, "drills/x.toml: title: required, a non-empty string",
     "シナリオ drills/x.toml の title: 入力されていません"),
    ({**GOOD, "kind": "exercise"}, 'drills/x.toml: kind: must be "drill" or "real"',
     'シナリオ drills/x.toml の kind: "drill" か "real" を指定してください'),
    ({**GOOD, "scope": ["ward:x"]}, "drills/x.toml: scope: scope must be city, district:NAME or association:NAME,"
     " got 'ward:x'", "シナリオ drills/x.toml の scope: 範囲 'ward:x' は使えません。"),
    ({**GOOD, "ladder": [{"after_minutes": 0, "channels": ["sms"]}, {"after_minutes": 0, "channels": ["voice"]}]},
     "drills/x.toml: ladder[1].after_minutes: each step comes later than the one before",
     "シナリオ drills/x.toml の ladder[1].after_minutes: 各段階は前の段階より後にしてください"),
    ({**GOOD, "ladder": [{"after_minutes": 1e300, "channels": ["sms"]}]},
     "drills/x.toml: ladder[0].after_minutes: a number from 0 to 10,080", "0 から 10,080 までの数にしてください"),
    # review: a ladder that never makes the door-knock list left its silent households to no one
    ({**GOOD, "ladder": [{"after_minutes": 0, "channels": ["sms"]}, {"after_minutes": 10, "channels": ["voice"]}]},
     "drills/x.toml: ladder[1]: the last step must be the door knock (door_knock = true)",
     "シナリオ drills/x.toml の ladder[1]: 最後の段階は戸別訪問（door_knock = true）にしてください。"),
    ({**GOOD, "messages": {"ja": "訓練\x00です"}}, "drills/x.toml: messages.ja: contains U+0000 (NUL) at character 3,"
     " an invisible control character", "3 文字目に目に見えない制御文字 U+0000 (NUL) が入っています。削除してください"),
])
def test_str_is_the_english_and_text_says_it_in_the_readers_language(table: dict[str, Any], english: str,
                                                                     japanese: str) -> None:
    e = _refused(table)
    assert str(e) == e.text("en") and str(e).startswith(english)
    assert japanese in e.text("ja") and e.text("ja").startswith("シナリオ drills/x.toml の ")


def test_a_file_missing_or_not_toml_is_named(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as e:
        load_scenario(tmp_path / "none.toml")
    assert (str(e.value), e.value.text("ja")) == (f"{tmp_path / 'none.toml'}: file not found",
                                                  f"シナリオ {tmp_path / 'none.toml'} が見つかりません")
    bad = tmp_path / "bad.toml"
    bad.write_text('title = "訓練\n', encoding="utf-8")
    with pytest.raises(ScenarioError) as e:
        load_scenario(bad)
    assert str(e.value).startswith(f"{bad}: not valid TOML: ")
    assert e.value.text("ja").startswith(f"シナリオ {bad} は TOML として読めません: ")


def test_a_scenario_without_a_scope_of_its_own_asks_for_one() -> None:
    monthly = Scenario("association-monthly", "訓練", CampaignKind.DRILL, (), {"ja": "訓練です。"}, ())
    with pytest.raises(ScenarioError) as e:
        CampaignSpec.from_scenario(monthly)
    assert str(e.value) == ("association-monthly: the scenario has no scope of its own (it is meant for one"
                            " association or district): name one, e.g. --scope association:NAME")
    assert e.value.text("ja") == ("association-monthly: このシナリオには対象の範囲がありません（1つの町会や地区のための"
                                  "シナリオです）。--scope association:NAME のように範囲を指定してください")


def test_an_api_body_names_its_key_without_a_file() -> None:
    with pytest.raises(ScenarioError) as e:
        CampaignSpec.from_json({**GOOD, "kind": "exercise"})
    assert (str(e.value), e.value.text("ja")) == ('kind: must be "drill", "real" or "check"',
                                                  'kind: "drill"、"real"、"check" のいずれかを指定してください')


def test_a_scenario_that_cannot_be_read_is_a_scenario_error(tmp_path: Path) -> None:
    """A folder (or a file it may not read) where the scenario should be: a ScenarioError every reader
    takes (a trigger sends its fallback, the API answers 400), not an OSError."""
    with pytest.raises(ScenarioError) as e:
        load_scenario(tmp_path)
    assert str(e.value).startswith(f"the scenario {tmp_path} cannot be read: ")
    assert e.value.text("ja").startswith(f"シナリオ {tmp_path} を読めません: ")


def test_a_fitted_scenario_still_refuses_a_message_that_is_not_text() -> None:
    """A trigger's scenario is fitted, not refused, for its words; a message that is no text at all is
    still its key's error (it was a NameError, and English took the Japanese text)."""
    with pytest.raises(ScenarioError, match=r"messages\.ja"):
        parse_scenario({"title": "地震", "messages": {"ja": 5}}, fitted=True)
    with pytest.raises(ScenarioError, match=r"messages\.en"):
        parse_scenario({"title": "地震", "messages": {"ja": "避難してください", "en": 5}}, fitted=True)
    fitted = parse_scenario({"title": "地震", "messages": {"ja": "避難\x07してください", "en": "\x07"}}, fitted=True)
    assert fitted.messages == {"ja": "避難 してください"}  # the control character as a space; English fits to nothing

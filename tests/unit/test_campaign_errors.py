"""Campaign refusals come from the catalogs: `str()` is the English the logs and the API's JSON have always
read, `text(lang)` what staff read on the console and the command line, Japanese first."""

from __future__ import annotations

import string

import pytest

from safetynet.broadcast.scenario import MAX_TITLE_CHARS, message_problem, title_problem
from safetynet.broadcast.service import (
    ApprovalRefused,
    CampaignError,
    CampaignStateError,
    DuplicateCampaign,
    _unknown_scope,
    language_word,
    state_word,
)
from safetynet.domain import CampaignKind, CampaignState
from safetynet.domain.campaigns import Campaign
from safetynet.domain.roster import UnknownScopeError
from safetynet.i18n import Term, Text, catalog

# 2026-12-05 00:00 JST
EPOCH = 1796396400.0
KEYS = sorted(k for k in catalog("ja") if k.startswith(("campaign.error.", "campaign.problem.")))


def _fields(text: str) -> list[str]:
    return sorted(name for _, name, _, _ in string.Formatter().parse(text) if name)


def test_every_refusal_is_written_in_japanese_and_english() -> None:
    assert len(KEYS) > 20
    en = catalog("en")
    assert [k for k in KEYS if k not in en] == []
    assert all(_fields(en[k]) == _fields(catalog("ja")[k]) for k in KEYS)


def test_str_is_the_english_and_text_says_it_in_the_readers_language() -> None:
    e = CampaignStateError("campaign.error.not_running", id=7, state=state_word(CampaignState.CLOSED))
    assert str(e) == e.text("en") == "campaign 7 is closed; only a running campaign can close"
    assert e.text("ja") == "安否確認 7 の状態は「終了」です。終了できるのは実施中の安否確認だけです。"
    waiting = state_word(CampaignState.PENDING_APPROVAL)
    assert (waiting.text("en"), waiting.text("ja")) == ("pending_approval", "承認待ち")  # English: as the API spells it
    assert CampaignError("campaign.error.not_found", id=9).text("ja") == "安否確認 9 は見つかりません。"


def test_a_title_or_message_problem_is_said_inside_its_refusal() -> None:
    problem = title_problem("訓" * (MAX_TITLE_CHARS + 1))
    assert problem is not None and str(problem) == f"longer than {MAX_TITLE_CHARS} characters"
    e = CampaignError("campaign.error.title", problem=problem)
    assert (str(e), e.text("ja")) == ("title: longer than 120 characters", "件名: 長すぎます（120 文字まで）")
    bad = message_problem("訓練\u202eです")
    assert bad is not None
    e = CampaignError("campaign.error.message", lang=language_word("en"), problem=bad)
    assert str(e) == "messages.en: contains U+202E (RIGHT-TO-LEFT OVERRIDE) at character 3, an invisible control character"
    assert e.text("ja") == ("本文（English）: 3 文字目に目に見えない制御文字 U+202E (RIGHT-TO-LEFT OVERRIDE) が入っています。"
                            "削除してください")
    assert title_problem("訓練") is None and message_problem("訓練です。\n返信してください。") is None


def test_a_duplicate_names_what_runs_with_its_scope_in_words_and_time_in_japan() -> None:
    running = Campaign(12, CampaignKind.DRILL, "町会訓練", CampaignState.RUNNING, ("association:東町会",), {"ja": "x"},
                       (), started_at=EPOCH)
    e = DuplicateCampaign(running)
    assert str(e).startswith("campaign 12 (町会訓練, association:東町会) of the same scenario and scope is already"
                              " running (started 2026-12-05 00:00 JST)")
    assert e.text("ja").startswith("同じシナリオ・同じ範囲の安否確認 12（町会訓練、対象 町会: 東町会）が実施中です"
                                   "（2026-12-05 00:00 JST 開始）。")
    waiting = Campaign(13, CampaignKind.REAL, "地震", CampaignState.PENDING_APPROVAL, ("city",), {"ja": "x"}, (),
                       requested_at=EPOCH)
    assert "承認を待っています" in DuplicateCampaign(waiting).text("ja") and "市全体" in DuplicateCampaign(waiting).text("ja")
    assert "already waiting for approval" in str(DuplicateCampaign(waiting))


def test_approval_refusals_keep_who_and_whether_it_was_the_same_person() -> None:
    e = ApprovalRefused("campaign.error.approve_same_person_through", same_person=True, who="bousai", id=3,
                        via="token:4")
    assert e.same_person and str(e) == ("bousai started campaign 3 (through token:4, which they made): a second,"
                                        " different city admin must approve it")
    assert e.text("ja").startswith("bousai さんは自分で作った token:4 でこの実災害（安否確認 3）を開始したため、承認できません")
    assert not ApprovalRefused("campaign.error.approve_needs_person").same_person


@pytest.mark.parametrize(("kind", "ja"), [("district", "名簿に地区「南地区」がありません。"),
                                          ("association", "名簿に町会「南地区」がありません。")])
def test_an_unknown_scope_is_named_in_the_readers_words(kind: str, ja: str) -> None:
    e = _unknown_scope(UnknownScopeError(f"unknown {kind}: 南地区", kind, "南地区"))
    assert (str(e), e.text("ja")) == (f"unknown {kind}: 南地区", ja)


def test_a_text_says_its_values_in_the_same_language() -> None:
    word = Term("closed", lambda lang: "終了")
    said = Text("campaign.error.not_draft", id=1, state=word)
    assert str(said) == "campaign 1 is closed; only a draft can start"
    assert said.text("ja") == "安否確認 1 の状態は「終了」です。開始できるのは下書きだけです。"

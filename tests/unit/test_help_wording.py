"""What a resident is told after 「助けが必要」 is true in every case (QA: 「町会に知らせます」 and, by voice,
「町会の担当者にすぐ知らせます」 were said where no head, deputy or stand-in had a contact: nobody was told)."""

from __future__ import annotations

import pytest

from safetynet import i18n
from safetynet.channels.voice.twiml import SAY_LANGUAGE

# the promise each language made of telling someone at once
PROMISES = ("知らせます", "しらせます", "is told", "being told", "通知", "알립니다", "đã được báo", "foi avisada")


@pytest.mark.parametrize("lang", i18n.PAGE_LANGUAGES)
def test_the_reply_says_it_was_recorded_and_promises_no_alert(lang: str) -> None:
    text = i18n.t(lang, "reply.need_help_recorded")
    assert not [p for p in PROMISES if p in text], text
    assert len(text) <= 90  # short: read by elderly residents, also in an SMS and a push


@pytest.mark.parametrize("lang", tuple(SAY_LANGUAGE))
def test_the_call_says_the_same(lang: str) -> None:
    text = i18n.t(lang, "voice.need_help_recorded")
    assert not [p for p in PROMISES if p in text], text


def test_the_japanese_words() -> None:
    assert i18n.t("ja", "reply.need_help_recorded") == "「助けが必要」と記録しました。町会・市の担当者が確認します。"
    assert i18n.t("ja", "voice.need_help_recorded") == "助けが必要と記録しました。町会や市の担当者が確認します。"

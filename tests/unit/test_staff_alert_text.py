"""A need-help alert that goes by SMS ends with how to reply 対応済み, and keeps that line however long
the household's words (the SMS sender cuts a text over its parts from the end)."""

from __future__ import annotations

import dataclasses

from safetynet.channels.sms.segments import MAX_SEGMENTS, fit_sms, segment_count
from safetynet.domain import Status
from safetynet.domain.consent import Disclosure
from safetynet.domain.replies import NOTE_MAX_CHARS, HelpRow
from safetynet.replies.notify import by_text, help_text, unhandled_text

LINK = "https://anpi.example-city.lg.jp/a/12?campaign=345"
ROW = HelpRow(345, 7, 12, "花園町一丁目町会", "中央地区", "1班", "佐藤 花子", "さくら市花園町一丁目12-21", 2, True, "ja",
              Status.NEED_HELP, 0.0, None, None, "台所で倒れて動けません", 1, "home", household_key="12", consent="yes")
PHONES = (("mobile", "+819000016886"), ("landline", "+81770187837"))


def test_only_an_sms_alert_says_to_reply() -> None:
    assert by_text("sms") and not by_text("telegram") and not by_text("email") and not by_text("line")
    texted = help_text(ROW, "ja", True, False, LINK, "地震 安否確認", phones=PHONES, texted=True)
    assert texted.split("\n")[-1] == f"対応したら「対応済み 12」と返信（またはこちらで）: {LINK}"
    assert "台所で倒れて動けません" in texted
    page = help_text(ROW, "ja", True, False, LINK, "地震 安否確認", phones=PHONES)
    assert page.split("\n")[-1] == f"対応したら「対応済み」に: {LINK}"
    english = help_text(ROW, "en", False, False, LINK, "Quake", texted=True)
    assert english.split("\n")[-1] == f'When handled, reply "done 12" (or mark it at): {LINK}'
    # a household without consent outside a real event: its number, and the reply line
    withheld = help_text(Disclosure(False).help_row(dataclasses.replace(ROW, consent="no")), "ja", True, False, LINK,
                         "地震 安否確認", texted=True)
    assert "佐藤" not in withheld and withheld.split("\n")[-1].startswith("対応したら「対応済み 12」と返信")


def test_the_households_words_give_way_to_the_reply_line() -> None:
    long = dataclasses.replace(ROW, note="台所で倒れて動けません。" * (NOTE_MAX_CHARS // 11))
    for text in (help_text(long, "ja", True, True, LINK, "地震 安否確認", standing_in=True, phones=PHONES, texted=True),
                 unhandled_text(long, "ja", True, LINK, "地震 安否確認", 30, PHONES, texted=True)):
        assert segment_count(text) <= MAX_SEGMENTS and fit_sms(text, LINK)[0] == text  # the sender cuts nothing
        assert "台所で倒れて動けません" in text
        # the link gave way first; district or city staff are asked for the association too
        assert "…" in text and text.split("\n")[-1] == "対応したら「対応済み 12 花園町一丁目町会」と返信"
    # other channels carry the words whole
    assert long.note is not None and long.note in help_text(long, "ja", True, False, LINK, "地震 安否確認")


def test_a_long_association_name_and_address_never_cut_the_phones_or_the_reply_line() -> None:
    """Review: when the lines before the note were already over the 4 parts, the note went to 「…」 and the
    text stayed too long: the SMS sender cut the reply line and a phone number (「090-1234-567…」)."""
    long = dataclasses.replace(ROW, association="さくら市中央地区花園町一丁目東部第二自治会連合町内会" * 2,
                               address="さくら市花園町一丁目12番21号 花園ハイツ東棟 1203号室（エレベーター横、奥の部屋）" * 2,
                               name="佐藤 花子（長女 佐藤 さくら 方、2階）")
    phones = (("mobile", "+819012345678"), ("landline", "+81770187837"))
    for text in (help_text(long, "ja", True, True, LINK, "令和八年 能登沖地震 安否確認（第2報）", standing_in=True,
                           phones=phones, texted=True),
                 unhandled_text(long, "ja", True, LINK, "令和八年 能登沖地震 安否確認（第2報）", 30, phones, texted=True),
                 help_text(Disclosure(False).help_row(dataclasses.replace(long, consent="no")), "ja", True, False, LINK,
                           "地震", standing_in=True, texted=True)):
        assert segment_count(text) <= MAX_SEGMENTS and fit_sms(text, LINK)[0] == text  # the sender cuts nothing
        assert text.split("\n")[-1] == f"対応したら「対応済み 12 {long.association}」と返信"
    for text in (help_text(long, "ja", True, True, LINK, "地震", standing_in=True, phones=phones, texted=True),
                 unhandled_text(long, "ja", True, LINK, "地震", 30, phones, texted=True)):
        assert "電話: 090-1234-5678 (携帯) / 077-018-7837 (固定)" in text.split("\n"), text


def test_district_and_city_staff_are_asked_for_the_association_too() -> None:
    """Review: a standing-in or 【未対応】 alert to district or city staff said 「対応済み 12」, and numbers restart
    in each association: her reply was answered 「複数の町会にあります」, a round trip on the night."""
    own = help_text(ROW, "ja", False, False, LINK, "地震", phones=PHONES, texted=True)
    assert own.split("\n")[-1].startswith("対応したら「対応済み 12」と返信")
    for text in (help_text(ROW, "ja", False, False, LINK, "地震", standing_in=True, phones=PHONES, texted=True),
                 unhandled_text(ROW, "ja", False, LINK, "地震", 30, PHONES, texted=True)):
        assert text.split("\n")[-1].startswith("対応したら「対応済み 12 花園町一丁目町会」と返信"), text

"""Message texts: language, drill prefix, the reply URL always, SMS keywords."""

from __future__ import annotations

import pytest

from safetynet.broadcast.messages import compose, compose_check, text_language, title_for
from safetynet.channels import registry
from safetynet.domain import ChannelName
from safetynet.i18n import t

MSGS = {"ja": "地震が発生しました。安否を教えてください。", "ja-easy": "じしんです。ぶじですか。", "en": "An earthquake hit. Are you safe?"}
URL = "https://safety.example.jp/r/AAAAAAAAAAAAAAAAAAAAAA"


@pytest.mark.parametrize(
    ("language", "expected"),
    [("ja", "ja"), ("ja-easy", "ja-easy"), ("en", "en"), ("vi", "ja"), ("en-GB", "en"), ("", "ja")],
)
def test_household_language_else_japanese(language: str, expected: str) -> None:
    assert text_language(MSGS, language) == expected


@pytest.mark.parametrize("channel", list(registry.names()))
@pytest.mark.parametrize(
    ("language", "prefix"), [("ja", "【訓練】"), ("ja-easy", "【訓練】"), ("en", "[DRILL]"), ("vi", "[DIỄN TẬP]")]
)
def test_drill_prefix_and_reply_url_on_every_channel(channel: ChannelName, language: str, prefix: str) -> None:
    lang, text = compose(messages=MSGS, title="訓練", language=language, drill=True, reply_url=URL, channel=channel)
    from safetynet.broadcast.messages import layout_of
    from safetynet.channels.spec import MESSAGE_LINK_FIRST, MESSAGE_SHARED

    # the link-first layout (email) starts with the link; the drill mark opens what follows (and the subject)
    head = text.split("\n\n", 1)[1] if layout_of(channel) == MESSAGE_LINK_FIRST else text
    assert head.startswith(prefix)
    # one text shared by a multicast (LINE) cannot carry each household's link: its buttons answer
    linked = layout_of(channel) != MESSAGE_SHARED
    assert (URL in text) == linked
    real_lang, real = compose(messages=MSGS, title="地震", language=language, drill=False, reply_url=URL,
                              channel=channel)
    assert "訓練" not in real and "DRILL" not in real
    assert (URL in real) == linked
    assert lang == real_lang


def test_a_household_whose_language_has_no_text_reads_a_line_in_its_own_then_the_citys_text() -> None:
    """QA: Vietnamese, Portuguese and Chinese households got the Japanese text and 回答はこちら alone."""
    lang, text = compose(messages=MSGS, title="t", language="vi", drill=True, reply_url=URL, channel="sms")
    assert lang == "vi"
    assert text.startswith("[DIỄN TẬP] Đây là xác nhận an toàn của thành phố (nội dung bên dưới bằng tiếng Nhật).")
    assert MSGS["ja"] in text and text.endswith("Trả lời 1=an toàn 2=cần giúp")
    _, mail = compose(messages=MSGS, title="地震", language="pt-BR", drill=False, reply_url=URL, channel="email")
    assert mail.startswith("Responda aqui: ") and "Verificação de segurança da prefeitura" in mail and MSGS["ja"] in mail
    _, thai = compose(messages=MSGS, title="t", language="th", drill=False, reply_url=URL, channel="webpush")
    assert thai.startswith(MSGS["ja"])  # no catalog of its own: as before (its pages read やさしい日本語)
    _, en_only = compose(messages={"en": "Are you safe?"}, title="t", language="vi", drill=False, reply_url=URL,
                         channel="webpush")
    assert "tiếng Nhật" not in en_only  # the line says "in Japanese": only over a Japanese text (review)
    # a Japanese reader and a language the campaign wrote for: as before
    assert compose(messages=MSGS, title="t", language="ja-easy", drill=False, reply_url=URL, channel="sms")[1] \
        .startswith(MSGS["ja-easy"])
    assert "A safety check" not in compose(messages=MSGS, title="t", language="en", drill=False, reply_url=URL,
                                           channel="sms")[1]


def test_a_language_with_its_own_text_gets_the_drill_marker_in_that_language() -> None:
    msgs = {**MSGS, "pt": "Terremoto. Você está seguro?"}
    _, text = compose(messages=msgs, title="t", language="pt", drill=True, reply_url=URL, channel="webpush")
    assert text.startswith("[SIMULADO] ")
    assert "Responda aqui: " + URL in text


@pytest.mark.parametrize(
    ("language", "hint"), [("ja", "1=無事 2=助けて"), ("ja-easy", "1=ぶじ 2=たすけて"), ("en", "Reply 1 safe, 2 help")]
)
def test_sms_carries_the_keyword_hint(language: str, hint: str) -> None:
    _, text = compose(messages=MSGS, title="t", language=language, drill=False, reply_url=URL, channel="sms")
    assert hint in text
    _, push = compose(messages=MSGS, title="t", language=language, drill=False, reply_url=URL,
                      channel="webpush")
    assert hint not in push


def test_title_of_a_drill_is_marked() -> None:
    assert title_for("一斉訓練", "ja", True) == "【訓練】一斉訓練"
    assert title_for("Drill", "en", True) == "[DRILL] Drill"
    assert title_for("地震", "ja", False) == "地震"


def test_the_link_first_and_shared_layouts() -> None:
    """Email puts the reply link first; a multicast answered by buttons (LINE) carries no household's link."""
    from safetynet.channels.spec import MESSAGE_LINK_FIRST, MESSAGE_SHARED

    _, mail = compose(messages=MSGS, title="お知らせ", language="ja", drill=True, reply_url=URL, channel="email",
                      layout=MESSAGE_LINK_FIRST)
    # a reply to the mail is read by nobody: it says so under the link (review: 「助けて」 replied to the mail)
    assert mail.startswith(f"回答はこちら: {URL}\n{t('ja', 'message.mail_reply_not_read')}\n\n【訓練】お知らせ\n")
    _, vi = compose(messages=MSGS, title="t", language="vi", drill=False, reply_url=URL, channel="line",
                    layout=MESSAGE_SHARED)
    assert "link" not in vi and "tiếng Nhật" in vi  # LINE has buttons, no link: no "answer by the link" (review)
    lang, shared = compose(messages=MSGS, title="お知らせ", language="ja", drill=True, reply_url=URL, channel="line",
                           layout=MESSAGE_SHARED)
    assert URL not in shared and shared.startswith("【訓練】お知らせ\n") and shared.endswith(MSGS[lang])
    _, other = compose(messages=MSGS, title="お知らせ", language="ja", drill=True, reply_url=URL + "x", channel="line",
                       layout=MESSAGE_SHARED)
    assert other == shared  # the same text for every household: one request can carry it to many


def test_an_sms_names_the_city_after_the_drill_mark_where_it_costs_nothing() -> None:
    _, ja = compose(messages=MSGS, title="t", language="ja", drill=True, reply_url=URL, channel="sms", city="さくら市")
    assert ja.startswith("【訓練】【さくら市】")
    _, real = compose(messages=MSGS, title="t", language="ja", drill=False, reply_url=URL, channel="sms", city="さくら市")
    assert real.startswith("【さくら市】")
    # a kanji in an English SMS would make it UCS-2 (70 characters a segment, not 160): left out
    _, en = compose(messages=MSGS, title="t", language="en", drill=True, reply_url=URL, channel="sms", city="さくら市")
    assert en.startswith("[DRILL] ") and "さくら市" not in en and "[" not in en[len("[DRILL] "):]
    _, ascii_name = compose(messages=MSGS, title="t", language="en", drill=True, reply_url=URL, channel="sms",
                            city="Sakura City")
    assert ascii_name.startswith("[DRILL] [Sakura City] ")
    # the city's name in Latin letters ([city] name_latin) names it there at no cost (QA: an English
    # check SMS came from an unknown number with a link and no sender)
    _, latin = compose(messages=MSGS, title="t", language="en", drill=False, reply_url=URL, channel="sms",
                       city="さくら市", city_latin="Sakura City")
    assert latin.startswith("[Sakura City] ") and latin.isascii()
    _, still_ja = compose(messages=MSGS, title="t", language="ja", drill=False, reply_url=URL, channel="sms",
                          city="さくら市", city_latin="Sakura City")
    assert still_ja.startswith("【さくら市】")
    _, title, check = compose_check(messages={"en": "Please confirm."}, language="en", confirm_url=URL, channel="sms",
                                    city="さくら市", city_latin="Sakura City")
    assert check.startswith("[Sakura City] Please confirm.") and title.startswith("[Sakura City] ")
    # the other layouts name the sender themselves (a bot, a mail's From): unchanged
    for channel in ("telegram", "email", "line", "webpush"):
        with_city = compose(messages=MSGS, title="t", language="ja", drill=True, reply_url=URL, channel=channel,
                            city="さくら市")
        assert with_city == compose(messages=MSGS, title="t", language="ja", drill=True, reply_url=URL, channel=channel)


def test_a_push_notification_does_not_repeat_its_title() -> None:
    """The notification shows the title apart (drill mark included); its text is the message, with the
    drill mark and the link kept (QA saw 【訓練】さくら市… twice, title and first line)."""
    _, text = compose(messages=MSGS, title="さくら市 地震 安否確認", language="ja", drill=True, reply_url=URL,
                      channel="webpush")
    assert "さくら市 地震 安否確認" not in text
    assert text.startswith("【訓練】" + MSGS["ja"].strip()) and text.endswith(URL)
    _, app = compose(messages=MSGS, title="さくら市 地震 安否確認", language="ja", drill=True, reply_url=URL,
                     channel="telegram")
    assert app.startswith("【訓練】さくら市 地震 安否確認\n")  # a chat message has no title of its own


def test_a_drill_mark_the_message_already_has_is_not_added_again() -> None:
    """QA: a drill whose message began 【訓練】 was sent as 【訓練】【さくら市】【訓練】…"""
    marked = {"ja": "【訓練】桜台地区で訓練を行います。", "en": "[drill] An exercise."}
    _, sms = compose(messages=marked, title="t", language="ja", drill=True, reply_url=URL, channel="sms", city="さくら市")
    assert sms.startswith("【訓練】【さくら市】桜台地区") and sms.count("【訓練】") == 1
    _, en = compose(messages=marked, title="[DRILL] Exercise", language="en", drill=True, reply_url=URL,
                    channel="email")
    assert en.count("[DRILL]") == 1 and "[drill]" not in en
    assert title_for("【訓練】秋の訓練", "ja", True) == "【訓練】秋の訓練"
    _, real = compose(messages=marked, title="t", language="ja", drill=False, reply_url=URL, channel="sms")
    assert real.startswith("【訓練】桜台地区")  # a real event's text is sent as written


def test_a_call_reads_no_text_in_another_language_than_its_voice() -> None:
    """Review: an English household of a campaign written in Japanese only: the call read, in the English
    voice, "the message below is in Japanese, answer by the link" and then the Japanese text. A call
    reads its question alone then, in the household's language."""
    ja_only = {"ja": MSGS["ja"]}
    lang, spoken = compose(messages=ja_only, title="t", language="en", drill=False, reply_url=URL, channel="voice")
    assert lang == "en" and MSGS["ja"] not in spoken and "Japanese" not in spoken and spoken.strip() == URL
    lang, spoken = compose(messages=ja_only, title="t", language="ja", drill=False, reply_url=URL, channel="voice")
    assert lang == "ja" and MSGS["ja"] in spoken
    _, texted = compose(messages=ja_only, title="t", language="en", drill=False, reply_url=URL, channel="sms")
    assert MSGS["ja"] in texted and "Japanese" in texted  # a text keeps the line and the city's text

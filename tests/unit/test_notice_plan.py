"""Who hears that a campaign was cancelled (`notice_plan`), and what they read (`compose_notice`)."""

from __future__ import annotations

from safetynet.broadcast.messages import compose_notice, notice_title
from safetynet.domain import ChannelName
from safetynet.domain.campaigns import NoticeRecipient, notice_plan

CALLS = frozenset({ChannelName("voice")})


def r(household: int, channel: str, address: str, language: str = "ja") -> NoticeRecipient:
    return NoticeRecipient(household, ChannelName(channel), address, language)


def test_every_written_channel_that_reached_a_household_is_told_but_not_a_call_beside_them() -> None:
    reached = [r(1, "voice", "+81311110001"), r(1, "sms", "+819011110001"), r(1, "telegram", "555"),
               r(2, "voice", "+81311110002")]  # 2 has only a landline: the call is all it has
    assert notice_plan(reached, CALLS) == [r(1, "sms", "+819011110001"), r(1, "telegram", "555"),
                                           r(2, "voice", "+81311110002")]


def test_a_phone_two_households_share_is_told_once() -> None:
    reached = [r(4, "sms", "+819011110001"), r(1, "sms", "+819011110001"), r(1, "line", "U1"), r(4, "line", "U4")]
    assert notice_plan(reached, CALLS) == [r(1, "line", "U1"), r(1, "sms", "+819011110001"), r(4, "line", "U4")]
    assert notice_plan([], CALLS) == []


def test_the_notice_says_which_campaign_was_taken_back_in_the_households_language() -> None:
    ja = compose_notice(title="地震 安否確認", language="ja", drill=False, channel=ChannelName("telegram"), city="さくら市")
    assert ja == "先ほどお送りした安否確認「地震 安否確認」は取り消しました。回答の必要はありません。"
    # an SMS names its sender (an unknown number's text); a drill keeps its mark once, first
    sms = compose_notice(title="【訓練】避難訓練", language="ja", drill=True, channel=ChannelName("sms"), city="さくら市")
    assert sms == "【訓練】【さくら市】先ほどお送りした安否確認「避難訓練」は取り消しました。回答の必要はありません。"
    en = compose_notice(title="地震", language="en", drill=False, channel=ChannelName("email"), city="さくら市")
    assert en == "The safety check we sent earlier ('地震') has been cancelled. You do not need to answer."
    assert compose_notice(title="地震", language="pt-BR", drill=False, channel=ChannelName("line")).startswith(
        "A verificação de segurança enviada antes")
    assert "http" not in ja + sms + en  # nothing to answer by
    assert notice_title("ja", False) == "取り消しのお知らせ" and notice_title("en", True) == "[DRILL] Cancelled"


def test_a_call_reads_the_notice_in_a_language_its_voice_speaks_and_asks_nothing() -> None:
    from safetynet.broadcast.messages import notice_language
    from safetynet.channels.voice.twiml import notice_twiml

    assert notice_language("vi", ChannelName("voice")) == "ja" and notice_language("vi", ChannelName("sms")) == "vi"
    assert notice_language("en", ChannelName("voice")) == "en"
    said = compose_notice(title="地震", language="vi", drill=False, channel=ChannelName("voice"))
    assert said.startswith("先ほどお送りした安否確認")
    twiml = notice_twiml("ja", False, "さくら市", said)
    assert twiml.count(said) == 2 and "<Gather" not in twiml and "<Hangup" in twiml and "さくら市" in twiml


def test_a_drills_mark_is_said_once_whatever_the_language() -> None:
    en = compose_notice(title="【訓練】地震", language="en", drill=True, channel=ChannelName("email"))
    assert en == "[DRILL] The safety check we sent earlier ('地震') has been cancelled. You do not need to answer."
    vi = compose_notice(title="【訓練】地震", language="vi", drill=True, channel=ChannelName("line"))
    assert "【訓練】" not in vi and "(地震)" in vi


def test_a_household_is_told_once_a_channel() -> None:
    # its contact changed between two steps: the step sent one message a channel, so one notice too
    reached = [r(1, "sms", "+819011110001"), r(1, "sms", "+819011119999")]
    assert notice_plan(reached, CALLS) == [r(1, "sms", "+819011110001")]

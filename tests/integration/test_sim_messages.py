"""What a simulated resident reads in each kind of sandbox record (pure)."""

from __future__ import annotations

from safetynet.channels.sms.resident import WORDS as SMS_WORDS
from safetynet.channels.sms.resident import body_for as sms_body
from safetynet.channels.telegram.sender import keyboard
from safetynet.channels.voice import twiml as voice_twiml
from safetynet.lab.sim.messages import from_json, parse_record, token_in_text

TOKEN = "AbCdEfGhIjKlMnOpQrStUv"
OTHER = "ZyXwVuTsRqPoNmLkJiHgFe"
URL = f"http://127.0.0.1:8080/r/{TOKEN}"


def test_web_push_answers_to_the_payloads_reply_url() -> None:
    payload = {"title": "訓練", "body": "…", "url": URL, "token": TOKEN, "actions": [], "campaign": 1}
    m = parse_record(7, "webpush", "message", "sub-1", "…", "msg-7", 1.0, {"payload": payload})
    assert m is not None
    assert (m.channel, m.token, m.reply_url, m.address) == ("webpush", TOKEN, URL, "sub-1")


def test_web_push_the_sandbox_did_not_decrypt_cannot_be_answered() -> None:
    assert parse_record(1, "webpush", "message", "sub-1", None, "msg-1", 1.0, {"payload": None}) is None


def test_telegram_token_comes_from_the_buttons() -> None:
    markup = keyboard(TOKEN, "ja")
    m = parse_record(3, "telegram", "message", "5550001", "【訓練】…", "5550001:3", 1.0, {"reply_markup": markup})
    assert m is not None and m.token == TOKEN and m.channel == "telegram"


def test_sms_token_comes_from_the_link_and_the_sender_is_kept() -> None:
    text = f"【訓練】地震です。\n{URL}\n返信でも回答できます 1=無事 2=助けて"
    m = parse_record(4, "sms", "message", "+819012345678", text, "SM1", 1.0, {"from": "+815000000000"})
    assert m is not None and (m.token, m.sender, m.address) == (TOKEN, "+815000000000", "+819012345678")


def test_voice_token_comes_from_the_gather_action() -> None:
    action = voice_twiml.gather_url("http://127.0.0.1:8080", TOKEN)
    m = parse_record(5, "voice", "message", "+81770000001", "…", "CA1", 1.0,
                     {"from": "+815000000000", "gather_action": action})
    assert m is not None and m.token == TOKEN and m.gather_action == action


def test_messages_without_a_reply_token_are_not_for_residents() -> None:
    assert parse_record(1, "telegram", "message", "1", "登録しました", "1:1", 1.0, {"reply_markup": None}) is None
    assert parse_record(1, "sms", "message", "+8190", "要支援: /a/3 を開いてください", "SM2", 1.0, {}) is None
    assert parse_record(1, "voice", "message", "+8190", "…", "CA2", 1.0, {"gather_action": None}) is None
    assert parse_record(1, "telegram", "edit_message", "1", URL, "1:1", 1.0, {}) is None
    assert parse_record(1, "fax", "message", "1", URL, "x", 1.0, {}) is None


def test_a_link_needs_the_exact_token_length() -> None:
    assert token_in_text(f"see /r/{TOKEN}x") is None
    assert token_in_text(f"see /r/{TOKEN}.") == TOKEN
    assert token_in_text("/r/short") is None


def test_the_same_household_has_the_same_key_on_every_channel() -> None:
    sms = parse_record(1, "sms", "message", "+8190", URL, "SM1", 1.0, {})
    push = parse_record(2, "webpush", "message", "s", None, "m", 1.0, {"payload": {"url": URL, "token": TOKEN}})
    other = parse_record(3, "sms", "message", "+8190", URL.replace(TOKEN, OTHER), "SM2", 1.0, {})
    assert sms is not None and push is not None and other is not None
    assert sms.household_key == push.household_key != other.household_key


def test_json_items_parse_like_records_and_bad_ones_are_skipped() -> None:
    doc = {"seq": 9, "channel": "sms", "kind": "message", "address": "+8190", "text": URL, "provider_id": "SM9",
           "t": 2.0, "data": {"from": "+8150"}}
    m = from_json(doc)
    assert m is not None and m.seq == 9 and m.token == TOKEN
    assert from_json({"channel": "sms"}) is None


def test_sms_words_are_all_keywords_the_parser_takes() -> None:
    from safetynet.replies.keywords import parse_keyword

    for status, words in SMS_WORDS.items():
        for w in words:
            assert parse_keyword(w) == status
    assert {sms_body(s, k) for s in SMS_WORDS for k in range(12)} == {w for ws in SMS_WORDS.values() for w in ws}

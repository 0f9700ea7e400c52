"""SMS through the real twilio client against the sandbox: success, every error class, the traps, webhooks."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from channel_helpers import WebhookRecorder, outbound, running_sandbox, sender_of, started
from hypothesis import given
from hypothesis import strategies as st
from multidict import MultiDict
from ports import free_port
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from safetynet.broadcast.messages import compose, wording
from safetynet.channels.base import PermanentSendError, RetryableSendError
from safetynet.channels.sms import segments as sms_segments
from safetynet.channels.sms import webhook as sms_webhook
from safetynet.channels.twilio import status as twilio_status
from safetynet.channels.twilio import webhook as twilio_webhook
from safetynet.domain import ChannelName

PHONE = "+819012345678"


# --- pure: segments, status mapping -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("{" * 80, 1),  # extension characters take two septets
        ("{" * 81, 2),
        ("あ" * 70, 1),  # UCS-2: 70 a segment
        ("あ" * 71, 2),  # then 67 a part
        ("あ" * 134, 2),
        ("あ" * 135, 3),
        ("😀" * 35, 1),  # beyond the BMP: two UTF-16 units each
        ("😀" * 36, 2),
        ("a" * 159 + "あ", 3),  # one non-GSM character makes the whole message UCS-2
    ],
)
def test_segment_count(text: str, segments: int) -> None:
    assert sms_segments.segment_count(text) == segments


@given(st.text(min_size=0, max_size=800))
def test_fit_sms_keeps_the_reply_url_and_the_segment_limit(body: str) -> None:
    url = "https://safety.example.jp/r/AbCdEfGhIjKlMnOpQrStUv"
    text, segments = sms_segments.fit_sms(f"{body} {url}", url)
    assert url in text
    assert segments == sms_segments.segment_count(text) <= sms_segments.MAX_SEGMENTS


def test_fit_sms_cuts_a_long_body_and_keeps_the_link_and_the_reply_keywords() -> None:
    """Review: a text over its parts was cut from the end, the reply keywords first, and a feature phone
    that cannot open the link lost the one way it had to answer."""
    url = "https://safety.example.jp/r/AbCdEfGhIjKlMnOpQrStUv"
    body = "震度6強の地震が発生しました。津波警報が出ています。海岸から離れ、高い所へ避難してください。" * 6
    assert len(body) > 200
    _, text = compose(messages={"ja": body}, title="地震", language="ja", drill=True, reply_url=url,
                      channel=ChannelName("sms"), city="さくら市")
    hint = wording("ja").sms_hint
    assert text.endswith(f"\n{url}\n{hint}") and sms_segments.segment_count(text) > sms_segments.MAX_SEGMENTS
    fitted, segments = sms_segments.fit_sms(text, url)
    assert segments == sms_segments.segment_count(fitted) <= sms_segments.MAX_SEGMENTS
    assert fitted.endswith(f"…\n{url}\n{hint}")  # the body gave way, the link and the keywords whole
    assert fitted.startswith("【訓練】【さくら市】震度6強の地震が発生しました。")
    # what follows the link too long to keep whole: cut with the body, the link still kept
    long_after = f"{body}\n{url}\n{body}"
    fitted, segments = sms_segments.fit_sms(long_after, url)
    assert fitted.endswith(f"…\n{url}") and segments <= sms_segments.MAX_SEGMENTS


def test_fit_sms_leaves_a_short_message_alone() -> None:
    text = "【訓練】無事ですか？ https://x.jp/r/abc"
    assert sms_segments.fit_sms(text, "https://x.jp/r/abc") == (text, 1)


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("queued", "sent"), ("accepted", "sent"), ("sending", "sent"), ("sent", "sent"),
        ("delivered", "delivered"), ("read", "delivered"), ("undelivered", "undelivered"),
        ("failed", "failed"), ("canceled", "failed"), ("partially_delivered", "undelivered"),
        ("received", None), ("receiving", None), ("bogus", None),
    ],
)
def test_parse_status_maps_every_twilio_status(status: str, state: str | None) -> None:
    cb = twilio_status.parse_status({"MessageSid": "SM1", "MessageStatus": status, "ErrorCode": "30003"})
    assert (cb.state if cb else None) == state
    if cb:
        assert cb.provider_id == "SM1" and cb.error_code == 30003


def test_parse_status_without_sid_is_ignored() -> None:
    assert twilio_status.parse_status({"MessageStatus": "delivered"}) is None


@pytest.mark.parametrize(
    ("old", "new", "kept"),
    [
        (None, "sent", "sent"),
        ("sent", "delivered", "delivered"),
        ("delivered", "sent", "delivered"),  # a late "sent" never downgrades
        ("undelivered", "sent", "undelivered"),
        ("failed", "delivered", "delivered"),
        ("delivered", "failed", "delivered"),
        ("undelivered", "failed", "undelivered"),  # equal ranks keep the first
    ],
)
def test_merge_status_keeps_the_highest_rank(old: str | None, new: str, kept: str) -> None:
    assert twilio_status.merge_status(old, new) == kept


def test_parse_inbound() -> None:
    msg = sms_webhook.parse_inbound({"MessageSid": "SMx", "From": PHONE, "To": "+815000000000", "Body": "１ 無事"})
    assert (msg.message_sid, msg.from_, msg.body) == ("SMx", PHONE, "１ 無事")
    with pytest.raises(ValueError, match="MessageSid"):
        sms_webhook.parse_inbound({"Body": "1"})


def test_verify_signature_refuses_forgeries() -> None:
    url, params = "https://safety.example.jp/hooks/twilio/sms", {"From": PHONE, "Body": "1", "MessageSid": "SM1"}
    sig = RequestValidator("token-abc").compute_signature(url, params)
    assert twilio_webhook.verify_signature("token-abc", url, params, sig)
    assert not twilio_webhook.verify_signature("token-abc", url, {**params, "Body": "2"}, sig)  # tampered
    assert not twilio_webhook.verify_signature("token-abc", url + "?x=1", params, sig)  # another URL
    assert not twilio_webhook.verify_signature("other-token", url, params, sig)
    assert not twilio_webhook.verify_signature("token-abc", url, params, None)
    assert not twilio_webhook.verify_signature("token-abc", url, params, "")
    assert not twilio_webhook.verify_signature("token-abc", url, params, "é" + sig[1:])  # not ASCII: refused, no error


def test_a_signature_over_the_url_with_or_without_its_port_is_taken() -> None:
    """Twilio's back end signs the URL with or without the default port; both are taken, as the
    library's `validate` takes them (the URL as called is only tried first)."""
    params = {"From": PHONE, "Body": "1", "MessageSid": "SM1"}
    validator = RequestValidator("token-abc")
    called = "https://safety.example.jp/hooks/twilio/sms"
    with_port = "https://safety.example.jp:443/hooks/twilio/sms"
    assert twilio_webhook.verify_signature("token-abc", called, params, validator.compute_signature(with_port, params))
    assert twilio_webhook.verify_signature("token-abc", with_port, params, validator.compute_signature(called, params))
    repeated = MultiDict([("From", PHONE), ("Body", "1"), ("Body", "2"), ("MessageSid", "SM1")])
    sig = validator.compute_signature(called, repeated)
    assert twilio_webhook.verify_signature("token-abc", called, repeated, sig)
    assert not twilio_webhook.verify_signature("token-abc", called, MultiDict(params), sig)  # a repeat left out


def test_the_reply_twiml_is_built_once_a_text_and_says_the_same() -> None:
    from twilio.twiml.messaging_response import MessagingResponse

    fresh = MessagingResponse()
    fresh.message("「無事」と記録しました。<&>")
    assert sms_webhook.reply_twiml("「無事」と記録しました。<&>") == str(fresh)
    assert sms_webhook.reply_twiml("「無事」と記録しました。<&>") is sms_webhook.reply_twiml("「無事」と記録しました。<&>")
    assert sms_webhook.reply_twiml("") == str(MessagingResponse())  # nothing to say: an empty Response


# --- against the sandbox ------------------------------------------------------------------------


async def test_send_records_text_segments_and_cost_and_the_signed_status_callback(tmp_path: Path) -> None:
    async with WebhookRecorder() as hooks, running_sandbox(tmp_path, app_url=hooks.url) as (sb, cfg):
        hooks.auth_token = cfg.secrets.twilio_auth_token
        async with started(sender_of(cfg, "sms", hooks.url)) as sender:
            result = await sender.send(outbound("sms", PHONE))
        assert result.provider_id and result.provider_id.startswith("SM")
        (rec,) = sb.messages("sms")
        assert rec.text is not None and len(rec.text) > 70  # Japanese and the link: two UCS-2 parts
        assert result.segments == 2 == sms_segments.segment_count(rec.text) == rec.data["segments"]
        assert result.cost_jpy == 2 * cfg.channels.sms.price_per_segment_jpy
        assert rec.address == PHONE and rec.text.startswith("【訓練】")
        assert rec.data["from"] == cfg.channels.sms.from_number
        assert rec.data["status_callback"] == f"{hooks.url}/hooks/twilio/status"
        (hit,) = await hooks.wait_for("/hooks/twilio/status")
        assert hit.valid
        cb = twilio_status.parse_status(hit.params)
        assert cb is not None and (cb.provider_id, cb.state) == (result.provider_id, "delivered")


async def test_undelivered_recipient_gets_a_failing_status_callback(tmp_path: Path) -> None:
    async with WebhookRecorder() as hooks, running_sandbox(tmp_path, app_url=hooks.url, undelivered_fraction=1.0) as (_, cfg):
        hooks.auth_token = cfg.secrets.twilio_auth_token
        async with started(sender_of(cfg, "sms", hooks.url)) as sender:
            await sender.send(outbound("sms", PHONE))
        (hit,) = await hooks.wait_for("/hooks/twilio/status")
        cb = twilio_status.parse_status(hit.params)
        assert cb is not None and (cb.state, cb.error_code) == ("undelivered", 30003)


async def test_long_message_is_cut_to_four_segments_keeping_the_link(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path) as (sb, cfg), started(sender_of(cfg, "sms", cfg.server.public_url)) as sender:
        msg = outbound("sms", PHONE)
        long = outbound("sms", PHONE, text="地震" * 300 + " " + msg.reply_url)
        result = await sender.send(long)
        assert result.segments == 4 and result.cost_jpy == 4 * cfg.channels.sms.price_per_segment_jpy
        assert sb.messages("sms")[0].text.endswith(msg.reply_url)


@pytest.mark.parametrize("address", ["+819000000001", "09012345678", "not-a-number"])
async def test_dead_or_invalid_number_is_permanent_and_dead(tmp_path: Path, address: str) -> None:
    async with running_sandbox(tmp_path, dead={"+819000000001"}) as (sb, cfg), started(sender_of(cfg, "sms", cfg.server.public_url)) as sender:
        with pytest.raises(PermanentSendError) as err:
            await sender.send(outbound("sms", address))
        assert (err.value.reason, err.value.contact_dead, err.value.retryable) == ("invalid_number", True, False)
        assert sb.stats["channels"]["sms"] == {"dead": 1}


async def test_429_surfaces_retry_after_and_is_sent_once(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path, fail_429=1.0, retry_after=7) as (sb, cfg), started(sender_of(cfg, "sms", cfg.server.public_url)) as sender:
        with pytest.raises(RetryableSendError) as err:
            await sender.send(outbound("sms", PHONE))
        assert (err.value.reason, err.value.retry_after, err.value.outcome_unknown) == ("rate_limited", 7.0, False)
        assert sb.stats["channels"]["sms"] == {"429_injected": 1}


async def test_5xx_is_retryable_with_unknown_outcome_and_never_retried_by_the_client(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path, fail_5xx=1.0) as (sb, cfg), started(sender_of(cfg, "sms", cfg.server.public_url)) as sender:
        with pytest.raises(RetryableSendError) as err:
            await sender.send(outbound("sms", PHONE))
        assert (err.value.reason, err.value.outcome_unknown) == ("server_error", True)
        # One POST only: a retried POST after a 5xx may send the SMS twice.
        assert sb.stats["channels"]["sms"] == {"5xx": 1}


async def test_timeout_is_real_and_the_outcome_unknown(tmp_path: Path) -> None:
    # The provider answers after 1 s; only a deadline of our own (0.1 s) can turn that into a timeout.
    env = {"SAFETYNET_CHANNELS_SMS_TIMEOUT_SECONDS": "0.1"}
    async with running_sandbox(tmp_path, env=env, latency_ms=1000) as (sb, cfg), started(sender_of(cfg, "sms", cfg.server.public_url)) as sender:
        with pytest.raises(RetryableSendError) as err:
            await sender.send(outbound("sms", PHONE))
        assert (err.value.reason, err.value.outcome_unknown) == ("timeout", True)
        # The provider did accept it after we stopped waiting: exactly why the outcome is "unknown".
        await sb.wait_for(1)


async def test_bad_credentials_are_a_configuration_error(tmp_path: Path) -> None:
    env = {"SAFETYNET_TWILIO_AUTH_TOKEN": "wrong-token"}
    async with running_sandbox(tmp_path, env=env) as (_, cfg), started(sender_of(cfg, "sms", cfg.server.public_url)) as sender:
        with pytest.raises(PermanentSendError) as err:
            await sender.send(outbound("sms", PHONE))
        assert (err.value.reason, err.value.contact_dead) == ("configuration", False)


async def test_connection_refused_is_retryable_and_certainly_not_sent(tmp_path: Path) -> None:
    closed_port = free_port()  # nothing listens there
    env = {"SAFETYNET_CHANNELS_SMS_API_BASE_URL": f"http://127.0.0.1:{closed_port}"}
    async with running_sandbox(tmp_path, env=env) as (_, cfg), started(sender_of(cfg, "sms", cfg.server.public_url)) as sender:
        with pytest.raises(RetryableSendError) as err:
            await sender.send(outbound("sms", PHONE))
        assert (err.value.reason, err.value.outcome_unknown) == ("network", False)


async def test_our_transport_raises_no_warning_where_the_stock_one_does(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path) as (sb, cfg):
        async with started(sender_of(cfg, "sms", cfg.server.public_url)) as sender:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                await sender.send(outbound("sms", PHONE))
        stock = AsyncTwilioHttpClient()
        client = Client(cfg.secrets.twilio_account_sid, cfg.secrets.twilio_auth_token, http_client=stock)
        client.api.base_url = sb.url
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                await client.messages.create_async(to=PHONE, from_="+815000000000", body="x")
        finally:
            await stock.close()
        assert any(issubclass(w.category, DeprecationWarning) for w in caught)


async def test_inbound_sms_is_signed_and_parsed(tmp_path: Path) -> None:
    async with WebhookRecorder() as hooks, running_sandbox(tmp_path, app_url=hooks.url) as (sb, cfg):
        hooks.auth_token = cfg.secrets.twilio_auth_token
        result = await sb.fake("sms").reply(PHONE, "１ 無事です")
        assert result.status == 200 and "<Response" in result.body
        (hit,) = hooks.at("/hooks/twilio/sms")
        assert hit.valid
        msg = sms_webhook.parse_inbound(hit.params)
        assert (msg.from_, msg.to, msg.body) == (PHONE, cfg.channels.sms.from_number, "１ 無事です")
        # A forger without the auth token is refused.
        hooks.auth_token = "not-the-token"
        assert (await sb.fake("sms").reply(PHONE, "2")).status == 403

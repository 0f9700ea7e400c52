"""Web push through pywebpush against the sandbox's push service, which verifies VAPID and decrypts."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import stat
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from channel_helpers import REPLY_TOKEN, WebhookRecorder, outbound, running_sandbox, sender_of, started
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pywebpush import WebPushException, webpush_async

from safetynet.channels.base import PermanentSendError, RetryableSendError
from safetynet.channels.labels import pending_text
from safetynet.channels.webpush import sender as wp_sender
from safetynet.channels.webpush import subscriptions as wp_subs
from safetynet.channels.webpush import vapid as wp_vapid
from safetynet.channels.webpush.settings import WebPushSettings
from safetynet.clock import FakeClock
from safetynet.config import Config, channel_context, load_config

ALLOWED = WebPushSettings().allowed_hosts


def _jwt_claims(authorization: str) -> dict[str, Any]:
    token = authorization.split("t=", 1)[1].split(",", 1)[0]
    return json.loads(wp_vapid.b64u_decode(token.split(".")[1]))


def _keys() -> dict[str, str]:
    pub = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return {"p256dh": wp_vapid.b64u(pub), "auth": wp_vapid.b64u(os.urandom(16))}


def _sender(cfg: Config, clock: FakeClock | None = None) -> wp_sender.WebPushSender:
    sender: wp_sender.WebPushSender = sender_of(cfg, "webpush", clock=clock)
    return sender


# --- keys, subscriptions, payload ---------------------------------------------------------------


def test_vapid_key_is_created_private_and_reused(tmp_path: Path) -> None:
    first = wp_vapid.load_or_create_vapid(tmp_path / "data")
    path = tmp_path / "data" / wp_vapid.VAPID_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first.application_server_key) == 87  # 65-byte point, base64url without padding
    assert wp_vapid.load_or_create_vapid(tmp_path / "data").application_server_key == first.application_server_key
    path.chmod(0o644)
    wp_vapid.load_or_create_vapid(tmp_path / "data")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleapis.com/fcm/send/abc",
        "https://updates.push.services.mozilla.com/wpush/v2/abc",
        "https://web.push.apple.com/QGx",
        "https://wns2-by3p.notify.windows.com/w/?token=x",
        "http://127.0.0.1:8090/wpush/abc",  # the sandbox, plain http allowed
    ],
)
def test_validate_subscription_accepts_known_push_services(endpoint: str) -> None:
    keys = _keys()
    sub = wp_subs.validate_subscription({"endpoint": endpoint, "expirationTime": None, "keys": keys}, ALLOWED, ["127.0.0.1:8090"])
    assert sub == {"endpoint": endpoint, "keys": keys}


@pytest.mark.parametrize(
    ("sub", "message"),
    [
        ({"endpoint": "https://evil.example/push", "keys": {}}, "not on the allowlist"),
        ({"endpoint": "http://fcm.googleapis.com/fcm/send/abc"}, "https"),
        ({"endpoint": "http://127.0.0.1:9999/wpush/abc"}, "allowlist"),  # loopback, but not the sandbox
        ({"endpoint": "https://user:pw@fcm.googleapis.com/x"}, "plain URL"),
        ({"endpoint": "https://fcm.googleapis.com.evil.example/x"}, "allowlist"),
        ({"endpoint": 5}, "endpoint"),
        ({"endpoint": "https://fcm.googleapis.com/x"}, "keys are missing"),
        ({"endpoint": "https://fcm.googleapis.com/x", "keys": {"p256dh": "abc", "auth": "abc"}}, "65 bytes"),
        ({"endpoint": "https://fcm.googleapis.com/x", "keys": {"p256dh": wp_vapid.b64u(b"\x04" + b"\x01" * 64), "auth": wp_vapid.b64u(b"a" * 16)}}, "P-256"),
        ({"endpoint": "https://fcm.googleapis.com/x", "keys": {"p256dh": _keys()["p256dh"], "auth": "!!"}}, "auth"),
        ("not a dict", "object"),
    ],
)
def test_validate_subscription_refuses(sub: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        wp_subs.validate_subscription(sub, ALLOWED, ["127.0.0.1:8090"])


def test_payload_is_capped_but_keeps_the_link() -> None:
    msg = outbound("webpush", "{}", text="地震" * 3000)
    doc = json.loads(wp_sender.build_payload(msg))
    assert len(wp_sender.build_payload(msg).encode()) <= wp_sender.MAX_PAYLOAD_BYTES
    assert doc["body"].endswith("…") and doc["url"] == msg.reply_url and doc["token"] == REPLY_TOKEN


def test_vapid_header_is_cached_per_origin_and_refreshed_before_expiry(tmp_path: Path) -> None:
    clock = FakeClock()
    headers = wp_vapid.VapidHeaders(wp_vapid.load_or_create_vapid(tmp_path).vapid, "mailto:a@example.jp", clock)
    fcm = headers.authorization("https://fcm.googleapis.com/fcm/send/a")
    assert headers.authorization("https://fcm.googleapis.com/fcm/send/b") == fcm  # cached
    moz = headers.authorization("https://updates.push.services.mozilla.com/wpush/v2/c")
    assert _jwt_claims(fcm)["aud"] == "https://fcm.googleapis.com"
    assert _jwt_claims(moz)["aud"] == "https://updates.push.services.mozilla.com"
    exp = _jwt_claims(fcm)["exp"]
    assert exp - clock.now() <= 24 * 3600
    clock._now += wp_vapid.VAPID_LIFETIME_SECONDS - wp_vapid.VAPID_REFRESH_BEFORE_SECONDS - 1
    assert headers.authorization("https://fcm.googleapis.com/x") == fcm
    clock._now += 2  # inside the last hour: signed again, with a later expiry
    renewed = headers.authorization("https://fcm.googleapis.com/x")
    assert renewed != fcm and _jwt_claims(renewed)["exp"] > exp


def test_ttl_zero_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ttl"):
        cfg = load_config(None, env={"SAFETYNET_STORE_PATH": str(tmp_path / "x.db")})
        wp_sender.WebPushSender(dataclasses.replace(channel_context(cfg, "webpush"),
                                                    settings=WebPushSettings(ttl_seconds=0)))


# --- against the sandbox ------------------------------------------------------------------------


async def test_one_browser_for_two_households_keeps_both_alerts_and_staff_alerts_never_collapse(tmp_path: Path) -> None:
    """Review: the Topic was the campaign's, so a phone enrolled for two households (a daughter's and her
    mother's) kept one alert of the two while it was offline; staff alerts of two calls for help, one."""
    async with running_sandbox(tmp_path) as (sb, cfg), started(_sender(cfg)) as sender:
        sub = json.dumps(sb.fake("webpush").subscribe(sender.keys.application_server_key))
        await sender.send(outbound("webpush", sub, campaign_id=42, household_id=3))
        await sender.send(outbound("webpush", sub, campaign_id=42, household_id=4, token="B" * 22))
        await sender.send(outbound("webpush", sub, campaign_id=42, household_id=0, token=""))
        assert [r.data["topic"] for r in sb.messages("webpush")] == ["safetynet-c42h3", "safetynet-c42h4", None]


async def test_push_is_verified_decrypted_and_carries_the_answer_actions(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path) as (sb, cfg), started(_sender(cfg)) as sender:
        sub = sb.fake("webpush").subscribe(sender.keys.application_server_key)  # the sandbox refuses any other VAPID key
        result = await sender.send(outbound("webpush", json.dumps(sub), campaign_id=42))
        (rec,) = sb.messages("webpush")
        assert result.provider_id == f"/wpush/msg/{rec.seq}"
        assert (rec.data["ttl"], rec.data["urgency"], rec.data["topic"]) == (86400, "high", "safetynet-c42h3")
        assert rec.data["aud"] == sb.url
        payload = rec.data["payload"]
        assert payload["title"] == "安否確認" and payload["body"] == rec.text and rec.text.startswith("【訓練】")
        assert payload["url"].endswith(f"/r/{REPLY_TOKEN}") and payload["token"] == REPLY_TOKEN
        assert payload["actions"] == [{"action": "safe", "title": "無事です"}, {"action": "need_help", "title": "助けが必要"}]
        assert payload["campaign"] == 42 and payload["drill"] is True
        # what the service worker shows for a tap it could not send yet (offline)
        assert payload["pending"] == {"safe": pending_text("safe", "ja"), "need_help": pending_text("need_help", "ja")}


def test_the_words_for_an_answer_not_sent_yet_are_in_the_households_language() -> None:
    doc = json.loads(wp_sender.build_payload(outbound("webpush", "{}", language="en")))
    assert doc["pending"]["safe"].startswith("Not sent yet")
    # a call for help that has not gone through: 119 first, in every language a resident reads
    assert "119" in doc["pending"]["need_help"]
    for lang in ("ja", "ja-easy", "en", "zh", "ko", "vi", "pt"):
        assert "119" in pending_text("need_help", lang) and "119" not in pending_text("safe", lang)


async def test_each_push_service_gets_a_jwt_for_its_own_origin(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path) as (sb, cfg), started(_sender(cfg)) as sender:
        key = sender.keys.application_server_key
        a, b = sb.fake("webpush").subscribe(key), sb.fake("webpush").subscribe(key, host="localhost")  # two origins, one server
        for sub in (a, b, a):
            await sender.send(outbound("webpush", json.dumps(sub)))
        assert [r.data["aud"] for r in sb.messages("webpush")] == [sb.url, f"http://localhost:{sb.port}", sb.url]


async def test_the_sandbox_catches_a_reused_claims_dict(tmp_path: Path) -> None:
    """The trap we avoid: pywebpush writes `aud` into the claims it gets, so a shared dict is wrong for the next origin."""
    async with running_sandbox(tmp_path) as (sb, cfg), aiohttp.ClientSession() as session:
        keys = wp_vapid.load_or_create_vapid(cfg.data_dir)
        claims: dict[str, str | int] = {"sub": "mailto:a@example.jp"}
        for host in ("127.0.0.1", "localhost"):
            sub = sb.fake("webpush").subscribe(keys.application_server_key, host=host)
            try:
                await webpush_async(sub, "{}", vapid_private_key=keys.vapid, vapid_claims=claims, ttl=60, timeout=5, aiohttp_session=session)
            except WebPushException as e:
                assert host == "localhost" and e.status_code == 401
        assert sb.stats["channels"]["webpush"] == {"ok": 1, "unauthorized": 1}


async def test_gone_subscription_is_dead(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path) as (sb, cfg), started(_sender(cfg)) as sender:
        sub = sb.fake("webpush").subscribe(sender.keys.application_server_key)
        sb.faults.dead.add(sub["endpoint"].rsplit("/", 1)[1])
        with pytest.raises(PermanentSendError) as gone:
            await sender.send(outbound("webpush", json.dumps(sub)))
        assert (gone.value.reason, gone.value.contact_dead) == ("subscription_gone", True)
        unknown = {**sub, "endpoint": f"{sb.url}/wpush/never-subscribed"}
        with pytest.raises(PermanentSendError) as missing:
            await sender.send(outbound("webpush", json.dumps(unknown)))
        assert (missing.value.reason, missing.value.contact_dead) == ("subscription_gone", True)
        with pytest.raises(PermanentSendError) as garbage:
            await sender.send(outbound("webpush", "{not json"))
        assert garbage.value.reason == "subscription_gone"


async def test_a_stored_subscription_with_unusable_keys_is_dead_not_retried(tmp_path: Path) -> None:
    """A key off the curve or an auth secret that is not base64url can never be encrypted to: the
    contact is dead at once (before, the library's ValueError came out as an internal error, retried)."""
    async with running_sandbox(tmp_path) as (sb, cfg), started(_sender(cfg)) as sender:
        sub = sb.fake("webpush").subscribe(sender.keys.application_server_key)
        off_curve = {**sub, "keys": {**sub["keys"], "p256dh": wp_vapid.b64u(b"\x04" + b"\x01" * 64)}}
        bad_auth = {**sub, "keys": {**sub["keys"], "auth": "!!"}}
        no_keys = {"endpoint": sub["endpoint"]}
        for broken in (off_curve, bad_auth, no_keys):
            with pytest.raises(PermanentSendError) as err:
                await sender.send(outbound("webpush", json.dumps(broken)))
            assert (err.value.reason, err.value.contact_dead) == ("subscription_gone", True)
        assert sb.messages("webpush") == []


async def test_wrong_vapid_key_is_a_configuration_error(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path) as (sb, cfg), started(_sender(cfg)) as sender:
        other = wp_vapid.load_or_create_vapid(tmp_path / "other").application_server_key
        with pytest.raises(PermanentSendError) as err:
            await sender.send(outbound("webpush", json.dumps(sb.fake("webpush").subscribe(other))))
        assert (err.value.reason, err.value.contact_dead) == ("configuration", False)


async def test_push_service_errors_and_timeout(tmp_path: Path) -> None:
    env = {"SAFETYNET_CHANNELS_WEBPUSH_TIMEOUT_SECONDS": "0.1"}
    async with running_sandbox(tmp_path, env=env, fail_429=1.0, retry_after=12) as (sb, cfg), started(_sender(cfg)) as sender:
        address = json.dumps(sb.fake("webpush").subscribe(sender.keys.application_server_key))
        with pytest.raises(RetryableSendError) as limited:
            await sender.send(outbound("webpush", address))
        assert (limited.value.reason, limited.value.retry_after) == ("rate_limited", 12.0)
        sb.faults.update({"fail_429": 0.0, "fail_5xx": 1.0})
        with pytest.raises(RetryableSendError) as down:
            await sender.send(outbound("webpush", address))
        assert (down.value.reason, down.value.outcome_unknown) == ("server_error", True)
        sb.faults.update({"fail_5xx": 0.0, "latency_ms": 1000})
        with pytest.raises(RetryableSendError) as slow:
            await sender.send(outbound("webpush", address))
        assert (slow.value.reason, slow.value.outcome_unknown) == ("timeout", True)


async def test_notification_action_posts_the_answer(tmp_path: Path) -> None:
    async with WebhookRecorder() as hooks, running_sandbox(tmp_path, app_url=hooks.url) as (sb, cfg):
        async with started(_sender(cfg)) as sender:
            sub = sb.fake("webpush").subscribe(sender.keys.application_server_key)
            await sender.send(outbound("webpush", json.dumps(sub), public_url=hooks.url))
        sub_id = sub["endpoint"].rsplit("/", 1)[1]
        assert (await sb.fake("webpush").action(sub_id, "need_help")).status == 200
        (hit,) = hooks.at(f"/r/{REPLY_TOKEN}")
        assert hit.params == {"status": "need_help"}


def test_b64u_round_trip() -> None:
    raw = os.urandom(33)
    assert wp_vapid.b64u_decode(wp_vapid.b64u(raw)) == raw
    assert "=" not in wp_vapid.b64u(raw) and wp_vapid.b64u(raw) == base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def test_a_sandbox_subscription_passes_validation_with_the_configured_sandbox_host(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path) as (sb, cfg):
        sub = sb.fake("webpush").subscribe()
        assert wp_subs.validate_subscription(sub, ALLOWED, [f"{cfg.sandbox.host}:{cfg.sandbox.port}"])["endpoint"] == sub["endpoint"]
        with pytest.raises(ValueError, match="allowlist"):
            wp_subs.validate_subscription(sub, ALLOWED, ())

"""Attacks on the provider webhooks, beyond the hook tests' forged and tampered signatures:
a genuinely signed request replayed elsewhere or later, and Telegram secrets that are almost right.

A refused request answers 403 and changes nothing: no reply, no status, no enrolment. A channel
that is off has no webhooks (404), and the sandbox's public Twilio credential signs nothing for a
channel that talks to a real provider.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from replies_fixtures import Env, enrolment_code, post_twilio, running_app
from twilio.request_validator import RequestValidator

from safetynet.channels.telegram.updates import SECRET_HEADER, callback_data, webhook_secret
from safetynet.config import SANDBOX_SECRETS, ConfigError, channel_context, load_config
from safetynet.domain import Status

PHONE_A002 = "+819011110002"
CHAT_A003 = 5550003


def sign(env: Env, path: str, params: dict[str, str]) -> str:
    return str(RequestValidator(env.cfg.secrets.twilio_auth_token).compute_signature(
        env.cfg.server.public_url + path, params))


async def post(env: Env, path: str, params: dict[str, str], signature: str) -> tuple[int, str]:
    async with env.http.post(env.url + path, data=params, headers={"X-Twilio-Signature": signature}) as r:
        return r.status, await r.text()


def inbound(env: Env, sid: str, body: str, from_: str = PHONE_A002) -> dict[str, str]:
    return {"MessageSid": sid, "SmsSid": sid, "AccountSid": env.cfg.secrets.twilio_account_sid, "From": from_,
            "To": env.cfg.channels.sms.from_number, "Body": body, "NumMedia": "0", "SmsStatus": "received",
            "ApiVersion": "2010-04-01"}


async def test_a_signed_sms_replayed_later_cannot_undo_a_newer_answer(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        help_sms = inbound(env, "SM" + "e" * 32, "2")
        sig = sign(env, "/hooks/twilio/sms", help_sms)
        assert (await post(env, "/hooks/twilio/sms", help_sms, sig))[0] == 200
        async with env.http.post(env.reply_url("A-002"), data={"status": "safe"}) as r:
            assert r.status == 200
        # someone who captured the signed "2" replays it byte for byte
        status, _ = await post(env, "/hooks/twilio/sms", help_sms, sig)
        assert status == 200  # Twilio's own retries look exactly like this: accepted, stored once
        assert await env.status("A-002") == Status.SAFE
        assert await env.history("A-002") == ["need_help", "safe"]
        await env.intake.idle()


async def test_a_signed_request_replayed_to_another_webhook_is_refused(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        sms = inbound(env, "SM" + "f" * 32, "1")
        sig = sign(env, "/hooks/twilio/sms", sms)
        for path in ("/hooks/twilio/status", f"/hooks/twilio/voice?t={env.token('A-002')}"):
            assert (await post(env, path, sms, sig))[0] == 403, path
        assert await env.history("A-002") == []


async def test_a_voice_callback_replayed_for_another_household_is_refused(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        params = {"CallSid": "CA" + "1" * 32, "Digits": "2", "AccountSid": env.cfg.secrets.twilio_account_sid,
                  "CallStatus": "in-progress"}
        mine = f"/hooks/twilio/voice?t={env.token('A-002')}"
        sig = sign(env, mine, params)
        for other in ("A-001", "B-001"):  # same signature, the token in the query swapped
            status, _ = await post(env, f"/hooks/twilio/voice?t={env.token(other)}", params, sig)
            assert status == 403
            assert await env.history(other) == []
        # extra query parameters, or the token moved into the body, are not covered by the signature
        assert (await post(env, mine + "&retry=1", params, sig))[0] == 403
        assert (await post(env, mine, {**params, "t": env.token("A-001")}, sig))[0] == 403
        assert (await post(env, mine, params, sig))[0] == 200
        assert await env.history("A-002") == ["need_help"]
        await env.intake.idle()


async def test_a_signature_for_the_servers_own_address_is_not_the_public_one(tmp_path: Path) -> None:
    """Twilio signs the public URL; a request signed for the address behind the proxy is refused."""
    async with running_app(tmp_path, SAFETYNET_SERVER_PUBLIC_URL="https://safety.example.jp") as env:
        sms = inbound(env, "SM" + "9" * 32, "1")
        internal = str(RequestValidator(env.cfg.secrets.twilio_auth_token).compute_signature(
            env.url + "/hooks/twilio/sms", sms))
        assert (await post(env, "/hooks/twilio/sms", sms, internal))[0] == 403
        assert (await post(env, "/hooks/twilio/sms", sms, sign(env, "/hooks/twilio/sms", sms)))[0] == 200


def press(env: Env, key: str, qid: str) -> bytes:
    return json.dumps({"update_id": 7, "callback_query": {
        "id": qid, "from": {"id": CHAT_A003, "is_bot": False, "first_name": "R"}, "chat_instance": "1",
        "data": callback_data("safe", env.token(key))}}).encode()


async def test_telegram_secrets_that_are_almost_right_are_refused(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        right = webhook_secret(env.cfg.secrets.secret_key)
        code = await enrolment_code(env, "A-001")
        start = json.dumps({"update_id": 8, "message": {"message_id": 1, "chat": {"id": 4242, "type": "private"},
                                                        "from": {"id": 4242}, "text": f"/start {code}"}}).encode()
        wrong_headers: list[dict[str, str]] = [
            {}, {SECRET_HEADER: ""}, {SECRET_HEADER: webhook_secret("another-deployments-secret-key")},
            {SECRET_HEADER: right.upper() if right != right.upper() else right.lower()},
            {SECRET_HEADER: right[:-1]}, {SECRET_HEADER: right + "x"}, {SECRET_HEADER: right + "\u3000"},
            {"X-Telegram-Bot-Api-Secret": right}, {"Authorization": f"Bearer {right}"},
        ]
        for headers in wrong_headers:
            for body in (press(env, "A-003", "q-a"), start):
                async with env.http.post(env.url + "/hooks/telegram", data=body,
                                         headers={"Content-Type": "application/json", **headers}) as r:
                    assert r.status in (401, 403), headers  # 401: a Bearer that is no API token
        async with env.http.post(f"{env.url}/hooks/telegram?secret_token={right}", data=press(env, "A-003", "q-b"),
                                 headers={"Content-Type": "application/json"}) as r:
            assert r.status == 403
        assert await env.history("A-003") == []
        household = await env.store.roster.get_household(env.hh("A-001").id)
        assert household is not None and not any(c.kind == "telegram" for c in household.contacts)
        async with env.http.post(env.url + "/hooks/telegram", data=press(env, "A-003", "q-c"),
                                 headers={"Content-Type": "application/json", SECRET_HEADER: right}) as r:
            assert r.status == 200  # control: the right secret is taken
        assert await env.history("A-003") == ["safe"]
        await env.intake.idle()


# -- channels that are off, and the sandbox's public credential ---------------------------------

OFF = {"SAFETYNET_CHANNELS_SMS_ENABLED": "false", "SAFETYNET_CHANNELS_VOICE_ENABLED": "false",
       "SAFETYNET_CHANNELS_TELEGRAM_ENABLED": "false"}


async def test_webhooks_of_channels_that_are_off_answer_404_to_anyone(tmp_path: Path) -> None:
    """With SMS and voice off, the webhook check once fell back to the sandbox's public test
    credential: anyone who knew a resident's number could mark the household safe (off the
    door-knock list). A channel that is off has no webhooks at all."""
    async with running_app(tmp_path, **OFF) as env:
        public = SANDBOX_SECRETS.twilio_auth_token
        sms = inbound(env, "SM" + "a" * 32, "1")
        assert (await post_twilio(env, "/hooks/twilio/sms", sms, token=public))[0] == 404
        status = {"MessageSid": "SM" + "b" * 32, "MessageStatus": "delivered", "AccountSid": "AC" + "0" * 32}
        assert (await post_twilio(env, "/hooks/twilio/status", status, token=public))[0] == 404
        keypad = {"CallSid": "CA" + "2" * 32, "Digits": "2", "CallStatus": "in-progress"}
        voice = f"/hooks/twilio/voice?t={env.token('A-002')}"
        assert (await post_twilio(env, voice, keypad, token=public))[0] == 404
        async with env.http.post(env.url + "/hooks/telegram", data=press(env, "A-003", "q-off"), headers={
                "Content-Type": "application/json", SECRET_HEADER: webhook_secret(env.cfg.secrets.secret_key)}) as r:
            assert r.status == 404
        for key in ("A-002", "A-003"):
            assert await env.history(key) == []
        assert env.cfg.secrets.twilio_auth_token == ""  # nothing to sign with: nothing is sent


async def test_with_sms_on_and_voice_off_only_the_sms_webhook_exists(tmp_path: Path) -> None:
    async with running_app(tmp_path, SAFETYNET_CHANNELS_VOICE_ENABLED="false") as env:
        keypad = {"CallSid": "CA" + "3" * 32, "Digits": "1", "CallStatus": "in-progress"}
        assert (await post_twilio(env, f"/hooks/twilio/voice?t={env.token('A-002')}", keypad))[0] == 404
        assert (await post_twilio(env, "/hooks/twilio/sms", inbound(env, "SM" + "c" * 32, "1")))[0] == 200
        assert await env.history("A-002") == ["safe"]  # control: the sandbox's SMS webhook still works
        await env.intake.idle()


REAL_TWILIO = {"SAFETYNET_CHANNELS_SMS_API_BASE_URL": "https://api.twilio.com",
               "SAFETYNET_CHANNELS_VOICE_API_BASE_URL": "https://api.twilio.com",
               "SAFETYNET_TWILIO_ACCOUNT_SID": "AC" + "7" * 32, "SAFETYNET_TWILIO_AUTH_TOKEN": "the-accounts-own-token"}


async def test_a_real_twilio_deployment_never_takes_the_sandbox_credential(tmp_path: Path) -> None:
    async with running_app(tmp_path, **REAL_TWILIO) as env:
        sms = inbound(env, "SM" + "d" * 32, "1")
        status, _ = await post_twilio(env, "/hooks/twilio/sms", sms, token=SANDBOX_SECRETS.twilio_auth_token)
        assert status == 403
        assert await env.history("A-002") == []
        assert (await post_twilio(env, "/hooks/twilio/sms", sms, token="the-accounts-own-token"))[0] == 200
        assert await env.history("A-002") == ["safe"]
        await env.intake.idle()


def test_the_sandbox_credential_verifies_only_sandbox_channels(tmp_path: Path) -> None:
    cfg_file = tmp_path / "config.toml"
    cfg_file.write_text("", encoding="utf-8")
    env = {**REAL_TWILIO, "SAFETYNET_TWILIO_AUTH_TOKEN": SANDBOX_SECRETS.twilio_auth_token}
    with pytest.raises(ConfigError, match="sandbox's public test credential"):
        load_config(cfg_file, env=env)
    sandbox = load_config(cfg_file, env={})
    token = "twilio_auth_token"
    assert channel_context(sandbox, "sms").secret(token) == SANDBOX_SECRETS.twilio_auth_token
    # the same credential with a real provider URL (a config that skipped validation) verifies nothing
    real = dataclasses.replace(sandbox, channels=sandbox.channels.replace(sms=dataclasses.replace(
        sandbox.channels.sms, api_base_url="https://api.twilio.com")))
    assert channel_context(real, "sms").secret(token) == ""
    assert channel_context(real, "voice").secret(token) == SANDBOX_SECRETS.twilio_auth_token
    off = load_config(cfg_file, env={"SAFETYNET_CHANNELS_SMS_ENABLED": "0", "SAFETYNET_CHANNELS_VOICE_ENABLED": "0"})
    assert off.secrets.twilio_auth_token == ""
    assert channel_context(off, "sms").secret(token) == channel_context(off, "voice").secret(token) == ""

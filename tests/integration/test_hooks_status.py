"""Twilio status callbacks update the outbox row of that MessageSid/CallSid; forged ones change nothing."""

from __future__ import annotations

from pathlib import Path

from replies_fixtures import Env, post_twilio, running_app

from safetynet.broadcast.dispatcher import Dispatcher


async def _callback(env: Env, params: dict[str, str], token: str | None = None) -> int:
    return (await post_twilio(env, "/hooks/twilio/status", params, token))[0]


async def _sms_states(env: Env) -> dict[str, int]:
    return {state: n for (_, channel, state), n in (await env.store.campaigns.delivery_counts(env.campaign_id)).items()
            if channel == "sms"}


async def test_status_callbacks_update_delivery_state(tmp_path: Path) -> None:
    # no provider pacing: the dispatcher's pacing sleeps on the test's clock, which only the test moves
    async with running_app(tmp_path, SAFETYNET_CHANNELS_SMS_MAX_PER_SECOND="0",
                           SAFETYNET_CHANNELS_VOICE_MAX_PER_SECOND="0",
                           SAFETYNET_CHANNELS_TELEGRAM_MAX_PER_SECOND="0") as env:
        env.sandbox.faults.callbacks = False  # this test plays Twilio's callbacks itself, in its order
        # A-002's mobile is out of service: its household is called on the landline instead (a call to
        # play a callback for; every other household is texted)
        env.sandbox.faults.update({"dead": ["+819011110002"]})
        await Dispatcher(env.store, env.senders, env.cfg, env.clock, contacts=env.store.roster).burst()
        sent = env.sandbox.messages("sms")
        assert sent and (await _sms_states(env)).get("sent") == len(sent)
        sid = sent[0].provider_id
        base = {"MessageSid": sid, "SmsSid": sid, "AccountSid": env.cfg.secrets.twilio_account_sid}
        assert await _callback(env, {**base, "MessageStatus": "delivered"}, token="forged") == 403
        assert (await _sms_states(env)).get("delivered") is None
        assert await _callback(env, {**base, "MessageStatus": "delivered"}) == 204
        assert await _callback(env, {**base, "MessageStatus": "sent"}) == 204  # late, lower-ranked: ignored
        states = await _sms_states(env)
        assert states.get("delivered") == 1 and states.get("sent") == len(sent) - 1
        unknown = {"MessageSid": "SM" + "f" * 32, "MessageStatus": "delivered"}
        assert await _callback(env, unknown) == 204  # not ours: acknowledged so Twilio stops, nothing changes
        calls = env.sandbox.messages("voice")
        assert calls
        call = {"CallSid": calls[0].provider_id, "CallStatus": "completed", "AccountSid": base["AccountSid"]}
        assert await _callback(env, call) == 204
        counts = await env.store.campaigns.delivery_counts(env.campaign_id)
        assert sum(n for (_, ch, st), n in counts.items() if ch == "voice" and st == "delivered") == 1

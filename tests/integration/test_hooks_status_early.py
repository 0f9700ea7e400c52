"""A Twilio status callback that beats the commit of its send is held and applied, not dropped.

The SMS sender here is the real Twilio client against the sandbox; after each send it plays
Twilio's status callback through the app's webhook (signed) and waits for the 204 before it lets
the dispatcher record the MessageSid: the callback always arrives first.
"""

from __future__ import annotations

from pathlib import Path

from replies_fixtures import Env, post_twilio, running_app

from safetynet.broadcast.dispatcher import Dispatcher
from safetynet.channels.base import ChannelSender, OutboundMessage, SendResult
from safetynet.store.rules import EARLY_STATUS_HOLD_SECONDS


async def _callback(env: Env, params: dict[str, str], token: str | None = None) -> int:
    return (await post_twilio(env, "/hooks/twilio/status", params, token))[0]


class CallbackFirst:
    """The real SMS sender, with Twilio's callbacks for each message delivered before it returns."""

    def __init__(self, env: Env, inner: ChannelSender, callbacks: dict[str, list[str]]) -> None:
        self.name = "sms"
        self.env, self.inner, self.callbacks = env, inner, callbacks  # address -> states, in arrival order
        self.sids: dict[str, str] = {}

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def send(self, msg: OutboundMessage) -> SendResult:
        result = await self.inner.send(msg)
        assert result.provider_id
        self.sids[msg.address] = result.provider_id
        for state in self.callbacks.get(msg.address, []):
            params = {"MessageSid": result.provider_id, "SmsSid": result.provider_id, "MessageStatus": state,
                      "AccountSid": self.env.cfg.secrets.twilio_account_sid}
            if state == "undelivered":
                params["ErrorCode"] = "30003"
            assert await _callback(self.env, params) == 204
        assert await self.env.store.outbox.claimed_count() > 0  # the send is not recorded yet
        return result


def _mobile(env: Env, key: str) -> str:
    return next(c.address for c in env.hh(key).contacts if c.kind == "mobile")


async def _states(env: Env, channel: str) -> dict[str, int]:
    return {state: n for (_, ch, state), n in (await env.store.campaigns.delivery_counts(env.campaign_id)).items()
            if ch == channel}


def _dispatcher(env: Env, sms: ChannelSender) -> Dispatcher:
    return Dispatcher(env.store, {**env.senders, "sms": sms}, env.cfg, env.clock,
                      contacts=env.store.roster)


async def test_callbacks_before_the_send_is_recorded_are_applied(tmp_path: Path) -> None:
    async with running_app(tmp_path, SAFETYNET_CHANNELS_SMS_MAX_PER_SECOND="0",
                           SAFETYNET_CHANNELS_VOICE_MAX_PER_SECOND="0",
                           SAFETYNET_CHANNELS_TELEGRAM_MAX_PER_SECOND="0") as env:
        env.sandbox.faults.callbacks = False  # only the callbacks this test plays, in its order
        shared, b1 = _mobile(env, "A-001"), _mobile(env, "B-001")  # share one mobile
        sms = CallbackFirst(env, env.senders["sms"], {
            b1: ["sent", "delivered", "sent"],  # out of order: the highest rank is kept
            shared: ["undelivered"],  # a phone that is off: the households are called instead
        })
        await _dispatcher(env, sms).burst()
        # A-002 (a mobile and a landline) is texted too: the scenario's fallback is SMS before a call
        assert set(sms.sids) == {shared, b1, _mobile(env, "A-002")}
        states = await _states(env, "sms")
        assert states == {"delivered": 1, "undelivered": 2, "sent": 1}, states
        # the undelivered SMS fell back to calls, as for a callback that came in time
        await _dispatcher(env, sms).burst()
        calls = [c.address for c in env.sandbox.messages("voice")]
        assert calls.count(shared) == 2, calls
        # applied callbacks are not kept: nothing is left to apply to a later send
        assert await env.store.outbox.held_status_count() == 0


async def test_a_held_callback_expires(tmp_path: Path) -> None:
    async with running_app(tmp_path, SAFETYNET_CHANNELS_SMS_MAX_PER_SECOND="0",
                           SAFETYNET_CHANNELS_VOICE_MAX_PER_SECOND="0",
                           SAFETYNET_CHANNELS_TELEGRAM_MAX_PER_SECOND="0") as env:
        env.sandbox.faults.callbacks = False
        a1 = _mobile(env, "B-001")

        class Late(CallbackFirst):
            async def send(self, msg: OutboundMessage) -> SendResult:
                result = await super().send(msg)
                if msg.address == a1:  # the send's record is held up past the hold time
                    await self.env.clock.advance(EARLY_STATUS_HOLD_SECONDS + 1)
                return result

        sms = Late(env, env.senders["sms"], {a1: ["delivered"]})
        await _dispatcher(env, sms).burst()
        states = await _states(env, "sms")
        assert states == {"sent": 4}, states  # A-001 and A-004 (one phone), A-002, B-001

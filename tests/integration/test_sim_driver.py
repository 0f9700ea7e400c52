"""The residents' driver on its own: holding and releasing answers, retries, exact counters.

The app side is a small aiohttp server that records what reaches it (the channels' real webhooks
are covered with the whole system in test_sim_residents.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from twilio.request_validator import RequestValidator

from safetynet.lab.sim.acts import Credentials
from safetynet.lab.sim.city import line_user_id
from safetynet.lab.sim.messages import ResidentMessage
from safetynet.lab.sim.model import ResidentModel
from safetynet.lab.sim.residents import ResidentDriver
from safetynet.replies.tokens import reply_token

AUTH_TOKEN = "test-auth-token"
ALWAYS = ResidentModel(answer_share=1.0, late_share=0.0, need_help_share=0.0, time_compression=1e6)


@dataclass
class FakeApp:
    url: str = ""
    bodies: list[dict[str, Any]] = field(default_factory=list)
    forms: list[dict[str, str]] = field(default_factory=list)
    fail_first: int = 0  # answer 503 to this many requests first
    refuse: bool = False  # answer 404 (an unknown token)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def answer(self, request: web.Request) -> web.Response:
        self.bodies.append(json.loads(await request.read()))
        self.changed.set()
        if self.fail_first > 0:
            self.fail_first -= 1
            return web.Response(status=503)
        if self.refuse:
            return web.json_response({"error": "not found"}, status=404)
        return web.json_response({"status": "safe", "recorded": True})

    async def sms(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        valid = RequestValidator(AUTH_TOKEN).validate(self.url + request.path_qs, form,
                                                      request.headers.get("X-Twilio-Signature", ""))
        self.forms.append({**form, "valid": str(valid)})
        return web.Response(text="<Response/>", content_type="text/xml")


@contextlib.asynccontextmanager
async def fake_app() -> AsyncIterator[FakeApp]:
    state = FakeApp()
    app = web.Application()
    app.router.add_post("/r/{token}/answer", state.answer)
    app.router.add_post("/hooks/twilio/sms", state.sms)
    async with TestServer(app, host="127.0.0.1") as server:
        state.url = str(server.make_url("")).rstrip("/")
        yield state


def push(app: FakeApp, n: int) -> ResidentMessage:
    token = f"tok{n:019d}"
    return ResidentMessage(seq=n, channel="webpush", token=token, address=f"sub-{n}", provider_id=f"m-{n}",
                           received_at=0.0, reply_url=f"{app.url}/r/{token}")


def creds(app: FakeApp) -> Credentials:
    return Credentials(app.url, {"twilio_account_sid": "AC" + "0" * 32, "twilio_auth_token": AUTH_TOKEN}, "secret")


async def test_held_answers_wait_for_release_then_all_go() -> None:
    async with fake_app() as app, ResidentDriver(ALWAYS, creds(app), concurrency=4, hold=True) as driver:
        for n in range(10):
            driver.feed(push(app, n))
        assert driver.stats.scheduled == 10 and driver.pending == 10
        assert app.bodies == []  # nothing went while held
        driver.release()
        await driver.idle()
        assert driver.stats.accepted == 10 and len(app.bodies) == 10
        assert len(driver.stats.latencies["webpush"]) == 10


async def test_a_household_answers_once_whatever_it_receives() -> None:
    async with fake_app() as app, ResidentDriver(ALWAYS, creds(app)) as driver:
        m = push(app, 1)
        driver.feed(m)
        driver.feed(m)
        sms = ResidentMessage(seq=2, channel="sms", token=m.token, address="+819012345678",
                              provider_id="SM2", received_at=0.0, sender="+815000000000")
        driver.feed(sms)
        await driver.idle()
        assert driver.stats.accepted == 1 and driver.stats.repeats == 2 and len(app.bodies) == 1


async def test_a_household_answered_on_line_does_not_answer_its_sms_again() -> None:
    # A LINE multicast carries no reply token; if the ladder's SMS goes out before the LINE answer
    # is stored, the household must not answer a second time, with other dice, to the SMS.
    user = line_user_id(42)
    line = ResidentMessage(seq=1, channel="line", token=f"line:7:{user}", address=user, provider_id="L1",
                           received_at=0.0)
    sms = ResidentMessage(seq=2, channel="sms", token=reply_token("secret", 7, 42), address="+819012345678",
                          provider_id="SM2", received_at=0.0, sender="+815000000000")
    other = ResidentMessage(seq=3, channel="sms", token=reply_token("secret", 7, 43), address="+819012345679",
                            provider_id="SM3", received_at=0.0, sender="+815000000000")
    async with fake_app() as app, ResidentDriver(ALWAYS, creds(app), hold=True) as driver:
        assert driver.household_of(line) == sms.token
        for m in (line, sms, other):
            driver.feed(m)
        assert driver.stats.scheduled == 2 and driver.stats.repeats == 1


async def test_a_retried_answer_resends_the_same_key() -> None:
    async with fake_app() as app, ResidentDriver(ALWAYS, creds(app)) as driver:
        app.fail_first = 2
        driver.feed(push(app, 1))
        await driver.idle()
        assert [b["key"] for b in app.bodies] == [app.bodies[0]["key"]] * 3
        assert driver.stats.accepted == 1 and driver.stats.retried == 1 and driver.stats.failed == 0


async def test_a_refused_answer_is_failed_at_once_and_counted() -> None:
    async with fake_app() as app, ResidentDriver(ALWAYS, creds(app)) as driver:
        app.refuse = True
        driver.feed(push(app, 1))
        await driver.idle()
        assert len(app.bodies) == 1
        assert driver.stats.failed == 1 and driver.stats.accepted == 0
        assert driver.stats.failures == {"http_404": 1} and driver.answered == {}


async def test_an_sms_answer_is_signed_for_the_public_url_and_comes_from_the_resident() -> None:
    async with fake_app() as app, ResidentDriver(ALWAYS, creds(app)) as driver:
        driver.feed(ResidentMessage(seq=1, channel="sms", token="t" * 22, address="+819012345678",
                                    provider_id="SM1", received_at=0.0, sender="+815000000000"))
        await driver.idle()
        (form,) = app.forms
        assert form["valid"] == "True"
        assert (form["From"], form["To"]) == ("+819012345678", "+815000000000")
        assert form["Body"] in ("1", "無事", "ぶじ", "１", "ok", "無事です")


async def test_silent_households_never_answer() -> None:
    model = ResidentModel(answer_share=0.0, time_compression=1e6)
    async with fake_app() as app, ResidentDriver(model, creds(app)) as driver:
        for n in range(5):
            driver.feed(push(app, n))
        await driver.idle()
        assert driver.stats.silent == 5 and driver.stats.sent == 0 and app.bodies == []

"""A landline-only household whose call rang out (no answer) is called again a few minutes later, by the
real dispatcher through the voice sandbox, its callbacks through the app's status webhook."""

from __future__ import annotations

from pathlib import Path

from replies_fixtures import ASSOC_A, Env, form, running_app, seed
from roster_helpers import household

from safetynet.broadcast.dispatcher import Dispatcher
from safetynet.domain import Status

LANDLINE = "+81311119999"  # 山本 トメ: no mobile, no app
AFTER = 300.0  # `[channels.voice] redial_after_seconds`'s default


async def _city(env: Env) -> None:
    """A city of one household, on a landline alone, and a drill over it (step 0: the call)."""
    await seed(env, households=[household(
        "桜地区", ASSOC_A, "3班", "A-009", "山本 トメ", "桜町1-3-9", 1, True, "ja", landline=LANDLINE)])


def _calls(env: Env) -> int:
    return sum(1 for r in env.sandbox.messages("voice") if r.address == LANDLINE)


async def _dispatch(env: Env) -> None:
    """A dispatcher of its own (as a restarted process's), everything due sent, then every call's status
    callback received by the app (the sandbox posts them after it answers the request)."""
    await Dispatcher(env.store, env.senders, env.dispatch_cfg, env.clock, contacts=env.store.roster).burst()
    calls = len(env.sandbox.messages("voice"))
    await env.sandbox.state.wait_for(lambda _: env.sandbox.state.stats[("callbacks", "ok")] >= calls)
    # a callback that came while its send's commit was under way is held (PostgreSQL: the send not seen
    # yet) until the dispatcher's sweep of held statuses, which runs every 2 s of its clock: as it would
    # have by now (CI, under load: the redial was not queued yet, the call still 'sent')
    await env.store.outbox.apply_held_statuses()


async def _rang_out(env: Env) -> None:
    """Everything due sent, every call ringing out (no answer); the line answers again afterwards."""
    env.sandbox.faults.undelivered_fraction = 1.0
    try:
        await _dispatch(env)
    finally:
        env.sandbox.faults.undelivered_fraction = 0.0


async def test_a_call_not_answered_is_placed_again_and_answered(tmp_path: Path) -> None:
    async with running_app(tmp_path, seeded=False) as env:
        await _city(env)
        await _rang_out(env)  # the line rings out: no-answer
        assert _calls(env) == 1
        await env.clock.advance(AFTER - 1)
        await _dispatch(env)
        assert _calls(env) == 1  # not before the delay
        await env.clock.advance(1)
        await _dispatch(env)
        assert _calls(env) == 2
        result = await env.sandbox.fake("voice").press(LANDLINE, "1")
        assert result.status == 200
        assert await env.status("A-009") == Status.SAFE
        await env.clock.advance(AFTER)
        await _dispatch(env)
        assert _calls(env) == 2  # answered: no third call
        counts = await env.store.campaigns.delivery_counts(env.campaign_id)
        assert {k: n for k, n in counts.items() if k[1] == "voice"} == {(0, "voice", "delivered"): 1}


async def test_an_answer_by_another_channel_meanwhile_stops_the_redial(tmp_path: Path) -> None:
    async with running_app(tmp_path, seeded=False) as env:
        await _city(env)
        await _rang_out(env)
        assert _calls(env) == 1
        counts = await env.store.campaigns.delivery_counts(env.campaign_id)
        assert counts == {(0, "voice", "queued"): 1}  # the redial waits its 5 minutes
        # a neighbour's phone opens the household's link from the letter
        async with env.http.post(env.reply_url("A-009"), data=form(status="safe")) as resp:
            assert resp.status == 200
        await env.intake.idle()
        await env.clock.advance(AFTER)
        await _dispatch(env)
        assert _calls(env) == 1
        assert await env.status("A-009") == Status.SAFE


async def test_a_call_answered_without_a_key_is_not_placed_again(tmp_path: Path) -> None:
    async with running_app(tmp_path, seeded=False) as env:
        await _city(env)
        await _rang_out(env)
        await env.clock.advance(AFTER)
        await _dispatch(env)
        assert _calls(env) == 2
        voice = env.sandbox.fake("voice")
        await voice.press(LANDLINE, "")
        await voice.press(LANDLINE, "")  # asked twice, nothing pressed: someone picked up all the same
        await env.clock.advance(AFTER)
        await _dispatch(env)
        assert _calls(env) == 2
        assert await env.status("A-009") == Status.NOTIFIED  # no answer recorded: the ladder goes on


async def test_a_restart_between_places_the_redial_once(tmp_path: Path) -> None:
    async with running_app(tmp_path, seeded=False) as env:
        await _city(env)
        await _rang_out(env)
        await env.clock.advance(AFTER)
        # the dispatcher that placed the first call is gone; two started since on the same store
        await _dispatch(env)
        await _dispatch(env)
        assert _calls(env) == 2
        await env.clock.advance(AFTER)
        await _dispatch(env)
        assert _calls(env) == 2  # the redial was answered (picked up): nothing more

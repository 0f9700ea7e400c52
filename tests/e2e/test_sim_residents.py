"""Simulated residents against the real system: an in-process sandbox and `running_system`.

Each test stages a small generated city (real SQLite, or PostgreSQL in the PostgreSQL run; real
enrolment over HTTP, the real client libraries against the sandbox), runs a drill with a compressed
ladder, and awaits its end
(`until_finished`: ladder done, outbox empty, residents idle) — no sleeps in the tests.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
from pg_helpers import store_env

from safetynet.lab.sim import city
from safetynet.lab.sim.drill import accounted, start_drill, until_finished
from safetynet.lab.sim.feeds import Follower, follow_http
from safetynet.lab.sim.messages import ResidentMessage
from safetynet.lab.sim.model import ResidentModel
from safetynet.lab.sim.stage import Stage, StageOptions, staged_city
from safetynet.replies.tokens import reply_token

# A drill's 30-minute ladder in 1.5 seconds (its steps land on the ladder's one-second ticks); answers
# come at once.
SPEED = 1200.0
INSTANT = 1e5


async def _drill(stage: Stage) -> int:
    campaign = await start_drill(stage, city.load_city_scenario(None), SPEED)
    await until_finished(stage, campaign)
    return campaign.id


async def test_every_accepted_answer_is_stored_with_its_status_and_location(tmp_path: Path) -> None:
    model = ResidentModel(answer_share=1.0, need_help_share=0.25, late_share=0.0, time_compression=INSTANT,
                          shelter_share=1.0, seed=3)
    options = StageOptions(tmp_path, env=store_env(), households=40, model=model, push_share=0.5, telegram_share=0.25, seed=2)
    async with staged_city(options) as stage:
        assert stage.enrolment.webpush + stage.enrolment.telegram > 20 and not stage.enrolment.failed
        cid = await _drill(stage)
        store = stage.system.store
        statuses = await store.campaigns.household_statuses(cid)
        household_of = {reply_token(stage.cfg.secrets.secret_key, cid, hid): hid for hid in statuses}
        # a LINE multicast carries no reply token: its resident is the campaign and the user id
        household_of.update({f"line:{cid}:{city.line_user_id(hid)}": hid for hid in statuses})
        s = stage.driver.stats
        assert s.failed == 0 and s.accepted == len(stage.driver.answered) == s.sent
        for token, status in stage.driver.answered.items():
            assert statuses[household_of[token]] == status
        assert {"webpush", "telegram", "sms"} <= set(s.by_channel)
        assert s.by_status["need_help"] > 0
        summary = await accounted(stage, cid)
        # everyone answers except households no channel reaches, which are on the door-knock list
        assert summary["unaccounted"] == 0
        assert summary["answered"] == s.accepted and summary["door_knock"] == 40 - s.accepted
        # the answer is the last entry: a push's "shown" receipt racing the tap is not stored after it
        last_entry = {hid: (await store.replies.history(cid, hid))[-1]
                       for hid in (household_of[t] for t in stage.driver.answered)}
        assert {e.status for e in last_entry.values()} <= {"safe", "need_help"}
        push_answered = [hid for hid, entry in last_entry.items() if entry.channel == "webpush"]
        assert push_answered
        for hid in push_answered:
            assert last_entry[hid].location == "shelter"
        assert s.seen > 0  # the service worker reported pushes as shown


async def test_late_residents_answer_only_an_sms_or_a_call(tmp_path: Path) -> None:
    model = ResidentModel(answer_share=1.0, late_share=1.0, need_help_share=0.0, time_compression=INSTANT)
    async with staged_city(StageOptions(tmp_path, env=store_env(), households=30, model=model, seed=4)) as stage:
        cid = await _drill(stage)
        s = stage.driver.stats
        assert s.waiting > 0
        assert set(s.by_channel) <= {"sms", "voice"} and s.accepted > 0
        assert (await accounted(stage, cid))["unaccounted"] == 0


async def test_households_with_no_working_channel_end_on_the_door_knock_list(tmp_path: Path) -> None:
    model = ResidentModel(answer_share=1.0, no_channel_share=1.0, time_compression=INSTANT)
    async with staged_city(StageOptions(tmp_path, env=store_env(), households=20, model=model)) as stage:
        assert stage.dead_households == 20
        cid = await _drill(stage)
        assert stage.driver.stats.accepted == 0
        summary = await accounted(stage, cid)
        assert summary["door_knock"] == 20 and summary["unaccounted"] == 0
        # the association's head got the door-knock notice (a staff message, not for residents)
        assert stage.follower.ignored > 0


async def test_the_http_follower_sees_what_the_in_process_one_saw(tmp_path: Path) -> None:
    model = ResidentModel(answer_share=0.5, time_compression=INSTANT)
    async with staged_city(StageOptions(tmp_path, env=store_env(), households=20, model=model)) as stage:
        await _drill(stage)
        seen: list[ResidentMessage] = []
        follower = Follower(seen.append)
        async with aiohttp.ClientSession() as http:
            task = asyncio.create_task(follow_http(stage.sandbox.url, follower, http))
            await follower.caught_up(stage.sandbox.records[-1].seq)
            task.cancel()
        assert len(seen) == stage.driver.stats.messages
        assert follower.ignored == stage.follower.ignored


async def test_campaign_start_simulate_answers_only_its_own_campaign(tmp_path: Path) -> None:
    from safetynet.lab.sim import runner

    silent = ResidentModel(answer_share=0.0, time_compression=INSTANT)
    async with staged_city(StageOptions(tmp_path, env=store_env(), households=20, model=silent)) as stage:
        first = await _drill(stage)  # an older campaign: its messages stay in the sandbox's record
        scenario = city.load_city_scenario(None)
        spec = city.drill_spec(scenario, SPEED)
        spec = type(spec)(spec.title, spec.kind, spec.scope, spec.messages, spec.ladder,
                          {**spec.options, "simulate": {"answer_share": 1.0, "late_share": 0.0,
                                                        "time_compression": INSTANT}})
        campaign = await stage.system.campaigns.launch(spec, source="cli", force=True)  # the first still runs
        counters = await runner._simulate(stage.cfg, campaign.id, asyncio.Event())
        statuses = await stage.system.store.campaigns.household_statuses(campaign.id)
        answered = {h for h, s in statuses.items() if s in ("safe", "need_help")}
        # one answer a household, each by the new campaign's link: one by an old link too would be counted twice
        assert counters["accepted"] == len(answered) > 0 and counters["failed"] == 0
        # the older drill still runs: the product shares each answer with it (a household's answer counts for
        # every running campaign of its kind), so it holds the same answers and no other
        old = await stage.system.store.campaigns.household_statuses(first)
        assert {h for h, s in old.items() if s in ("safe", "need_help")} == answered


def test_simulate_refuses_real_providers(tmp_path: Path) -> None:
    from safetynet.admin import CommandError
    from safetynet.config import load_config
    from safetynet.lab.sim import runner

    cfg = load_config(None, env={"SAFETYNET_CHANNELS_SMS_API_BASE_URL": "https://api.twilio.com",
                                 "SAFETYNET_TWILIO_ACCOUNT_SID": "AC1", "SAFETYNET_TWILIO_AUTH_TOKEN": "t"})
    with pytest.raises(CommandError, match=r"channels\.sms is a real provider"):
        runner.check_sandbox_only(cfg)

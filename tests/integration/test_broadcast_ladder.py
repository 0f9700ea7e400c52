"""The escalation ladder on a controlled clock and the in-memory store: later steps only to non-responders,
then door-knock."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import pytest
from broadcast_helpers import H, answer, in_memory, make_cfg, seed, senders

from safetynet.auth import Viewer
from safetynet.broadcast.dispatcher import Dispatcher
from safetynet.broadcast.ladder import OWED_AFTER_END_SECONDS, LadderScheduler
from safetynet.broadcast.service import CampaignService, CampaignSpec
from safetynet.clock import FakeClock
from safetynet.domain import CampaignKind, ChannelName, Role, Scope
from safetynet.domain.campaigns import Actor, Campaign
from safetynet.stats.report import build_report, render_html
from safetynet.store import Store, StoreUnavailable

MSG = {"ja": "安否確認です。"}
CITY = Viewer(role=Role.CITY_ADMIN, scope=Scope.parse("city"), login="bousai")


class Notes:
    def __init__(self) -> None:
        self.calls: list[tuple[int, dict[int, int]]] = []

    async def door_knock_ready(self, campaign: Campaign, households_by_association: Mapping[int, int],
                               done: Callable[[int], Awaitable[object]] | None = None) -> None:
        self.calls.append((campaign.id, dict(households_by_association)))
        for association_id in households_by_association:
            if done is not None:
                await done(association_id)


async def _city_admins(store: Store) -> tuple[Actor, Actor]:
    """The two people of a real event: the city admin who starts it and the one who approves it."""
    first = await store.auth.add_staff("bousai", "防災", Role.CITY_ADMIN, "city", None)
    second = await store.auth.add_staff("kikikanri", "危機管理", Role.CITY_ADMIN, "city", None)
    return Actor(first.login, first.id), Actor(second.login, second.id)


async def test_later_steps_reach_only_non_responders_then_the_door_knock_list(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path)
    clock = FakeClock()
    async with in_memory(clock) as store:
        ids = await seed(store, [H("answers", "wm"), H("silent", "wm"), H("app_only", "w"), H("landline", "l"),
                                 H("read_only", "m", association="桜町二丁目町会")])
        svc = CampaignService(store, cfg, clock)
        c = await svc.launch(CampaignSpec("訓練", CampaignKind.DRILL, ("city",), MSG))
        snd = senders(clock)
        notes = Notes()
        ladder = LadderScheduler(store.campaigns, clock, notifier=notes)

        async def wave() -> dict[ChannelName, list[int]]:
            for s in snd.values():
                s.sent.clear()
            await Dispatcher(store, snd, cfg, clock).burst()
            return {ch: s.households() for ch, s in snd.items() if s.sent}

        first = await wave()
        assert sorted(first["webpush"]) == [ids["answers"], ids["silent"], ids["app_only"]]
        await answer(store, c.id, ids["answers"], "safe")
        await answer(store, c.id, ids["read_only"], "read")  # opened the page: still not an answer
        assert await ladder.tick() == []
        await clock.advance(599)
        assert await ladder.tick() == []
        await clock.advance(1)
        assert await ladder.tick() == [(c.id, 1)]
        assert await wave() == {"sms": [ids["silent"], ids["read_only"]]}
        await answer(store, c.id, ids["read_only"], "need_help")
        await clock.advance(600)
        assert await ladder.tick() == [(c.id, 2)]
        assert sorted((await wave())["voice"]) == [ids["silent"], ids["landline"]]
        await clock.advance(600)
        assert await ladder.tick() == [(c.id, 3)]
        on_list = await store.campaigns.doorknock_households(c.id)
        assert on_list == sorted([ids["silent"], ids["app_only"], ids["landline"]])
        assert len(notes.calls) == 1 and sum(notes.calls[0][1].values()) == 3
        # a restarted scheduler neither repeats nor skips
        await clock.advance(3600)
        assert await LadderScheduler(store.campaigns, clock, notifier=notes).tick() == []
        assert len(notes.calls) == 1
        assert (await store.campaigns.ladder_progress(c.id)).next_step == 4


async def test_a_slow_lane_is_not_doubled_by_the_next_step(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path)
    clock = FakeClock()
    async with in_memory(clock) as store:
        await seed(store, [H("a", "m"), H("b", "m")])
        c = await CampaignService(store, cfg, clock).launch(CampaignSpec("訓練", CampaignKind.DRILL, ("city",), MSG))
        await clock.advance(600)  # step 0's SMS never went out (nobody dispatched)
        await LadderScheduler(store.campaigns, clock).tick()
        counts = await store.campaigns.delivery_counts(c.id)
        assert counts[(0, "sms", "queued")] == 2
        assert not any(step == 1 for step, _, _ in counts)


async def test_a_drills_ladder_waits_while_a_real_event_runs(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path)
    clock = FakeClock()
    async with in_memory(clock) as store:
        await seed(store, [H("a", "wm")])
        svc = CampaignService(store, cfg, clock)
        drill = await svc.launch(CampaignSpec("訓練", CampaignKind.DRILL, ("city",), MSG))
        await Dispatcher(store, senders(clock), cfg, clock).burst()
        ladder = LadderScheduler(store.campaigns, clock)
        await clock.advance(100)
        first, second = await _city_admins(store)
        real = await svc.launch(CampaignSpec("地震", CampaignKind.REAL, ("city",), MSG), by=first)
        await ladder.tick()  # waiting for approval pauses nothing
        assert (await svc.stats(drill.id))["paused"] is False
        await clock.advance(200)
        await svc.approve(real.id, by=second)
        assert (await svc.stats(drill.id))["paused"] is True  # as the pages say it: at once, not at the next tick
        await ladder.tick()
        assert (await svc.stats(drill.id))["paused"] is True
        check = await svc.launch(CampaignSpec.for_check(("city",)))
        assert (await svc.stats(check.id))["paused"] is True  # review: a contact check held back said it was not
        await svc.close(check.id)
        assert (await svc.stats(check.id))["paused"] is False  # ended: paused no more
        await clock.advance(1000)
        assert [d for d in await ladder.tick() if d[0] == drill.id] == []
        await svc.close(real.id)
        await ladder.tick()  # resumes: paused 1,000 s, so step 1 is due at 600 + 1,000
        assert (await svc.stats(drill.id))["paused"] is False
        await clock.advance(299)
        assert await ladder.tick() == []
        await clock.advance(1)
        assert await ladder.tick() == [(drill.id, 1)]
        # its report says its times include the pause (review: 73 minutes to 75 % where residents took 13)
        rep = await build_report(store, drill.id, CITY)
        assert rep["paused_minutes"] == 17  # 1,000 s, rounded up
        assert "この訓練は、実際の災害の安否確認が行われている間 17 分止まっていました" in render_html(rep)


async def test_a_drill_closed_while_paused_reports_the_pause_until_its_close(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path)
    clock = FakeClock()
    async with in_memory(clock) as store:
        await seed(store, [H("a", "m")])
        svc = CampaignService(store, cfg, clock)
        drill = await svc.launch(CampaignSpec("訓練", CampaignKind.DRILL, ("city",), MSG))
        ladder = LadderScheduler(store.campaigns, clock)
        first, second = await _city_admins(store)
        real = await svc.launch(CampaignSpec("地震", CampaignKind.REAL, ("city",), MSG), by=first)
        await svc.approve(real.id, by=second)
        await ladder.tick()
        await clock.advance(600)
        await svc.close(drill.id)
        await clock.advance(3600)
        assert (await build_report(store, drill.id, CITY))["paused_minutes"] == 10
        assert (await build_report(store, real.id, CITY))["paused_minutes"] == 0


class Failing(Notes):
    """The notifier's store goes down at the association attempts `fails` names (0 the first one tried,
    1 the next…; a PostgreSQL restart); each call also records where the ladder stood when it was made."""

    def __init__(self, store: object, fails: set[int]) -> None:
        super().__init__()
        self.store = store
        self.fails = fails
        self.attempts = 0
        self.steps_then: list[int] = []

    async def door_knock_ready(self, campaign: Campaign, households_by_association: Mapping[int, int],
                               done: Callable[[int], Awaitable[object]] | None = None) -> None:
        self.steps_then.append((await self.store.campaigns.ladder_progress(campaign.id)).next_step)  # type: ignore[attr-defined]
        for association_id, n in sorted(households_by_association.items()):
            self.attempts += 1
            if self.attempts - 1 in self.fails:
                raise StoreUnavailable("connection lost")
            self.calls.append((campaign.id, {association_id: n}))
            if done is not None:
                await done(association_id)


async def test_the_door_knock_step_is_recorded_before_the_heads_are_told_and_a_failed_notice_is_tried_again(
        tmp_path: Path) -> None:
    """Review: the heads' door-knock notice that failed (the store restarting) was logged and lost, the
    step already recorded: nobody told the heads of their list. And the step was recorded only after
    the notices: a confirmation undone meanwhile saw no list made and left its household off it. The
    first retry told every association again each second: now those not yet told, backing off."""
    cfg = make_cfg(tmp_path)
    clock = FakeClock()
    async with in_memory(clock) as store:
        await seed(store, [H("silent", "m"), H("other", "m", association="桜町二丁目町会")])
        c = await CampaignService(store, cfg, clock).launch(CampaignSpec("訓練", CampaignKind.DRILL, ("city",), MSG))
        notes = Failing(store, fails={1, 2})  # the first association told, then twice the store is down
        ladder = LadderScheduler(store.campaigns, clock, notifier=notes)
        await clock.advance(1800)
        assert await ladder.tick() == [(c.id, 1), (c.id, 2), (c.id, 3)]
        assert notes.steps_then == [4] and len(notes.calls) == 1  # recorded before telling; then it failed
        assert await ladder.tick() == [] and notes.steps_then == [4]  # backing off: not yet
        await clock.advance(5)
        assert await ladder.tick() == [] and notes.steps_then == [4, 4] and len(notes.calls) == 1  # failed again
        await clock.advance(5)
        assert await ladder.tick() == [] and notes.steps_then == [4, 4]  # 10 s after the second failure
        await clock.advance(5)
        assert await ladder.tick() == [] and notes.steps_then == [4, 4, 4]
        told = [a for _, counts in notes.calls for a in counts]
        assert len(told) == 2 and len(set(told)) == 2  # each association told once
        await clock.advance(600)
        assert await ladder.tick() == [] and notes.steps_then == [4, 4, 4]


async def test_a_door_knock_notice_owed_when_the_process_stopped_is_given_by_the_next_leader(
        tmp_path: Path) -> None:
    """Review: the owed notices lived in the leader's memory: the store restarting with the process (one
    machine rebooted) left a list whose heads nobody told. They are kept in the store with the step; the
    next process tells the associations not told, and none whose households have all answered since."""
    cfg = make_cfg(tmp_path)
    clock = FakeClock()
    async with in_memory(clock) as store:
        ids = await seed(store, [H("told", "m"), H("untold", "m", association="桜町二丁目町会"),
                                 H("answers", "m", association="梅町町会")])
        c = await CampaignService(store, cfg, clock).launch(CampaignSpec("訓練", CampaignKind.DRILL, ("city",), MSG))
        failing = Failing(store, fails={1, 2})  # the first association told, then the store goes down
        await clock.advance(1800)
        assert await LadderScheduler(store.campaigns, clock, notifier=failing).tick() == [(c.id, 1), (c.id, 2), (c.id, 3)]
        [(_, first)] = failing.calls
        await answer(store, c.id, ids["answers"])  # meanwhile: off the list
        notes = Notes()  # the process started again (or another took the lead)
        assert await LadderScheduler(store.campaigns, clock, notifier=notes).tick() == []
        untold = (await store.roster.association_by_name("桜町二丁目町会")).id  # type: ignore[union-attr]
        assert first != {untold: 1} and notes.calls == [(c.id, {untold: 1})]
        assert await store.campaigns.owed_doorknock_notices() == {}
        assert await LadderScheduler(store.campaigns, clock, notifier=notes).tick() == [] and len(notes.calls) == 1


class Stopped(Failing):
    """The leader stops (its lease lost, the store restarting) after the first association's notices."""

    def __init__(self, store: object) -> None:
        super().__init__(store, fails=set())

    async def door_knock_ready(self, campaign: Campaign, households_by_association: Mapping[int, int],
                               done: Callable[[int], Awaitable[object]] | None = None) -> None:
        first, *_ = sorted(households_by_association)
        await super().door_knock_ready(campaign, {first: households_by_association[first]}, done)
        raise asyncio.CancelledError


async def test_a_leader_stopped_mid_notices_leaves_only_the_associations_not_told(tmp_path: Path) -> None:
    """Review: the associations told were recorded only once all of a campaign's were: a leader stopped
    halfway through a real event's 150 associations left the next one to tell the first half again."""
    cfg = make_cfg(tmp_path)
    clock = FakeClock()
    async with in_memory(clock) as store:
        await seed(store, [H("one", "m"), H("two", "m", association="桜町二丁目町会")])
        c = await CampaignService(store, cfg, clock).launch(CampaignSpec("訓練", CampaignKind.DRILL, ("city",), MSG))
        stopped = Stopped(store)
        await clock.advance(1800)
        with pytest.raises(asyncio.CancelledError):
            await LadderScheduler(store.campaigns, clock, notifier=stopped).tick()
        [(_, first)] = stopped.calls
        assert list(await store.campaigns.owed_doorknock_notices()) == [c.id]
        notes = Notes()
        await LadderScheduler(store.campaigns, clock, notifier=notes).tick()
        [(_, second)] = [call for call in notes.calls if call[0] == c.id]
        assert first.keys().isdisjoint(second) and len(first) == len(second) == 1  # each told once


async def test_a_drills_notice_waits_while_a_real_event_runs_and_one_owed_a_day_after_the_end_is_given_up(
        tmp_path: Path) -> None:
    """Review: a drill's owed notice (its first try failed) went out to heads walking a real event's list;
    and one that never goes out was tried, with its trace in the log, every five minutes for good."""
    cfg = make_cfg(tmp_path)
    clock = FakeClock()
    async with in_memory(clock) as store:
        await seed(store, [H("silent", "m")])
        svc = CampaignService(store, cfg, clock)
        drill = await svc.launch(CampaignSpec("訓練", CampaignKind.DRILL, ("city",), MSG))
        await clock.advance(1800)
        assert len(await LadderScheduler(store.campaigns, clock, notifier=Failing(store, fails={0})).tick()) == 3
        first, second = await _city_admins(store)
        real = await svc.launch(CampaignSpec("地震", CampaignKind.REAL, ("city",), MSG), by=first)
        await svc.approve(real.id, by=second)
        notes = Notes()
        ladder = LadderScheduler(store.campaigns, clock, notifier=notes)
        await clock.advance(60)
        await ladder.tick()
        assert [call for call in notes.calls if call[0] == drill.id] == []  # waits, not dropped
        await svc.close(real.id, by=Actor("bousai"))
        await ladder.tick()
        assert [call[0] for call in notes.calls].count(drill.id) == 1  # the real event over: told
        # a notice that never goes out, for a campaign ended a day ago: given up, once
        never = Failing(store, fails=set(range(10_000)))
        again = await svc.launch(CampaignSpec("訓練2", CampaignKind.DRILL, ("city",), MSG))
        ladder = LadderScheduler(store.campaigns, clock, notifier=never)
        await clock.advance(1800)
        await ladder.tick()
        assert list(await store.campaigns.owed_doorknock_notices()) == [again.id]
        await svc.close(again.id, by=Actor("bousai"))
        await clock.advance(OWED_AFTER_END_SECONDS - 60)
        await ladder.tick()
        assert list(await store.campaigns.owed_doorknock_notices()) == [again.id]  # a day: still tried
        tried = len(never.steps_then)
        await clock.advance(120)
        await ladder.tick()
        assert await store.campaigns.owed_doorknock_notices() == {} and len(never.steps_then) == tried


async def test_a_door_knock_notice_owed_for_a_cancelled_campaign_is_dropped(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path)
    clock = FakeClock()
    async with in_memory(clock) as store:
        await seed(store, [H("silent", "m")])
        svc = CampaignService(store, cfg, clock)
        c = await svc.launch(CampaignSpec("訓練", CampaignKind.DRILL, ("city",), MSG))
        notes = Failing(store, fails={0})
        ladder = LadderScheduler(store.campaigns, clock, notifier=notes)
        await clock.advance(1800)
        assert await ladder.tick() == [(c.id, 1), (c.id, 2), (c.id, 3)]
        assert await store.campaigns.cancel(c.id, clock.now())  # a false alarm, taken back
        await clock.advance(60)
        assert await ladder.tick() == []
        assert notes.steps_then == [4] and notes.calls == []  # not tried again: nobody walks for it


async def test_a_notice_that_never_goes_out_never_stops_the_other_campaigns_ladders(tmp_path: Path) -> None:
    """Review: the retry's wait doubled without bound: after about a thousand failures (85 hours at the
    cap) the doubling overflowed inside the handler, and every tick failed before any campaign's ladder
    moved on."""
    cfg = make_cfg(tmp_path)
    clock = FakeClock()
    async with in_memory(clock) as store:
        await seed(store, [H("silent", "m")])
        svc = CampaignService(store, cfg, clock)
        first = await svc.launch(CampaignSpec("訓練", CampaignKind.DRILL, ("city",), MSG))
        notes = Failing(store, fails=set(range(100_000)))  # its store never answers
        ladder = LadderScheduler(store.campaigns, clock, notifier=notes)
        await clock.advance(1800)
        assert await ladder.tick() == [(first.id, 1), (first.id, 2), (first.id, 3)]
        for _ in range(1100):
            await clock.advance(300)
            await ladder.tick()
        assert len(notes.steps_then) > 1050  # tried every 5 minutes all along
        second = await svc.launch(CampaignSpec("訓練2", CampaignKind.DRILL, ("city",), MSG))
        await clock.advance(600)
        assert (second.id, 1) in await ladder.tick()


async def test_a_household_imported_during_a_campaign_is_asked_and_ends_answered_or_listed(tmp_path: Path) -> None:
    """Review: a corrected roster imported during a city-wide event added households that no running
    campaign asked, counted or listed. The leader's ladder enrols them within a minute and sends them
    step 0; they then go the ladder's way, to the door-knock list if they stay silent."""
    cfg = make_cfg(tmp_path)
    clock = FakeClock()
    async with in_memory(clock) as store:
        first = [H("early", "m")]
        ids = await seed(store, first)
        svc = CampaignService(store, cfg, clock)
        c = await svc.launch(CampaignSpec("訓練", CampaignKind.DRILL, ("city",), MSG))
        snd = senders(clock)
        notes = Notes()
        ladder = LadderScheduler(store.campaigns, clock, notifier=notes, enrol_newcomers=svc.enrol_newcomers)

        async def wave() -> dict[ChannelName, list[int]]:
            for s in snd.values():
                s.sent.clear()
            await Dispatcher(store, snd, cfg, clock).burst()
            return {ch: s.households() for ch, s in snd.items() if s.sent}

        assert await wave() == {"sms": [ids["early"]]}
        assert await ladder.tick() == []  # nobody new: nothing enrolled
        await clock.advance(120)
        imported = [*first, H("late", "m"), H("no_contact", "")]
        ids = await seed(store, imported)  # a corrected roster, imported during the drill
        assert await ladder.tick() == []
        assert await wave() == {"sms": [ids["late"]]}
        await clock.advance(30)
        ids = await seed(store, [*imported, H("later", "m")])
        assert await ladder.tick() == []
        assert await wave() == {}  # a campaign looks once a minute
        await clock.advance(30)
        assert await ladder.tick() == []
        assert await wave() == {"sms": [ids["later"]]}
        assert set(await store.campaigns.household_statuses(c.id)) == set(ids.values())
        await answer(store, c.id, ids["late"], "safe")
        await clock.advance(3600)
        assert await ladder.tick() == [(c.id, 1), (c.id, 2), (c.id, 3)]
        # every household ends answered or on the list
        assert await store.campaigns.doorknock_households(c.id) == sorted(
            [ids["early"], ids["no_contact"], ids["later"]])
        assert (await svc.stats(c.id))["households"] == 4


async def test_a_newcomer_to_two_running_campaigns_is_in_both_in_one_tick(tmp_path: Path) -> None:
    """Review: each campaign looked on its own minute, so a household new to a city-wide event and a
    district's was asked by one a minute before the other had it: its answer was not the second's."""
    cfg = make_cfg(tmp_path)
    clock = FakeClock()
    async with in_memory(clock) as store:
        first = [H("a", "m")]
        await seed(store, first)
        svc = CampaignService(store, cfg, clock)
        city = await svc.launch(CampaignSpec("訓練", CampaignKind.DRILL, ("city",), MSG))
        ladder = LadderScheduler(store.campaigns, clock, enrol_newcomers=svc.enrol_newcomers)
        await ladder.tick()
        await clock.advance(30)
        district = await svc.launch(CampaignSpec("北地区の訓練", CampaignKind.DRILL, ("district:北地区",), MSG))
        await ladder.tick()  # the district's drill, begun between two looks
        await clock.advance(30)
        ids = await seed(store, [*first, H("new", "m")])
        await ladder.tick()
        for c in (city, district):
            assert ids["new"] in await store.campaigns.household_statuses(c.id)


async def test_a_scope_name_gone_from_the_roster_leaves_the_rest_of_the_scope_its_newcomers(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path)
    clock = FakeClock()
    async with in_memory(clock) as store:
        first = [H("a", "m")]
        await seed(store, first)
        svc = CampaignService(store, cfg, clock)
        c = await svc.launch(CampaignSpec("訓練", CampaignKind.DRILL, ("association:桜町一丁目町会",), MSG))
        ids = await seed(store, [*first, H("new", "m")])
        gone = dataclasses.replace(c, scope=("group:消えた町会/1班", "district:消えた地区", "association:桜町一丁目町会"))
        assert await svc.enrol_newcomers(gone) == 1
        assert ids["new"] in await store.campaigns.household_statuses(c.id)

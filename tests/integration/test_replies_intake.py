"""The intake and the in-memory store, without HTTP: concurrent answers, dedupe, follow-ups, scopes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from replies_fixtures import ASSOC_A, ASSOC_B, IntakeEnv, intake_only, start_campaign

from safetynet.auth import Viewer
from safetynet.domain import CampaignKind, Role, Scope, Status
from safetynet.domain.replies import ReplyDetails, ReplyEvent, ReplyTarget, RunningTarget
from safetynet.replies.intake import NotFound, ReplyError, UnknownToken


class Recorder:
    """A HelpNotifier that remembers what it was asked (our own protocol, not a client library)."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int, bool]] = []

    async def need_help(self, campaign_id: int, household_id: int, follow_up: bool = False) -> None:
        self.calls.append((campaign_id, household_id, follow_up))


async def test_concurrent_answers_are_all_stored_and_heard_once(tmp_path: Path) -> None:
    async with intake_only(tmp_path) as env:
        events: list[ReplyEvent] = []
        env.store.replies.add_listener(events.append)
        keys = ["A-001", "A-002", "A-003", "A-004", "B-001"]
        results = await asyncio.gather(*(
            env.intake.answer(env.token(k), Status.SAFE, "web", f"c-{k}-{n}") for k in keys for n in range(20)
        ))
        assert sum(r.recorded for r in results) == 100
        assert await env.store.replies.count_replies(env.campaign_id, ("safe",)) == 100
        counts: dict[str, int] = {}
        for c in await env.store.stats.counts(env.campaign_id):
            counts[c.status] = counts.get(c.status, 0) + c.n
        assert counts == {"safe": 5}
        assert sum(len(e.transitions) for e in events) == 5  # one transition a household, after commit


async def test_same_key_twice_in_one_batch_is_stored_once(tmp_path: Path) -> None:
    async with intake_only(tmp_path) as env:
        token = env.token("A-001")
        first, second = await asyncio.gather(
            env.intake.answer(token, "safe", "web", "same-key"), env.intake.answer(token, "safe", "web", "same-key"))
        assert sorted([first.recorded, second.recorded]) == [False, True]
        assert await env.history("A-001") == ["safe"]


async def test_concurrent_answers_share_sqlite_commits(tmp_path: Path) -> None:
    async with intake_only(tmp_path, sqlite=True) as env:
        keys = ["A-001", "A-002", "A-003", "A-004", "B-001"]
        results = await asyncio.gather(*(
            env.intake.answer(env.token(k), Status.SAFE, "web", f"c-{k}-{n}") for k in keys for n in range(20)
        ))
        assert sum(r.recorded for r in results) == 100
        assert await env.store.replies.count_replies(env.campaign_id, ("safe",)) == 100
        counters = env.store.replies.counters()
        assert counters["writes"] == 100 and counters["write_batches"] < 10  # one commit serves many answers
        assert counters["lookups"] == 0  # each answer's household was read inside its commit


async def test_same_key_twice_in_one_sqlite_batch_is_stored_once(tmp_path: Path) -> None:
    async with intake_only(tmp_path, sqlite=True) as env:
        token = env.token("A-001")
        first, second = await asyncio.gather(
            env.intake.answer(token, "safe", "web", "same-key"), env.intake.answer(token, "safe", "web", "same-key"))
        assert sorted([first.recorded, second.recorded]) == [False, True]
        assert env.store.replies.counters()["write_batches"] == 1
        assert await env.history("A-001") == ["safe"]


async def test_read_never_downgrades_and_answers_must_be_answers(tmp_path: Path) -> None:
    async with intake_only(tmp_path) as env:
        await env.intake.answer(env.token("A-001"), "safe", "web", "k1")
        result = await env.intake.read(env.token("A-001"), "web")
        assert not result.recorded and await env.status("A-001") == Status.SAFE
        with pytest.raises(ReplyError):
            await env.intake.answer(env.token("A-001"), "read", "web", "k2")
        with pytest.raises(UnknownToken):
            await env.intake.answer("x" * 22, "safe", "web", "k3")


async def test_need_help_alerts_once_and_again_for_new_details(tmp_path: Path) -> None:
    async with intake_only(tmp_path) as env:
        recorder = Recorder()
        env.intake.notifier = recorder
        hh = env.hh("A-002").id
        await env.intake.answer(env.token("A-002"), "need_help", "web", "h1")
        await env.intake.answer(env.token("A-002"), "need_help", "web", "h2")  # nothing new to say
        await env.intake.answer(env.token("A-002"), "need_help", "web", "h3", ReplyDetails(note="水がない"))
        await env.intake.answer(env.token("A-002"), "need_help", "web", "h3", ReplyDetails(note="水がない"))  # retry
        await env.intake.idle()
        assert recorder.calls == [(env.campaign_id, hh, False), (env.campaign_id, hh, True)]


async def test_help_again_after_safe_is_a_new_alert(tmp_path: Path) -> None:
    """助けが必要, then 無事 (the request stays open, the card says so), then 助けが必要 again, no words:
    the head is alerted anew (QA: nothing, or a 「追記」 when it came with words)."""
    async with intake_only(tmp_path) as env:
        recorder = Recorder()
        env.intake.notifier = recorder
        hh = env.hh("A-002").id
        for key, status in (("a1", "need_help"), ("a2", "safe"), ("a3", "need_help"), ("a4", "need_help")):
            await env.intake.answer(env.token("A-002"), status, "web", key)
        await env.intake.idle()
        assert recorder.calls == [(env.campaign_id, hh, False), (env.campaign_id, hh, False)]


async def test_staff_actions_follow_scope_and_campaign_state(tmp_path: Path) -> None:
    async with intake_only(tmp_path) as env:
        head_a = Viewer(Role.ASSOCIATION_HEAD, Scope("association", ASSOC_A), staff_id=None, login="head-a")
        with pytest.raises(NotFound):
            await env.intake.confirm_in_person(head_a, env.campaign_id, env.hh("B-001").id, "visit")
        with pytest.raises(ValueError):
            await env.intake.confirm_in_person(head_a, env.campaign_id, env.hh("A-001").id, "telepathy")
        with pytest.raises(NotFound):
            await env.intake.mark_handled(head_a, env.campaign_id, env.hh("A-001").id)  # never asked for help
        assert await env.store.campaigns.close(env.campaign_id, env.clock.now())
        await env.clock.advance(7 * 24 * 3600)  # a paper drill entered a week later still counts
        result = await env.intake.confirm_in_person(head_a, env.campaign_id, env.hh("A-001").id, "paper", "用紙で確認")
        assert result.recorded and await env.status("A-001") == Status.CONFIRMED_IN_PERSON
        assert await env.intake.resolve(env.token("A-001")) is None  # residents' links have expired


def web_key(key: str):  # type: ignore[no-untyped-def]
    return lambda t: f"web:{t.campaign_id}:{t.household_id}:{key}"


async def test_answers_by_token_take_one_trip_each_batched_on_sqlite(tmp_path: Path) -> None:
    async with intake_only(tmp_path, sqlite=True) as env:
        keys = ["A-001", "A-002", "A-003", "A-004", "B-001"]
        results = await asyncio.gather(*(
            env.intake.answer_token(env.token(k), Status.SAFE, "web", web_key(f"{k}-{n}")) for k in keys for n in range(20)
        ))
        assert sum(r.recorded for r in results) == 100
        assert {r.target.household_id for r in results} == {env.hh(k).id for k in keys}
        assert await env.store.replies.count_replies(env.campaign_id, ("safe",)) == 100
        counters = env.store.replies.counters()
        assert counters["writes"] == 100 and counters["write_batches"] < 10
        assert counters["lookups"] == 0  # the targets were read inside the commits


async def test_an_answer_by_token_is_refused_as_the_household_stands_when_it_is_stored(tmp_path: Path) -> None:
    async with intake_only(tmp_path, sqlite=True) as env:
        recorder = Recorder()
        env.intake.notifier = recorder
        token, hh = env.token("A-002"), env.hh("A-002").id
        asked = await env.intake.answer_token(token, "need_help", "web", web_key("h1"))
        assert asked.recorded and asked.target.status == Status.PENDING  # the target as read before it

        def stale(t):  # type: ignore[no-untyped-def]
            return t.status == Status.NEED_HELP

        refused = await env.intake.answer_token(token, "safe", "web", web_key("s1"), refuse=stale)
        assert refused.refused and not refused.recorded and refused.target.status == Status.NEED_HELP
        assert await env.history("A-002") == ["need_help"]
        with pytest.raises(ReplyError):
            await env.intake.answer_token(token, "read", "web", web_key("r1"))
        with pytest.raises(UnknownToken):
            await env.intake.answer_token("x" * 22, "safe", "web", web_key("u1"))
        with pytest.raises(UnknownToken):
            await env.intake.answer_token("not a token", "safe", "web", web_key("u2"))
        await env.intake.idle()
        assert recorder.calls == [(env.campaign_id, hh, False)]
        # closed: answers are still taken within the grace, and refused as unknown after it
        assert await env.store.campaigns.close(env.campaign_id, env.clock.now())
        await env.clock.advance(3600)
        assert (await env.intake.answer_token(token, "safe", "web", web_key("late"))).recorded
        await env.clock.advance(env.intake.grace_seconds)
        with pytest.raises(UnknownToken):
            await env.intake.answer_token(token, "need_help", "web", web_key("too-late"))
        assert await env.history("A-002") == ["need_help", "safe"]


class CountedLookups:
    """Counts the store's reads of a household's running campaigns (the store answers them itself)."""

    def __init__(self, env: IntakeEnv) -> None:
        self.calls = 0
        real = env.store.replies.running_targets_of

        async def counted(household_id: int) -> list[RunningTarget]:
            self.calls += 1
            return await real(household_id)

        env.store.replies.running_targets_of = counted  # type: ignore[method-assign]


@pytest.mark.parametrize("sqlite", [False, True], ids=["memory", "sqlite"])
async def test_a_closed_campaign_s_link_answers_the_household_s_running_campaign(tmp_path: Path, sqlite: bool) -> None:
    """QA: after the drill closed and a real event began, 助けが必要 from the drill's link (still in the
    inbox) went into the closed drill; the event showed the household unanswered and kept calling."""
    async with intake_only(tmp_path, sqlite=sqlite) as env:
        recorder = Recorder()
        env.intake.notifier = recorder
        drill, hh = env.campaign_id, env.hh("A-002").id
        lookups = CountedLookups(env)
        assert (await env.intake.answer_token(env.token("A-001"), "safe", "web", web_key("d1"))).recorded
        assert lookups.calls == 0  # a running campaign's link: no read more
        assert await env.store.campaigns.close(drill, env.clock.now())
        real = await start_campaign(env, CampaignKind.REAL)
        result = await env.intake.answer_token(env.token("A-002", drill), "need_help", "web", web_key("h1"),
                                               ReplyDetails(note="足をけがした"))
        assert result.recorded and not result.refused
        assert result.moved_from is not None and result.moved_from.campaign_id == drill
        assert (result.target.campaign_id, result.target.household_id) == (real, hh)
        assert env.intake.answered_by(env.token("A-002", drill), result) == env.token("A-002", real)
        assert await env.status("A-002", real) == Status.NEED_HELP
        assert await env.status("A-002", drill) == Status.PENDING
        assert [h.note for h in await env.store.replies.history(real, hh)] == ["足をけがした"]
        assert await env.history("A-002") == []  # nothing in the closed drill
        await env.intake.idle()
        assert recorder.calls == [(real, hh, False)]  # the event's heads are told
        # the same form again is the same answer: stored once
        again = await env.intake.answer_token(env.token("A-002", drill), "need_help", "web", web_key("h1"))
        assert not again.recorded and again.moved_from is not None
        assert [h.status for h in await env.store.replies.history(real, hh)] == ["need_help"]
        # the event's own link: no read more than before
        before = lookups.calls
        assert (await env.intake.answer_token(env.token("A-003", real), "safe", "web", web_key("r1"))).recorded
        assert lookups.calls == before
        assert await env.intake.running_instead(await _target(env, real, "A-003")) is None


async def _target(env: IntakeEnv, campaign_id: int, key: str) -> ReplyTarget:
    t = await env.store.replies.target(campaign_id, env.hh(key).id)
    assert t is not None
    return t


async def test_a_closed_campaign_s_link_without_a_running_one_keeps_its_grace(tmp_path: Path) -> None:
    async with intake_only(tmp_path) as env:
        drill = env.campaign_id
        assert await env.store.campaigns.close(drill, env.clock.now())
        other = await start_campaign(env, scope=["association:" + ASSOC_B])  # A-001 is not in it
        await env.clock.advance(3600)
        late = await env.intake.answer_token(env.token("A-001"), "safe", "web", web_key("late"))
        assert late.recorded and late.moved_from is None and late.target.campaign_id == drill
        assert env.intake.answered_by(env.token("A-001"), late) == env.token("A-001")
        assert await env.history("A-001") == ["safe"]
        # 梅町's household goes on to the running one
        moved = await env.intake.answer_token(env.token("B-001"), "safe", "web", web_key("b"))
        assert moved.target.campaign_id == other and await env.history("B-001") == []
        await env.clock.advance(env.intake.grace_seconds)
        with pytest.raises(UnknownToken):  # past the grace the old link leads nowhere, as before
            await env.intake.answer_token(env.token("B-001"), "need_help", "web", web_key("b2"))


async def test_a_real_event_takes_the_answer_before_a_drill_started_after_it(tmp_path: Path) -> None:
    async with intake_only(tmp_path, sqlite=True) as env:
        first = env.campaign_id
        assert await env.store.campaigns.close(first, env.clock.now())
        await env.clock.advance(60)
        real = await start_campaign(env, CampaignKind.REAL)
        await env.clock.advance(60)
        await start_campaign(env, title="夜間訓練")  # a drill started during the event
        result = await env.intake.answer_token(env.token("A-001"), "need_help", "web", web_key("h"))
        assert result.target.campaign_id == real and await env.status("A-001", real) == Status.NEED_HELP


async def test_a_cancelled_campaign_s_link_is_not_handed_on(tmp_path: Path) -> None:
    async with intake_only(tmp_path) as env:
        cancelled = env.campaign_id
        assert await env.store.campaigns.cancel(cancelled, env.clock.now())
        await start_campaign(env)
        target = await _target(env, cancelled, "A-001")
        assert await env.intake.running_instead(target) is None

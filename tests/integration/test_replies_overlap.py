"""A household in two running campaigns of the same kind: its answer counts in both.

QA: with a city-wide real event and a later one for one association running over the same
household, an SMS 「1」 was recorded in the association's event only (the answering rule picks one
campaign): the city-wide event's dashboard and /city kept the household 未回答, its ladder kept
texting and calling, and it ended on the door-knock list. A resident's answer now goes to every
running campaign of the same kind over the household (`domain.replies.shared_with`), never across
kinds (a drill's answer is no real event's, and the other way round).
"""

from __future__ import annotations

from pathlib import Path

from replies_fixtures import ASSOC_A, Env, add_staff, add_staff_over, running_app, start_campaign

from safetynet.auth import Viewer
from safetynet.channels.base import OutboundMessage
from safetynet.domain import CampaignKind, Role, Scope, Status
from safetynet.domain.campaigns import Campaign
from safetynet.domain.replies import HelpRow, RunningTarget
from safetynet.replies.escalate import HelpEscalation
from safetynet.replies.notify import StaffNotifier
from safetynet.replies.tokens import reply_url

CITY_EVENT = "市内全域 地震 安否確認"
ASSOC_EVENT = "桜町一丁目 地震 安否確認"


async def _two_events(env: Env) -> tuple[int, int]:
    """A city-wide real event, then one for association A started later, beside the seeded drill:
    (city-wide event, association's event)."""
    await env.clock.advance(60)
    city = await start_campaign(env, CampaignKind.REAL, title=CITY_EVENT)
    await env.clock.advance(60)
    assoc = await start_campaign(env, CampaignKind.REAL, scope=(f"association:{ASSOC_A}",), title=ASSOC_EVENT)
    await env.clock.advance(5)  # past the intake's 2 s memory of the running campaigns
    return city, assoc


async def _replies(env: Env, key: str, campaign_id: int) -> list[str]:
    return [h.status for h in await env.store.replies.history(campaign_id, env.hh(key).id)]


async def _safe_in(env: Env, campaign_id: int) -> int:
    a = env.hh("A-001").association_id
    return (await env.store.dashboard.counts(campaign_id, [a]))[a]["safe"]


async def test_an_sms_answer_counts_in_both_real_events_and_not_in_the_drill(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        drill = env.campaign_id
        city, assoc = await _two_events(env)
        said = await env.sandbox.fake("sms").reply("+819011110002", "1")  # A-002, alone on its phone
        assert await env.status("A-002", assoc) == Status.SAFE  # the campaign the answer is for
        assert await env.status("A-002", city) == Status.SAFE  # and the city-wide one: no longer 未回答
        assert await _replies(env, "A-002", city) == await _replies(env, "A-002", assoc) == ["safe"]
        assert await _safe_in(env, city) == await _safe_in(env, assoc) == 1
        assert await _replies(env, "A-002", drill) == []  # never across kinds
        assert await env.status("A-002", drill) != Status.SAFE
        # the resident is told once, in the answer to their SMS
        assert said.status == 200 and said.body.count("<Message>") == 1 and "無事" in said.body


async def test_a_reply_link_answer_counts_in_both_events_and_a_retry_stays_one_reply_each(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        drill = env.campaign_id
        city, assoc = await _two_events(env)
        for _ in range(2):  # the second: the browser's retry of the same POST
            async with env.http.post(f"{env.url}/r/{env.token('A-001', city)}",
                                     data={"status": "safe", "k": "tap-0001"}) as resp:
                page = await resp.text()
                assert resp.status == 200 and "「無事」と記録しました" in page
                assert ASSOC_EVENT not in page  # the resident is told of the link's campaign only
        assert await _replies(env, "A-001", city) == await _replies(env, "A-001", assoc) == ["safe"]
        assert await env.status("A-001", assoc) == Status.SAFE
        assert await _replies(env, "A-001", drill) == []
        # the household that shares A-001's phone answered nothing
        assert await _replies(env, "A-004", city) == await _replies(env, "A-004", assoc) == []


async def test_a_household_in_one_event_only_is_answered_there_only(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        city, assoc = await _two_events(env)
        async with env.http.post(f"{env.url}/r/{env.token('B-001', city)}",
                                 data={"status": "safe", "k": "answer-b001"}) as resp:
            assert resp.status == 200
        assert await env.status("B-001", city) == Status.SAFE
        assert await env.store.replies.target(assoc, env.hh("B-001").id) is None
        assert await env.store.replies.count_replies(assoc) == 0


async def test_a_telegram_button_of_one_event_answers_both(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        city, assoc = await _two_events(env)
        token = env.token("A-003", city)  # the city-wide event's message, with its buttons
        link = reply_url(env.url, token)
        await env.senders["telegram"].send(OutboundMessage("telegram", 1, city, env.hh("A-003").id, "5550003",
                                                           f"{CITY_EVENT} {link}", link, token, "en", False, CITY_EVENT))
        assert (await env.sandbox.fake("telegram").press(5550003, "safe")).status == 200
        assert await _replies(env, "A-003", city) == await _replies(env, "A-003", assoc) == ["safe"]
        acks = [r for r in env.sandbox.records if r.kind == "answer_callback"]
        assert len(acks) == 1 and ASSOC_EVENT not in (acks[0].text or "")  # told once, of the pressed event


async def test_need_help_opens_a_request_in_each_event_and_alerts_each_event_s_heads(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        await add_staff(env, "head-a", Role.ASSOCIATION_HEAD, ASSOC_A, telegram="8880001")
        drill = env.campaign_id
        city, assoc = await _two_events(env)
        hh = env.hh("A-002").id
        async with env.http.post(f"{env.url}/r/{env.token('A-002', assoc)}/answer",
                                 json={"status": "need_help", "key": "push-0001"}) as resp:
            doc = await resp.json()
        assert resp.status == 200 and doc["recorded"] is True
        assert CITY_EVENT not in doc["message"]
        for campaign in (city, assoc):
            assert await env.status("A-002", campaign) == Status.NEED_HELP
            assert [r.household_id for r in await env.store.replies.help_list(campaign)] == [hh]
            panel = await env.store.dashboard.help_panel(campaign, [env.hh("A-002").association_id])
            assert [h.household_id for h in panel] == [hh]
        assert await env.store.replies.help_list(drill) == []
        await env.dispatch()
        # (the start of each event told its heads first: its own test in test_replies_help)
        alerts = [r.text or "" for r in env.staff_messages("telegram") if "【安否確認の開始】" not in (r.text or "")]
        assert len(alerts) == 2  # one per event, as each event's heads are told
        assert any(CITY_EVENT in a for a in alerts) and any(ASSOC_EVENT in a for a in alerts)


async def test_a_call_for_help_kept_since_before_the_second_event_began_is_its_too(tmp_path: Path) -> None:
    """Review: the city-wide event's 助けが必要 tapped offline, sent after the association's event began,
    stayed out of it (the tap's time held it back as a late 無事 is): a call for help is taken whenever
    it was made. A 無事 tapped then is still the earlier event's only."""
    async with running_app(tmp_path) as env:
        city, assoc = await _two_events(env)
        kept = 90_000  # tapped 90 s ago: after the city-wide event began, before the association's
        async with env.http.post(f"{env.url}/r/{env.token('A-001', city)}/answer",
                                 json={"status": "safe", "key": "sw-safe", "age_ms": kept}) as resp:
            assert resp.status == 200 and (await resp.json())["recorded"] is True
        assert await _replies(env, "A-001", city) == ["safe"]
        assert await _replies(env, "A-001", assoc) == []
        hh = env.hh("A-002").id
        async with env.http.post(f"{env.url}/r/{env.token('A-002', city)}/answer",
                                 json={"status": "need_help", "key": "sw-help", "age_ms": kept}) as resp:
            assert resp.status == 200 and (await resp.json())["recorded"] is True
        for campaign in (city, assoc):
            assert await env.status("A-002", campaign) == Status.NEED_HELP
            assert [r.household_id for r in await env.store.replies.help_list(campaign)] == [hh]
        await env.intake.idle()


async def test_a_drill_beside_a_real_event_takes_none_of_its_answers_nor_gives_its_own(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        drill = env.campaign_id
        city, assoc = await _two_events(env)
        async with env.http.post(f"{env.url}/r/{env.token('A-003', drill)}/answer",
                                 json={"status": "safe", "key": "drill-0001"}) as resp:
            assert resp.status == 200 and (await resp.json())["recorded"] is True
        assert await _replies(env, "A-003", drill) == ["safe"]
        assert await _replies(env, "A-003", city) == await _replies(env, "A-003", assoc) == []
        async with env.http.post(f"{env.url}/r/{env.token('A-001', city)}/answer",
                                 json={"status": "need_help", "key": "real-0001"}) as resp:
            assert resp.status == 200
        assert await _replies(env, "A-001", assoc) == ["need_help"]
        assert await _replies(env, "A-001", drill) == []


async def test_the_household_s_campaigns_are_read_only_when_another_of_the_kind_runs(tmp_path: Path) -> None:
    """The reply POST is the hot path of a city answering at once: with one campaign of the kind
    running, it reads nothing more than before (the running campaigns are kept 2 s per process)."""
    async with running_app(tmp_path) as env:
        households: list[int] = []
        campaign_reads: list[int] = []
        running_targets_of, running = env.store.replies.running_targets_of, env.store.campaigns.running

        async def counted_targets(household_id: int) -> list[RunningTarget]:
            households.append(household_id)
            return await running_targets_of(household_id)

        async def counted_running() -> list[Campaign]:
            campaign_reads.append(1)
            return await running()

        env.store.replies.running_targets_of = counted_targets  # type: ignore[method-assign]
        env.store.campaigns.running = counted_running  # type: ignore[method-assign]
        for n, key in enumerate(("A-001", "A-002", "A-003", "B-001")):  # the seeded drill alone
            async with env.http.post(env.reply_url(key), data={"status": "safe", "k": f"answer-{n:04}"}) as resp:
                assert resp.status == 200
        assert households == [] and len(campaign_reads) == 1  # one read for all four, none per answer
        await env.clock.advance(1.5)
        async with env.http.post(env.reply_url("A-004"), data={"status": "safe", "k": "answer-0005"}) as resp:
            assert resp.status == 200
        assert households == [] and len(campaign_reads) == 1
        # another drill over the same households: the answers to it read the household's campaigns
        second = await start_campaign(env)
        async with env.http.post(f"{env.url}/r/{env.token('A-001', second)}",
                                 data={"status": "need_help", "k": "answer-0006"}) as resp:
            assert resp.status == 200
        assert households == [env.hh("A-001").id] and len(campaign_reads) == 2  # its id was not among those kept
        assert await env.status("A-001") == Status.NEED_HELP
        await env.intake.idle()


async def _help(env: Env, campaign_id: int, handled_too: bool = False) -> list[HelpRow]:
    return await env.store.replies.help_list(campaign_id, include_handled=handled_too)


async def _escalated_after_the_wait(env: Env) -> list[tuple[int, int]]:
    """The escalation check (`replies.escalate`) once `help_escalate_minutes` have gone by, and what the
    district's head received of it."""
    await env.clock.advance(env.cfg.replies.help_escalate_minutes * 60 + 60)
    esc = HelpEscalation(env.store, StaffNotifier(env.store, env.cfg, env.senders, env.clock), env.clock,
                         env.cfg.replies.help_escalate_minutes)
    due = await esc.check()
    await env.dispatch()
    return due


async def test_help_marked_handled_in_one_event_is_handled_in_the_other_and_escalates_nowhere(tmp_path: Path) -> None:
    """QA: the head marked the call for help handled from the city-wide event's alert; the association's
    event kept it open, and 30 minutes later the district head was told of an unhandled call for help."""
    async with running_app(tmp_path) as env:
        head = await add_staff(env, "head-a", Role.ASSOCIATION_HEAD, ASSOC_A, telegram="8880001")
        await add_staff_over(env, "district-1", Role.DISTRICT_HEAD, "district:桜地区", telegram="7770002")
        city, assoc = await _two_events(env)
        hh = env.hh("A-002").id
        async with env.http.post(f"{env.url}/r/{env.token('A-002', city)}/answer",
                                 json={"status": "need_help", "key": "push-0002"}) as resp:
            assert resp.status == 200
        viewer = Viewer(Role.ASSOCIATION_HEAD, Scope("association", ASSOC_A), staff_id=head.id, login="head-a")
        assert await env.intake.mark_handled(viewer, city, hh) is True  # from the city-wide event's alert
        for campaign in (city, assoc):
            assert await _help(env, campaign) == []
            (row,) = await _help(env, campaign, handled_too=True)
            assert row.household_id == hh and row.handled_by == "head-a" and row.handled_at == env.clock.now()
        assert await _escalated_after_the_wait(env) == []
        assert [r for r in env.staff_messages("telegram") if r.address == "7770002"] == []  # nobody told

        # the undo of a wrong tap, from the same alert: open again in both
        assert await env.intake.reopen_help(viewer, city, hh) is True
        for campaign in (city, assoc):
            (row,) = await _help(env, campaign)
            assert row.household_id == hh and row.handled_at is None
        assert sorted(await _escalated_after_the_wait(env)) == sorted([(city, hh), (assoc, hh)])


async def test_a_household_in_one_event_only_is_marked_handled_there_only(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        admin = await add_staff_over(env, "city-1", Role.CITY_ADMIN, "city")
        city, assoc = await _two_events(env)
        for key in ("A-002", "B-001"):  # A-002 in both events; B-001 in the city-wide one only
            async with env.http.post(f"{env.url}/r/{env.token(key, city)}/answer",
                                     json={"status": "need_help", "key": f"help-{key}"}) as resp:
                assert resp.status == 200
        viewer = Viewer(Role.CITY_ADMIN, Scope.parse("city"), staff_id=admin.id, login="city-1")
        assert await env.intake.mark_handled(viewer, city, env.hh("B-001").id) is True
        assert [r.household_id for r in await _help(env, city)] == [env.hh("A-002").id]
        (row,) = await _help(env, assoc, handled_too=True)  # the association's event: as it was
        assert row.household_id == env.hh("A-002").id and row.handled_at is None
        assert await env.intake.reopen_help(viewer, city, env.hh("B-001").id) is True
        (row,) = await _help(env, assoc, handled_too=True)
        assert row.household_id == env.hh("A-002").id and row.handled_at is None

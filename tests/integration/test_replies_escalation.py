"""A help request nobody marks handled goes, once, to the standing-in staff ("no one left behind").

The check runs on the fake clock as `serve` runs it (`HelpEscalation.run`, every CHECK_SECONDS); what
the sandbox received after the dispatcher's burst is what is checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from replies_fixtures import ASSOC_A, Env, add_staff, add_staff_over, running_app, start_campaign

from safetynet.auth import Viewer
from safetynet.clock import FakeClock
from safetynet.domain import CampaignKind, CampaignState, Role, Scope, Status
from safetynet.domain.consent import Disclosure
from safetynet.domain.replies import ESCALATION_CLAIM_SECONDS, HelpRow, escalation_cutoff, escalation_due
from safetynet.replies.escalate import CHECK_SECONDS, HelpEscalation
from safetynet.replies.intake import ReplyIntake
from safetynet.replies.notify import NotifyReport, StaffNotifier, unhandled_text
from safetynet.store import open_store
from safetynet.store.errors import StoreUnavailable

UNHANDLED = "【未対応】"

# -- the rule -----------------------------------------------------------------------------------


def test_the_rule_waits_the_minutes_from_the_opening_or_the_reopening() -> None:
    now = 10_000.0
    cutoff = escalation_cutoff(now, 30)
    assert cutoff == now - 1800
    running = CampaignState.RUNNING
    assert not escalation_due(now - 1799, None, None, None, running, cutoff)
    assert escalation_due(now - 1800, None, None, None, running, cutoff)
    assert not escalation_due(now - 3600, None, now - 100, None, running, cutoff)  # handled
    assert not escalation_due(now - 3600, None, None, now - 10, running, cutoff)  # claimed a moment ago
    stale = now - ESCALATION_CLAIM_SECONDS
    assert escalation_due(now - 3600, None, None, stale, running, cutoff, told_at=None, stale_claims_before=stale)
    assert not escalation_due(now - 3600, None, None, stale, running, cutoff, told_at=stale, stale_claims_before=stale)
    assert not escalation_due(now - 3600, None, None, None, running, cutoff, status="safe")  # answered since
    assert not escalation_due(now - 3600, now - 60, None, None, running, cutoff)  # reopened a minute ago
    assert escalation_due(now - 7200, now - 1800, None, None, running, cutoff)
    for state in (CampaignState.CLOSED, CampaignState.CANCELLED, CampaignState.DRAFT):
        assert not escalation_due(now - 3600, None, None, None, state, cutoff)
    assert escalation_cutoff(now, 0) is None and escalation_cutoff(now, -5) is None  # off
    assert not escalation_due(0.0, None, None, None, running, None)


def test_the_text_says_it_is_unhandled_then_the_household_as_the_help_alert_shows_it() -> None:
    row = HelpRow(1, 7, 1, "桜町", "桜地区", "1班", "佐藤 花子", "桜町1-1", 2, True, "ja", Status.NEED_HELP, 0.0,
                  None, None, "台所にいます", 1, "home", household_key="A-7", consent="yes")
    ja = unhandled_text(row, "ja", True, "https://x/a/1?campaign=3", "地震訓練", 30)
    assert ja.startswith("【訓練】【未対応】桜町の世帯が助けを求めてから30分、まだ誰も対応済みにしていません。")
    assert "佐藤 花子" in ja and "台所にいます" in ja and ja.endswith("https://x/a/1?campaign=3")
    assert ja.count("【訓練】") == 1 and "配信: 地震訓練" in ja
    en = unhandled_text(row, "en", False, "https://x/a/1", "Quake", 45)
    assert en.startswith("[NOT HANDLED] A household of 桜町 asked for help 45 minutes ago") and "[DRILL]" not in en
    # a `no` household outside a real event: its number and 班 alone, as the help alert
    hidden = unhandled_text(Disclosure(False).help_row(dataclasses.replace(row, consent="no")), "ja", True, "https://x/a/1", "地震訓練", 30)
    assert "A-7" in hidden and "佐藤" not in hidden and "台所" not in hidden


# -- on the fake clock -----------------------------------------------------------------------------


async def _checked(esc: HelpEscalation, clock: FakeClock, seconds: float) -> None:
    """Moves time on and waits until the check has run again and sleeps anew."""
    esc.checked.clear()
    await clock.advance(seconds)
    await asyncio.wait_for(esc.checked.wait(), 10)
    for _ in range(5):
        await asyncio.sleep(0)  # its next wait is on the clock before time moves again


async def _minutes(esc: HelpEscalation, clock: FakeClock, minutes: float) -> None:
    for _ in range(round(minutes * 60 / CHECK_SECONDS)):
        await _checked(esc, clock, CHECK_SECONDS)


@contextlib.asynccontextmanager
async def escalating(env: Env) -> AsyncIterator[HelpEscalation]:
    """The check as `serve` runs it, with this app's minutes (`[replies] help_escalate_minutes`)."""
    notifier = StaffNotifier(env.store, env.cfg, env.senders, env.clock)
    esc = HelpEscalation(env.store, notifier, env.clock, env.cfg.replies.help_escalate_minutes,
                         resend=env.intake.resend_unnotified)
    task = asyncio.create_task(esc.run())
    await asyncio.wait_for(esc.checked.wait(), 10)
    for _ in range(5):
        await asyncio.sleep(0)
    try:
        yield esc
    finally:
        esc.stop()
        await asyncio.wait_for(task, 10)


async def _need_help(env: Env, key: str) -> None:
    async with env.http.post(env.reply_url(key), data={"status": "need_help", "k": f"help-{key}"}) as resp:
        assert resp.status == 200
    # the heads' alert goes on in the background: done before a test's checks, so that the escalation alone
    # works on the store then (under load on PostgreSQL a check twice claimed one of two due requests; its
    # claim skips rows other transactions hold, and the cause was not found)
    await env.intake.idle()


def _escalations(env: Env) -> list[tuple[str, str]]:
    return [(r.address, r.text or "") for r in env.sandbox.messages("telegram") if UNHANDLED in (r.text or "")]


async def test_an_unhandled_request_goes_to_the_district_head_once_after_30_minutes(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        assert env.cfg.replies.help_escalate_minutes == 30  # the default
        await add_staff(env, "head-a", Role.ASSOCIATION_HEAD, ASSOC_A, telegram="8880001")
        await add_staff_over(env, "district-1", Role.DISTRICT_HEAD, "district:桜地区", telegram="7770002")
        await add_staff_over(env, "city-1", Role.CITY_ADMIN, "city", telegram="7770001")
        async with escalating(env) as esc:
            await _need_help(env, "A-002")
            await env.dispatch()
            assert [r.address for r in env.staff_messages("telegram")] == ["8880001"]  # the head, at once

            await _minutes(esc, env.clock, 29)
            await env.dispatch()
            assert _escalations(env) == []
            await _minutes(esc, env.clock, 1)
            await env.dispatch()
            [(to, text)] = _escalations(env)
            assert to == "7770002"  # the district's head, not the city's admins
            assert text.startswith(f"【訓練】【未対応】{ASSOC_A}の世帯が助けを求めてから30分、まだ誰も対応済みにしていません。")
            assert "佐藤 花子" in text and "桜町1-1-2" in text and "配信: 地震 安否確認" in text
            assert text.endswith(f"/a/{env.hh('A-002').association_id}?campaign={env.campaign_id}")

            await _minutes(esc, env.clock, 60)  # once: never again while it stays open
            await env.dispatch()
            assert len(_escalations(env)) == 1
            # whose phones had the household's details, in the audit log: the head's alert, the escalation
            sent = [(e.actor, e.what, e.household_id, e.detail) for e in await env.store.audit.entries()
                    if e.action == "notify"]
            hid = env.hh("A-002").id
            assert sent == [("head-a", "help", hid, "telegram"), ("district-1", "escalation", hid, "telegram")]
            (row,) = await env.store.replies.help_list(env.campaign_id)
            assert row.handled_at is None  # still on the help list, for the head


async def test_a_help_alert_a_store_error_kept_unqueued_is_queued_within_a_round_and_a_half(tmp_path: Path) -> None:
    """Review: the store failed while the head's alert was queued; the request stayed unnotified and only
    a restart looked again, so the head heard nothing and the escalation went to others half an hour on."""
    async with running_app(tmp_path) as env:
        await add_staff(env, "head-a", Role.ASSOCIATION_HEAD, ASSOC_A, telegram="8880001")
        queue_staff = env.store.outbox.queue_staff
        failures = [StoreUnavailable("database is locked")]

        async def failing_once(*args: Any, **kwargs: Any) -> Any:
            if failures:
                raise failures.pop()
            return await queue_staff(*args, **kwargs)

        env.store.outbox.queue_staff = failing_once  # type: ignore[method-assign]
        async with escalating(env) as esc:
            await _need_help(env, "A-002")
            await env.dispatch()
            assert env.staff_messages("telegram") == [] and not failures
            assert await env.store.replies.unnotified_help() == [(env.campaign_id, env.hh("A-002").id)]
            await _checked(esc, env.clock, CHECK_SECONDS)  # 30 s: it may still be under way in another process
            assert env.staff_messages("telegram") == []
            await _checked(esc, env.clock, CHECK_SECONDS)
            await env.dispatch()
            assert [r.address for r in env.staff_messages("telegram")] == ["8880001"]
            assert await env.store.replies.unnotified_help() == []
            await _minutes(esc, env.clock, 2)  # once
            await env.dispatch()
            assert len(env.staff_messages("telegram")) == 1


async def test_a_request_whose_every_alert_failed_goes_to_the_district_at_once(tmp_path: Path) -> None:
    """Review: the head had only LINE (blocked) or Telegram, the deputy's channel failed too: every alert
    failed, nobody was asked to stand in, and the district heard of it half an hour later. Now at the
    next check; while one alert still gets through (or may), the wait is the usual one."""
    async with running_app(tmp_path) as env:
        await add_staff(env, "head-a", Role.ASSOCIATION_HEAD, ASSOC_A, telegram="8880001")
        await add_staff(env, "deputy-a", Role.DEPUTY, ASSOC_A, telegram="8880002")
        await add_staff_over(env, "district-1", Role.DISTRICT_HEAD, "district:桜地区", telegram="7770002")
        env.sandbox.ctx.state.faults.dead.add("8880001")  # the head blocked the bot
        async with escalating(env) as esc:
            await _need_help(env, "A-002")
            await env.dispatch()
            assert [r.address for r in env.staff_messages("telegram")] == ["8880002"]  # the deputy has it
            await _minutes(esc, env.clock, 5)
            await env.dispatch()
            assert _escalations(env) == []  # someone of the association heard: the usual wait

            env.sandbox.ctx.state.faults.dead.add("8880002")  # now the deputy's chat fails as well
            await _need_help(env, "A-003")
            await env.dispatch()
            assert _escalations(env) == []
            await _checked(esc, env.clock, CHECK_SECONDS)
            await env.dispatch()
            [(to, text)] = _escalations(env)
            assert to == "7770002"  # the district's head
            assert "連絡がつかないおそれ" in text and "Smith John" in text and "佐藤" not in text  # A-003, not A-002
            # once: the next checks tell nobody again
            await _minutes(esc, env.clock, 2)
            await env.dispatch()
            assert len(_escalations(env)) == 1


async def _asked_while_the_outbox_is_down(env: Env, *keys: str) -> None:
    """These households ask for help while the outbox refuses writes: their heads' alerts stay unqueued."""
    queue_staff = env.store.outbox.queue_staff

    async def down(*args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable("database is locked")

    env.store.outbox.queue_staff = down  # type: ignore[method-assign]
    try:
        for key in keys:
            await _need_help(env, key)
    finally:
        env.store.outbox.queue_staff = queue_staff  # type: ignore[method-assign]


def _another_process(env: Env) -> ReplyIntake:
    """The intake of another process on the same store (a restart, a second web process)."""
    return ReplyIntake(env.store, env.cfg, env.clock, StaffNotifier(env.store, env.cfg, env.senders, env.clock))


async def test_a_restarts_resend_and_the_first_round_queue_an_alert_once(tmp_path: Path) -> None:
    """Review (the day's changes at scale): after a restart the start's resend and the first round of
    the check both walked the unnotified requests, and those the start had not reached yet went twice."""
    async with running_app(tmp_path) as env:
        await add_staff(env, "head-a", Role.ASSOCIATION_HEAD, ASSOC_A, telegram="8880001")
        await _asked_while_the_outbox_is_down(env, "A-002", "A-003")
        await env.clock.advance(120)
        restarted = _another_process(env)
        await restarted.start()
        assert await restarted.resend_unnotified() == 0  # under way already: left to the start's
        await restarted.idle()
        await env.dispatch()
        assert sorted(r.address for r in env.staff_messages("telegram")) == ["8880001", "8880001"]  # one each


async def test_two_processes_resending_the_same_unqueued_alerts_queue_each_once(tmp_path: Path) -> None:
    """Review (the last stop's note): every process that takes answers resends the help alerts a store error
    kept unqueued, at its start and in each round of the check; two web processes on one store both walked
    the same list and the head had every alert twice. One process has the turn (a store lease) at a time."""
    async with running_app(tmp_path) as env:
        await add_staff(env, "head-a", Role.ASSOCIATION_HEAD, ASSOC_A, telegram="8880001")
        await _asked_while_the_outbox_is_down(env, "A-002", "A-003")
        await env.clock.advance(120)
        web1, web2 = _another_process(env), _another_process(env)
        await asyncio.gather(web1.start(), web2.start())  # both restarted at once
        await asyncio.gather(web1.idle(), web2.idle())
        assert [await web1.resend_unnotified(), await web2.resend_unnotified()] == [0, 0]  # all queued now
        await env.dispatch()
        assert sorted(r.address for r in env.staff_messages("telegram")) == ["8880001", "8880001"]  # one each
        # both stop (a restart; whichever had the turn gives it back), and a successor resends at once what is left
        await asyncio.gather(web1.stop(), web2.stop())
        await _asked_while_the_outbox_is_down(env, "A-004")
        restarted = _another_process(env)
        await restarted.start()
        await restarted.idle()
        await env.dispatch()
        assert len(env.staff_messages("telegram")) == 3


async def test_with_no_district_head_a_city_admin_is_told_and_a_handled_request_never(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        env.campaign_id = await start_campaign(env, CampaignKind.REAL)  # a real event: no drill mark
        await add_staff(env, "head-a", Role.ASSOCIATION_HEAD, ASSOC_A, telegram="8880001")
        await add_staff_over(env, "district-u", Role.DISTRICT_HEAD, "district:梅地区", telegram="7770003")  # B's
        await add_staff_over(env, "city-1", Role.CITY_ADMIN, "city", telegram="7770001")
        async with escalating(env) as esc:
            await _need_help(env, "A-002")
            await _need_help(env, "A-003")
            await _minutes(esc, env.clock, 10)
            head = env.staff["head-a"]
            assert await env.store.replies.mark_handled(env.campaign_id, env.hh("A-003").id, head.id, "head-a")
            await _minutes(esc, env.clock, 25)
            await env.dispatch()
            [(to, text)] = _escalations(env)
            assert to == "7770001" and text.startswith(f"【未対応】{ASSOC_A}") and "佐藤 花子" in text
            assert "Smith John" not in text  # A-003 was handled in time


async def test_zero_minutes_turns_it_off(tmp_path: Path) -> None:
    async with running_app(tmp_path, SAFETYNET_REPLIES_HELP_ESCALATE_MINUTES="0") as env:
        assert env.cfg.replies.help_escalate_minutes == 0
        await add_staff_over(env, "district-1", Role.DISTRICT_HEAD, "district:桜地区", telegram="7770002")
        await _need_help(env, "A-002")
        notifier = StaffNotifier(env.store, env.cfg, env.senders, env.clock)
        esc = HelpEscalation(env.store, notifier, env.clock, env.cfg.replies.help_escalate_minutes)
        await asyncio.wait_for(esc.run(), 10)  # returns at once: nothing to watch
        await env.clock.advance(24 * 3600)
        assert await esc.check() == []
        await env.dispatch()
        assert _escalations(env) == []


@pytest.mark.parametrize("end", ["close", "cancel"])
async def test_a_finished_campaign_escalates_nothing(tmp_path: Path, end: str) -> None:
    async with running_app(tmp_path) as env:
        await add_staff_over(env, "district-1", Role.DISTRICT_HEAD, "district:桜地区", telegram="7770002")
        async with escalating(env) as esc:
            await _need_help(env, "A-002")
            await _minutes(esc, env.clock, 10)
            assert await getattr(env.store.campaigns, end)(env.campaign_id, env.clock.now())
            await _minutes(esc, env.clock, 30)
            await env.dispatch()
            assert _escalations(env) == []


async def test_two_processes_checking_at_once_tell_the_standing_in_staff_once(tmp_path: Path) -> None:
    """Two web processes on one database (SQLite's file, or PostgreSQL: DESIGN §8) both check."""
    async with running_app(tmp_path) as env:
        await add_staff_over(env, "district-1", Role.DISTRICT_HEAD, "district:桜地区", telegram="7770002")
        for key in ("A-001", "A-002", "A-003"):
            await _need_help(env, key)
        other = await open_store(env.cfg, env.clock)
        try:
            checks = [HelpEscalation(s, StaffNotifier(s, env.cfg, env.senders, env.clock), env.clock, 30)
                      for s in (env.store, other)]
            await env.clock.advance(1800)
            claimed = await asyncio.gather(*(c.check() for c in checks for _ in range(3)))
        finally:
            await other.close()
        assert sorted(k for c in claimed for k in c) == sorted(
            (env.campaign_id, env.hh(k).id) for k in ("A-001", "A-002", "A-003"))
        await env.dispatch()
        sent = _escalations(env)
        assert len(sent) == 3 and {to for to, _ in sent} == {"7770002"}
        assert sorted(name for name in ("山田 太郎", "佐藤 花子", "Smith John") for _, t in sent if name in t) == sorted(
            ("山田 太郎", "佐藤 花子", "Smith John"))


async def test_where_the_district_head_stood_in_the_escalation_goes_to_the_city(tmp_path: Path) -> None:
    """No head or deputy of the association: its alert went to the district's head at once, so the
    escalation is the city's admins' (telling the one who has not acted a second time helps no one)."""
    async with running_app(tmp_path) as env:
        await add_staff_over(env, "district-1", Role.DISTRICT_HEAD, "district:桜地区", telegram="7770002")
        await add_staff_over(env, "city-1", Role.CITY_ADMIN, "city", telegram="7770001")
        async with escalating(env) as esc:
            await _need_help(env, "A-002")
            await env.dispatch()
            assert [r.address for r in env.staff_messages("telegram")] == ["7770002"]  # standing in at once
            await _minutes(esc, env.clock, 30)
            await env.dispatch()
            assert [to for to, _ in _escalations(env)] == ["7770001"]


async def test_a_household_that_answers_safe_since_or_was_visited_is_not_escalated(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        await add_staff_over(env, "district-1", Role.DISTRICT_HEAD, "district:桜地区", telegram="7770002")
        async with escalating(env) as esc:
            await _need_help(env, "A-002")
            await _need_help(env, "A-003")
            await _minutes(esc, env.clock, 5)
            async with env.http.post(env.reply_url("A-002"), data={"status": "safe", "k": "later-safe"}) as resp:
                assert resp.status == 200
            head_a = Viewer(Role.ASSOCIATION_HEAD, Scope("association", ASSOC_A), staff_id=None, login="head-a")
            await env.intake.confirm_in_person(head_a, env.campaign_id, env.hh("A-003").id, "visit")
            await _minutes(esc, env.clock, 30)
            await env.dispatch()
            assert _escalations(env) == []
            assert len(await env.store.replies.help_list(env.campaign_id)) == 2  # still open, for the heads


async def test_one_request_whose_alert_fails_does_not_cost_the_others_theirs(tmp_path: Path) -> None:
    """The claim marked every due request at once: a fault while telling one must not leave the next untold."""

    class FailsFirst:
        def __init__(self) -> None:
            self.told: list[int] = []

        async def escalate(self, campaign_id: int, household_id: int) -> NotifyReport:
            self.told.append(household_id)
            if len(self.told) == 1:
                raise RuntimeError("a fault of ours with this one request")
            return NotifyReport(1, 1)

    async with running_app(tmp_path) as env:
        await _need_help(env, "A-002")
        await _need_help(env, "A-003")
        notifier = FailsFirst()
        esc = HelpEscalation(env.store, notifier, env.clock, 30)
        await env.clock.advance(31 * 60)
        due = await esc.check()
        assert [h for _, h in due] == sorted([env.hh("A-002").id, env.hh("A-003").id])
        assert notifier.told == [h for _, h in due]  # the second told after the first failed
        # the one that failed is not marked told: claimed again once its claim is stale, and told
        await env.clock.advance(ESCALATION_CLAIM_SECONDS)
        assert await esc.check() == [due[0]]
        assert notifier.told == [*[h for _, h in due], due[0][1]]
        await env.clock.advance(3600)
        assert await esc.check() == []

"""The link of a campaign that has closed, opened while another campaign runs for the household.

QA: after `campaign close 1` and a real event started for the same households, 助けが必要 from the
drill's SMS link (still in the inbox) was recorded into the closed drill, with a page that looked as
a running one's: the event showed the household unanswered, its head saw no call for help, and the
ladder kept texting and calling. The link now leads to the running campaign, and says so.
"""

from __future__ import annotations

import re
from pathlib import Path

from replies_fixtures import Env, running_app, start_campaign

from safetynet.domain import CampaignKind, Status
from safetynet.domain.replies import RunningTarget
from safetynet.replies.tokens import reply_url

EVENT = "震度6強 地震 安否確認"


async def _event_after_the_drill(env: Env) -> tuple[int, int]:
    """The seeded drill closed, then a real event over the same households: (drill, event)."""
    drill = env.campaign_id
    assert await env.store.campaigns.close(drill, env.clock.now())
    await env.clock.advance(600)
    return drill, await start_campaign(env, CampaignKind.REAL, title=EVENT)


async def test_an_ended_campaigns_link_opens_the_running_campaigns_page(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        drill, event = await _event_after_the_drill(env)
        old, new = env.token("A-001", drill), env.token("A-001", event)
        async with env.http.get(f"{env.url}/r/{old}", allow_redirects=False) as resp:
            assert resp.status == 302 and resp.headers["Location"] == f"/r/{new}?moved=1"
        async with env.http.get(f"{env.url}/r/{old}?lang=en", allow_redirects=False) as resp:
            assert resp.status == 302 and resp.headers["Location"] == f"/r/{new}?moved=1&lang=en"
        async with env.http.head(f"{env.url}/r/{old}", allow_redirects=False) as resp:  # aiohttp's handler
            assert resp.status == 302 and resp.headers["Location"] == f"/r/{new}?moved=1"
        async with env.http.get(f"{env.url}/r/{old}") as resp:
            page = await resp.text()
            assert resp.status == 200 and str(resp.url).endswith(f"/r/{new}?moved=1")
        assert EVENT in page and "【訓練】" not in page
        assert "開いたリンクの安否確認は終了しました。いま行われている安否確認のページです。" in page
        assert f'action="/r/{new}"' in page
        assert await env.status("A-001", event) == Status.READ  # the event's page was opened
        assert await env.status("A-001", drill) == Status.PENDING  # the drill's link itself records nothing
        async with env.http.get(f"{env.url}/r/{new}") as resp:  # the event's own link: its page, no notice
            page = await resp.text()
            assert resp.status == 200 and "開いたリンクの安否確認は終了しました" not in page


async def test_need_help_sent_from_an_ended_campaigns_page_goes_to_the_running_one(tmp_path: Path) -> None:
    """A page of the drill left open since before the close: its 助けが必要 reaches the event."""
    async with running_app(tmp_path) as env:
        drill, event = await _event_after_the_drill(env)
        hh = env.hh("A-002").id
        old, new = env.token("A-002", drill), env.token("A-002", event)
        async with env.http.post(f"{env.url}/r/{old}", data={"status": "need_help", "k": "open-page"}) as resp:
            page = await resp.text()
            assert resp.status == 200
        assert "「助けが必要」と記録しました" in page
        assert f"開いたリンクは、終了した「地震 安否確認」のものでした。この回答は、いま行われている「{EVENT}」の回答として記録しました。" in page
        assert set(re.findall(r'action="(/r/[^"]+)"', page)) == {f"/r/{new}"}  # details and changes go to the event
        assert await env.status("A-002", event) == Status.NEED_HELP
        assert [h.status for h in await env.store.replies.history(drill, hh)] == []
        help_rows = await env.store.replies.help_list(event)
        assert [r.household_id for r in help_rows] == [hh]
        async with env.http.post(f"{env.url}/r/{old}", data={"status": "need_help", "k": "open-page"}) as resp:
            assert resp.status == 200 and "「助けが必要」と記録しました" in await resp.text()  # a retry: once
        assert [h.status for h in await env.store.replies.history(event, hh)] == ["need_help"]
        # the details form of the confirmation, sent to the event's link
        async with env.http.post(reply_url(env.url, new), data={"status": "need_help", "details": "1", "k": "d",
                                                               "note": "足をけがしています"}) as resp:
            assert resp.status == 200
        assert [h.note for h in await env.store.replies.history(event, hh)] == [None, "足をけがしています"]


async def test_a_kept_notification_action_of_an_ended_campaign_goes_to_the_running_one(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        drill, event = await _event_after_the_drill(env)
        await env.clock.advance(300)  # the taps below come 5 minutes into the event
        hh = env.hh("A-003").id  # an English household
        async with env.http.post(f"{env.url}/r/{env.token('A-003', drill)}/answer",
                                 json={"status": "safe", "key": "sw-1"}) as resp:
            doc = await resp.json()
            assert resp.status == 200
        assert doc["status"] == "safe" and doc["recorded"] is True
        assert "has ended. Your answer has been recorded for “" + EVENT + "”" in doc["message"]
        assert await env.status("A-003", event) == Status.SAFE
        assert await env.store.replies.history(drill, hh) == []
        # the event's own notification says nothing of another campaign
        async with env.http.post(f"{env.url}/r/{env.token('A-003', event)}/answer",
                                 json={"status": "need_help", "key": "sw-2"}) as resp:
            doc = await resp.json()
        assert doc["recorded"] is True and "has ended" not in doc["message"]
        # an old tap the phone kept since before the call for help (but after the event began: its
        # answer) does not withdraw it, from either link
        async with env.http.post(f"{env.url}/r/{env.token('A-003', drill)}/answer",
                                 json={"status": "safe", "key": "sw-3", "age_ms": 120_000}) as resp:
            doc = await resp.json()
        assert doc["status"] == "need_help" and doc["recorded"] is False and "has ended" not in doc["message"]
        assert await env.status("A-003", event) == Status.NEED_HELP


async def test_with_no_campaign_running_an_ended_link_keeps_its_grace(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        drill = env.campaign_id
        assert await env.store.campaigns.close(drill, env.clock.now())
        url = env.reply_url("A-001")
        async with env.http.get(url, allow_redirects=False) as resp:
            assert resp.status == 200 and "開いたリンクの安否確認は終了しました" not in await resp.text()
        async with env.http.post(url, data={"status": "safe", "k": "late"}) as resp:
            page = await resp.text()
        assert resp.status == 200 and "「無事」と記録しました" in page and "終了した" not in page
        assert await env.history("A-001") == ["read", "safe"]


async def test_a_cancelled_campaigns_link_keeps_its_own_page(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        cancelled = env.campaign_id
        assert await env.store.campaigns.cancel(cancelled, env.clock.now())
        await start_campaign(env, CampaignKind.REAL, title=EVENT)
        async with env.http.get(env.reply_url("A-001"), allow_redirects=False) as resp:
            assert resp.status == 200 and "この安否確認は取り消されました" in await resp.text()


async def test_a_tap_kept_since_before_the_running_campaign_began_is_not_its_answer(tmp_path: Path) -> None:
    """Review: a drill's 無事 tapped offline before the earthquake, sent by the service worker when the
    event's push wakes it, marked the household safe in the event it was never asked about."""
    async with running_app(tmp_path, SAFETYNET_REPLIES_TOKEN_GRACE_HOURS="24") as env:
        drill = env.campaign_id
        assert await env.store.campaigns.close(drill, env.clock.now())
        await env.clock.advance(2 * 3600)
        event = await start_campaign(env, CampaignKind.REAL, title=EVENT)
        await env.clock.advance(600)
        async with env.http.post(f"{env.url}/r/{env.token('A-003', drill)}/answer",
                                 json={"status": "safe", "key": "sw-old", "age_ms": 3 * 3600_000}) as resp:
            doc = await resp.json()
        assert resp.status == 200 and "has ended" not in doc["message"]
        assert await env.status("A-003", event) != Status.SAFE  # the event's question is still open
        assert await env.status("A-003", drill) == Status.SAFE  # a late answer to the drill, in its grace
        # tapped after the event began (kept a minute): the event's answer
        async with env.http.post(f"{env.url}/r/{env.token('A-003', drill)}/answer",
                                 json={"status": "safe", "key": "sw-new", "age_ms": 60_000}) as resp:
            doc = await resp.json()
        assert doc["recorded"] is True and "has ended" in doc["message"]
        assert await env.status("A-003", event) == Status.SAFE
        await env.intake.idle()


async def test_a_call_for_help_kept_since_before_the_event_began_goes_to_the_event(tmp_path: Path) -> None:
    """Review: a drill's 助けが必要 tapped offline before the earthquake, sent when the event's push woke
    the service worker, stayed in the closed drill: the event showed the household 未回答 and its head
    was not told. A call for help is taken whenever it was made, as every other channel takes it."""
    async with running_app(tmp_path, SAFETYNET_REPLIES_TOKEN_GRACE_HOURS="24") as env:
        drill = env.campaign_id
        hh = env.hh("A-003").id
        assert await env.store.campaigns.close(drill, env.clock.now())
        await env.clock.advance(2 * 3600)
        event = await start_campaign(env, CampaignKind.REAL, title=EVENT)
        await env.clock.advance(600)
        async with env.http.post(f"{env.url}/r/{env.token('A-003', drill)}/answer",
                                 json={"status": "need_help", "key": "sw-help", "age_ms": 3 * 3600_000}) as resp:
            doc = await resp.json()
        assert resp.status == 200 and doc["recorded"] is True and "has ended" in doc["message"]
        assert await env.status("A-003", event) == Status.NEED_HELP
        assert await env.store.replies.history(drill, hh) == []
        assert [r.household_id for r in await env.store.replies.help_list(event)] == [hh]
        await env.intake.idle()


async def test_a_late_tap_on_an_ended_campaigns_link_reads_the_running_campaigns_once(tmp_path: Path) -> None:
    """Review: a kept tap's check (did the household call for help since?) and its answer each read the
    household's running campaigns; the answer now goes by what the check read."""
    async with running_app(tmp_path, SAFETYNET_REPLIES_TOKEN_GRACE_HOURS="24") as env:
        reads: list[int] = []
        running_targets_of = env.store.replies.running_targets_of

        async def counted(household_id: int) -> list[RunningTarget]:
            reads.append(household_id)
            return await running_targets_of(household_id)

        env.store.replies.running_targets_of = counted  # type: ignore[method-assign]
        drill = env.campaign_id
        assert await env.store.campaigns.close(drill, env.clock.now())
        await env.clock.advance(2 * 3600)
        event = await start_campaign(env, CampaignKind.REAL, title=EVENT)
        await env.clock.advance(600)
        hh = env.hh("A-003").id
        # tapped before the event began: the drill's, in its grace (none running that takes it)
        async with env.http.post(f"{env.url}/r/{env.token('A-003', drill)}/answer",
                                 json={"status": "safe", "key": "sw-old", "age_ms": 3 * 3600_000}) as resp:
            assert resp.status == 200 and (await resp.json())["recorded"] is True
        assert reads == [hh] and await env.status("A-003", drill) == Status.SAFE
        # tapped after it began: the event's
        async with env.http.post(f"{env.url}/r/{env.token('A-003', drill)}/answer",
                                 json={"status": "safe", "key": "sw-new", "age_ms": 60_000}) as resp:
            assert resp.status == 200 and "has ended" in (await resp.json())["message"]
        assert reads == [hh, hh] and await env.status("A-003", event) == Status.SAFE
        await env.intake.idle()

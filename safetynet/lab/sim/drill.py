"""One simulated drill on a staged city: start it, wait for its end, and account for every household.

A drill ends when its ladder has run to the door-knock list, nothing is left in its outbox, and the
residents have sent every answer they meant to. Then every household must be accounted for: it
answered (safe or need help), was confirmed in person, or is on the door-knock list.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from safetynet.auth import Viewer
from safetynet.broadcast.scenario import Scenario
from safetynet.domain import ANSWERED, CampaignState, Role, Scope
from safetynet.domain.campaigns import Campaign
from safetynet.lab.sim.city import drill_spec
from safetynet.lab.sim.stage import Stage
from safetynet.stats.report import build_report
from safetynet.store import Store

# How often the end of the drill is checked (the ladder itself ticks every second).
POLL_SECONDS = 0.2


async def start_drill(stage: Stage, scenario: Scenario, speed: float,
                      scope: Sequence[str] | None = None) -> Campaign:
    spec = drill_spec(scenario, speed, scope)
    return await stage.system.campaigns.launch(spec, source="demo", created_by="demo")


async def campaign_finished(store: Store, campaign_id: int, steps: int) -> bool:
    """The ladder has reached its last step and nothing of the campaign is queued or being sent."""
    progress = await store.campaigns.ladder_progress(campaign_id)
    outbox = store.outbox
    return (progress.next_step >= steps and await outbox.next_due_at([campaign_id]) is None
            and await outbox.claimed_count() == 0)


async def until_finished(stage: Stage, campaign: Campaign, poll_seconds: float = POLL_SECONDS) -> None:
    """Until the ladder reached its door-knock step, the outbox is empty and the residents are done."""
    # The ladder and the outbox announce nothing in-process: this polls them (the residents are awaited).
    while True:
        if await campaign_finished(stage.system.store, campaign.id, len(campaign.ladder)):
            break
        await asyncio.sleep(poll_seconds)
    await stage.settled()


async def accounted(stage: Stage, campaign_id: int) -> dict[str, int]:
    """Households answered, confirmed in person, on the door-knock list, and none of these."""
    campaigns = stage.system.store.campaigns
    statuses = await campaigns.household_statuses(campaign_id)
    on_list = set(await campaigns.doorknock_households(campaign_id))
    answered = sum(1 for s in statuses.values() if s in ANSWERED and s != "confirmed_in_person")
    confirmed = sum(1 for s in statuses.values() if s == "confirmed_in_person")
    # a household reached on two channels (LINE and later SMS) may answer on both: every answer is a row
    replies = await stage.system.store.replies.count_replies(
        campaign_id, sorted(s for s in ANSWERED if s != "confirmed_in_person"))
    return {
        "households": len(statuses),
        "answered": answered,
        "replies": replies,
        "confirmed_in_person": confirmed,
        "door_knock": len(on_list),
        "accounted": answered + confirmed + len(on_list),
        "unaccounted": len(statuses) - answered - confirmed - len(on_list),
    }


async def finish_and_report(stage: Stage, campaign: Campaign, started: float, close: bool = True) -> dict[str, Any]:
    """The drill report (JSON document of `campaign report`), with the accounting and the residents' counters."""
    summary = await accounted(stage, campaign.id)
    seconds = time.monotonic() - started
    if close:
        current = await stage.system.campaigns.get(campaign.id)
        if current.state == CampaignState.RUNNING:
            await stage.system.campaigns.close(campaign.id)
    viewer = Viewer(role=Role.CITY_ADMIN, scope=Scope("city"), login="demo")
    report = await build_report(stage.system.store, campaign.id, viewer, with_names=False)
    return {
        **report,
        "accounted": summary,
        "simulation": {
            "seconds": round(seconds, 2),
            "residents": stage.driver.stats.to_dict(),
            "enrolled": stage.enrolment.to_dict(),
            "no_channel_households": stage.dead_households,
            "sandbox": stage.sandbox.stats,
            "model": {k: v for k, v in stage.driver.model.__dict__.items()},
        },
    }

"""Run by test_broadcast_crash.py in a subprocess that gets SIGKILLed: start (or resume) the
campaign, then dispatch until every delivery is done, waiting out the leases of a killed run.

The test starts each worker ahead of its turn, while the one before it still runs: it loads its
modules, then waits for "go" on stdin before it touches the store (without it, it exits)."""

from __future__ import annotations

import asyncio
import sys

from safetynet.broadcast.dispatcher import Dispatcher
from safetynet.broadcast.service import CampaignService, CampaignSpec
from safetynet.config import load_config
from safetynet.domain import CampaignKind, CampaignState
from safetynet.store import store_session
from safetynet.system import build_senders

SPEC = CampaignSpec("地震訓練", CampaignKind.DRILL, ("city",), {"ja": "地震の訓練です。無事ですか。"})


async def main() -> None:
    cfg = load_config(None)
    async with store_session(cfg) as store:
        svc = CampaignService(store, cfg, store.clock)
        found = await store.campaigns.list_campaigns()
        campaign = found[0] if found else await svc.create(SPEC)
        if campaign.state == CampaignState.DRAFT:
            campaign = await svc.start(campaign.id)  # idempotent: a killed start is simply redone
        senders = build_senders(cfg)
        for s in senders.values():
            await s.start()
        try:
            while True:
                await Dispatcher(store, senders, cfg, store.clock, contacts=store.roster).burst()
                lease_end = await store.outbox.lease_ends_at()
                if lease_end is None and not await store.outbox.due_count([campaign.id]):
                    break
                # a killed run's claims come back when their lease ends
                await asyncio.sleep(max(0.05, (lease_end or 0) - store.clock.now() + 0.05))
        finally:
            for s in senders.values():
                await s.close()
    print("done", flush=True)


if __name__ == "__main__":
    if sys.stdin.readline().strip() == "go":
        asyncio.run(main())

"""The engine as a server runs it: web push from a second process, the rest here, the ladder ticking."""

from __future__ import annotations

import json
from pathlib import Path

from channel_helpers import running_sandbox

from safetynet.broadcast.engine import BroadcastEngine
from safetynet.broadcast.service import CampaignService, CampaignSpec
from safetynet.channels.webpush import load_or_create_vapid
from safetynet.clock import SystemClock
from safetynet.domain import CampaignKind
from safetynet.roster.model import HouseholdRecord
from safetynet.store import open_store

UNLIMITED = {f"SAFETYNET_CHANNELS_{c}_MAX_PER_SECOND": "0" for c in ("SMS", "VOICE", "TELEGRAM", "WEBPUSH")}


async def test_web_push_goes_out_from_the_lane_process(tmp_path: Path) -> None:
    clock = SystemClock()
    async with running_sandbox(tmp_path, env=UNLIMITED, callbacks=False) as (sb, cfg):
        store = await open_store(cfg, clock)
        try:
            records = [HouseholdRecord("北地区", "桜町町会", "1班", f"k{i}", f"世帯{i}",
                                       phone=f"+8190{i:08d}" if i % 2 else "") for i in range(10)]
            await store.roster.import_households(records)
            key = load_or_create_vapid(cfg.data_dir).application_server_key
            ids = {t.household_key: t.household_id for t in await store.roster.code_targets(only_without_code=False)}
            for i in range(0, 10, 2):
                await store.roster.add_contact(ids[f"k{i}"], "webpush", json.dumps(sb.subscribe(key)))
            engine = BroadcastEngine(store, cfg, clock, lane_process=True)
            assert "webpush" not in engine.senders and engine.split
            await engine.start()
            try:
                svc = CampaignService(store, cfg, clock, on_change=engine.wake)
                await svc.launch(CampaignSpec("訓練", CampaignKind.DRILL, ("city",), {"ja": "訓練です。"}))
                await sb.wait_for(10, timeout_seconds=60)
            finally:
                await engine.stop()
            assert engine.child is not None and "error" not in engine.child.result
            assert engine.child.result["report"]["webpush"]["sent"] == 5
            assert sorted(r.channel for r in sb.messages()) == ["sms"] * 5 + ["webpush"] * 5
            assert await store.campaigns.outbox.claimed_count() == 0
        finally:
            await store.close()

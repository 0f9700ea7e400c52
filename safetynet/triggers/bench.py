"""Numbers for the triggers: parse cost per telegram, replay of a folder, ingest through the service.

`python -m safetynet.triggers.bench tests/data/jma` prints one JSON object. No assertions.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from safetynet.clock import FakeClock
from safetynet.config import Config, JmaConfig, TriggersConfig
from safetynet.domain.triggers import TriggerInputError, TriggerRules
from safetynet.store import open_store
from safetynet.triggers.inputs import parse_telegram, sort_key
from safetynet.triggers.port import CampaignRequest
from safetynet.triggers.replay import folder_files, replay
from safetynet.triggers.service import TriggerService
from safetynet.triggers.settings import rules_from_config


class _Counting:
    def __init__(self) -> None:
        self.n = 0

    async def create_campaign(self, request: CampaignRequest) -> int:
        self.n += 1
        return self.n

    async def update_campaign(self, campaign_id: int, title: str, messages: Mapping[str, str], reason: str) -> None:
        return None

    async def cancel_proposed(self, campaign_id: int, reason: str) -> bool:
        return True

    async def campaign_state(self, campaign_id: int) -> str | None:
        return "running"


def _parse_costs(bodies: list[bytes], rules: TriggerRules) -> list[float]:
    costs = []
    for body in bodies:
        t0 = time.perf_counter()
        for _ in range(5):
            parse_telegram(body, rules)
        costs.append((time.perf_counter() - t0) / 5 * 1000)
    return costs


async def _ingest(bodies: list[bytes], cfg: Config, start: float) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        clock = FakeClock(start)
        store = await open_store(cfg, clock, path=Path(tmp) / "bench.db")
        try:
            svc = TriggerService(store, cfg, _Counting(), clock, max_age_seconds=1e12)
            t0 = time.perf_counter()
            for body in bodies:
                await svc.ingest_jma(body, "bench")
            return time.perf_counter() - t0
        finally:
            await store.close()


def main(argv: list[str]) -> int:
    folder = Path(argv[0] if argv else "tests/data/jma")
    jma = JmaConfig(areas=("213", "220", "440", "442"), cities=("1720100",), min_intensity="4", action="start")
    cfg = Config(triggers=TriggersConfig(jma=jma))
    rules = rules_from_config(cfg)
    files = folder_files(folder)
    bodies = [p.read_bytes() for p in files]
    costs = _parse_costs(bodies, rules)
    t0 = time.perf_counter()
    rows = replay(files, rules)
    replay_s = time.perf_counter() - t0
    ordered = []
    for body in bodies:
        try:
            ordered.append((sort_key(parse_telegram(body, rules)), body))
        except TriggerInputError:
            continue
    ordered.sort(key=lambda item: item[0])
    ingest_s = asyncio.run(_ingest([b for _, b in ordered], cfg, ordered[0][0][0]))
    print(json.dumps({
        "telegrams": len(files),
        "bytes_max": max(len(b) for b in bodies),
        "parse_ms_p50": round(statistics.median(costs), 3),
        "parse_ms_max": round(max(costs), 3),
        "replay_seconds": round(replay_s, 3),
        "replay_decisions": len(rows),
        "ingest_seconds": round(ingest_s, 3),
        "ingest_per_second": round(len(ordered) / ingest_s, 1),
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

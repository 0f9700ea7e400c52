#!/usr/bin/env python3
"""Soak: one city-wide drill run for 30 minutes at a steady rate; prints RSS and open files every minute.

Not part of CI. The server (`safetynet serve`) and the sandbox with the simulated residents run in
two processes, as in `safetynet bench citywide`. The drill's ladder is stretched over the run
(apps at once, SMS at a third, voice at two thirds, the door-knock list at the end); residents
answer at a steady rate (enough to finish just before the end), the stats API is polled once a
second like an open dashboard. Every minute one line: the server's and the host's resident memory
and open file descriptors, answers so far, and the stats latency of that minute. Both columns
should stay flat once the first wave is out; the summary prints the growth from the second minute
to the last.

    .venv/bin/python scripts/soak.py                     # 30 minutes, 20,000 households
    .venv/bin/python scripts/soak.py --minutes 5 --households 5000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from safetynet.config import load_config
from safetynet.lab.procinfo import open_fds, rss_mb
from safetynet.lab.sim import city
from safetynet.lab.sim.loadcity import enrol_plan, load_in_child
from safetynet.lab.sim.procs import HostProcess, ServerProcess, descendants
from safetynet.lab.sim.residents import percentile
from safetynet.lab.sim.stage import free_port, stage_env


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=30.0, help="length of the drill (30)")
    p.add_argument("--households", type=int, default=20_000, help="households in the generated city (20,000)")
    p.add_argument("--workdir", help="keep the database and logs here (default: a temporary folder)")
    p.add_argument("--json", action="store_true", help="one JSON object a minute instead of a table")
    return p.parse_args()


def _campaign(seconds: float) -> dict[str, Any]:
    s = city.load_city_scenario(None)
    return {"title": f"{s.title}（ソーク）", "kind": "drill", "scope": ["city"], "messages": s.messages,
            "ladder": [{"after_seconds": 0, "channels": ["webpush", "telegram"], "fallback": ["sms", "voice"]},
                       {"after_seconds": seconds / 3, "channels": ["sms"]},
                       {"after_seconds": 2 * seconds / 3, "channels": ["voice"]},
                       {"after_seconds": seconds, "door_knock": True}]}


def _row(minute: int, server: ServerProcess, host: HostProcess, counters: dict[str, Any],
         latencies: list[float]) -> dict[str, Any]:
    lat = sorted(latencies)
    procs = descendants(server.pid)  # the server and any lane process it runs
    return {"minute": minute, "server_rss_mb": round(sum(rss_mb(p) for p in procs), 1),
            "server_fds": sum(open_fds(p) for p in procs), "host_rss_mb": round(rss_mb(host.pid), 1),
            "host_fds": open_fds(host.pid), "answers": counters["accepted"], "failed": counters["failed"],
            "stats_p95_ms": round(percentile(lat, 0.95) * 1000, 1), "load": round(os.getloadavg()[0], 2)}


def _print(row: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(row), flush=True)
    else:
        print("{minute:>6} {server_rss_mb:>10} {server_fds:>10} {host_rss_mb:>9} {host_fds:>8} {answers:>9} "
              "{failed:>7} {stats_p95_ms:>12} {load:>6}".format(**row), flush=True)


async def _watch(args: argparse.Namespace, api: aiohttp.ClientSession, url: str, cid: int,
                 server: ServerProcess, host: HostProcess) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    start = time.monotonic()
    end = start + args.minutes * 60
    if not args.json:
        print(f"{'minute':>6} {'server MB':>10} {'server fd':>10} {'host MB':>9} {'host fd':>8} {'answers':>9} "
              f"{'failed':>7} {'stats p95 ms':>12} {'load':>6}", flush=True)
    minute, latencies = 1, []
    while time.monotonic() < end:
        t0 = time.perf_counter()
        async with api.get(f"{url}/api/campaigns/{cid}/stats") as resp:
            await resp.read()
        latencies.append(time.perf_counter() - t0)
        if time.monotonic() >= start + minute * 60:
            rows.append(_row(minute, server, host, await host.call("counters"), latencies))
            _print(rows[-1], args.json)
            minute, latencies = minute + 1, []
        await asyncio.sleep(1.0)
    return rows


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    if len(rows) < 2:
        return {}
    first, last = rows[1], rows[-1]  # the first minute carries the first wave
    return {k: round(last[k] - first[k], 1) for k in ("server_rss_mb", "server_fds", "host_rss_mb", "host_fds")}


async def soak(args: argparse.Namespace, workdir: Path) -> None:
    port, secret = free_port(), secrets.token_urlsafe(32)
    extra = {"SAFETYNET_LOGGING_LEVEL": "warning", "SAFETYNET_LOGGING_FORMAT": "json"}
    seconds = args.minutes * 60
    model = city.resident_model(city.load_city_scenario(None), no_channel_share=0.0, time_compression=1e9)
    rate = args.households * model.answer_share / (0.9 * seconds)  # done a little before the end
    host = HostProcess(stage_env(workdir, port, secret, extra=extra), workdir / "host.log", model.__dict__,
                       concurrency=16, hold=False, rate=rate)
    await host.start()
    env = stage_env(workdir, port, secret, host.url, extra)
    server = ServerProcess(env, workdir / "server.log")
    try:
        loaded, plan = await load_in_child(env, args.households, workdir)
        url = await server.start()
        await enrol_plan(load_config(None, env=env), host.url, plan, host=host)
        headers = {"Authorization": f"Bearer {loaded['token']}"}
        async with aiohttp.ClientSession(headers=headers) as api:
            async with api.post(f"{url}/api/campaigns", json=_campaign(seconds)) as resp:
                cid = int((await resp.json())["id"])
            print(f"soak: {args.households:,} households, {args.minutes:g} minutes, {rate:.1f} answers/s; "
                  f"logs in {workdir}", file=sys.stderr, flush=True)
            rows = await _watch(args, api, url, cid, server, host)
        print(json.dumps({"growth_from_minute_2": _summary(rows)}), flush=True)
    finally:
        await server.stop()
        await host.stop()


def main() -> int:
    args = _args()
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
        asyncio.run(soak(args, Path(args.workdir)))
        return 0
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        asyncio.run(soak(args, Path(tmp)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

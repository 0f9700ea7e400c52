"""Many processes on one store: the first wave with one and two `serve --role dispatcher`
processes, on PostgreSQL beside SQLite (one dispatcher) in the same run, then answers per second
on two `serve --role web` processes. A benchmark, not a test: it prints figures (and JSON).

    .venv/bin/python scripts/bench_scale.py --households 40000 [--pg postgresql://postgres@127.0.0.1:5432]

The sandbox (no provider limits, no push verification) runs in its own process; the roster is
generated (mobiles, landlines: SMS and voice). The wave's time runs from the campaign's start until
nothing is queued or claimed (read every 0.2 s from the store). Answers: residents' POSTs of the
reply page over keep-alive connections from this process, split evenly between the two web
processes (the client shares the cores with the servers: a floor, not a ceiling).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from safetynet.auth import new_token, token_hash
from safetynet.broadcast.service import CampaignService, CampaignSpec
from safetynet.clock import SystemClock
from safetynet.config import Config, load_config
from safetynet.domain import CampaignKind, Role
from safetynet.replies.tokens import reply_token
from safetynet.roster.generate import generate_roster
from safetynet.store import open_store

SECRET = "bench-scale-secret-key-0123456789"  # noqa: S105 - a throwaway key of the bench's own city
READY = "SafetyNet serving on "
SANDBOX_READY = "sandbox listening on "
MESSAGE = {"ja": "震度6強の地震が発生しました。安否を回答してください。", "en": "A strong earthquake. Are you safe?"}
UNLIMITED = {f"SAFETYNET_CHANNELS_{c}_MAX_PER_SECOND": "0" for c in ("SMS", "VOICE", "TELEGRAM", "WEBPUSH")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_for(store: str, workdir: Path, sandbox: str, port: int) -> dict[str, str]:
    env = {
        "SAFETYNET_SECRET_KEY": SECRET, "SAFETYNET_SERVER_PORT": str(port),
        "SAFETYNET_SERVER_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "SAFETYNET_CHANNELS_SMS_API_BASE_URL": sandbox, "SAFETYNET_CHANNELS_VOICE_API_BASE_URL": sandbox,
        "SAFETYNET_CHANNELS_TELEGRAM_API_BASE_URL": sandbox, "SAFETYNET_REPLIES_RATE_LIMIT_PER_MINUTE": "0",
        "SAFETYNET_LOGGING_LEVEL": "warning", "SAFETYNET_DATA_DIR": str(workdir),
        "SAFETYNET_STORE_PATH": str(workdir / "safetynet.db"), **UNLIMITED,
    }
    if store:
        env["SAFETYNET_STORE_URL"] = store
    return env


async def start_serve(env: dict[str, str], role: str) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "safetynet", "serve", "--role", role, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, env={**os.environ, **env})
    assert proc.stdout is not None
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), 120)).decode()
        if not line:
            raise RuntimeError(f"serve --role {role} exited")
        if line.startswith(READY):
            return proc


async def stop(procs: list[asyncio.subprocess.Process]) -> None:
    for p in procs:
        with contextlib.suppress(ProcessLookupError):
            p.terminate()
    for p in procs:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(p.wait(), 60)


async def fresh_pg(server: str, name: str) -> str:
    con = await asyncpg.connect(f"{server}/postgres")
    try:
        await con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await con.execute(f'CREATE DATABASE "{name}"')
    finally:
        await con.close()
    return f"{server}/{name}"


async def seed(cfg: Config, households: int) -> tuple[list[int], str]:
    store = await open_store(cfg, SystemClock())
    try:
        await store.roster.import_households(list(generate_roster(households, seed=11)))
        ids = sorted(t.household_id for t in await store.roster.code_targets(only_without_code=False))
        token = new_token()
        await store.auth.create_api_token(token_hash(token), Role.CITY_ADMIN, "city", label="bench")
    finally:
        await store.close()
    return ids, token


async def first_wave(cfg: Config) -> tuple[int, float]:
    """Starts a city-wide drill; returns (deliveries sent, seconds) once nothing is queued or claimed."""
    store = await open_store(cfg, SystemClock())
    try:
        campaign = await CampaignService(store, cfg, SystemClock()).launch(
            CampaignSpec("bench", CampaignKind.DRILL, ("city",), dict(MESSAGE)))
        t0 = time.perf_counter()
        # other processes send: their progress is read from the store
        while await store.outbox.due_count([campaign.id]) or await store.outbox.lease_ends_at() is not None:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        took = time.perf_counter() - t0
        sent = await _sent(store, campaign.id)
        return sent, took
    finally:
        await store.close()


async def _sent(store: Any, campaign_id: int) -> int:
    counts = await store.dashboard.counts(campaign_id)
    return sum(per.get("notified", 0) for per in counts.values())


async def run_wave(label: str, store_url: str, households: int, dispatchers: int, sandbox: str) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-scale-{label}-"))
    env = env_for(store_url, workdir, sandbox, free_port())
    cfg = load_config(None, env=env)
    await seed(cfg, households)
    procs = []
    try:
        for _ in range(dispatchers):
            procs.append(await start_serve({**env, "SAFETYNET_SERVER_PORT": str(free_port())}, "dispatcher"))
        sent, took = await first_wave(cfg)
    finally:
        await stop(procs)
    return {"store": label, "dispatchers": dispatchers, "households": households, "notified": sent,
            "seconds": round(took, 2), "per_second": round(sent / took, 1)}


async def run_replies(store_url: str, households: int, sandbox: str, connections: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-scale-replies-"))
    env = env_for(store_url, workdir, sandbox, free_port())
    cfg = load_config(None, env=env)
    ids, _ = await seed(cfg, households)
    store = await open_store(cfg, SystemClock())
    try:
        campaign = await CampaignService(store, cfg, SystemClock()).launch(
            CampaignSpec("bench", CampaignKind.DRILL, ("city",), dict(MESSAGE)))
    finally:
        await store.close()
    ports = [free_port(), free_port()]
    procs = [await start_serve({**env, "SAFETYNET_SERVER_PORT": str(p)}, "web") for p in ports]
    try:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for hid in ids:
            queue.put_nowait(hid)
        ok = 0
        conn = aiohttp.TCPConnector(limit=connections)
        async with aiohttp.ClientSession(connector=conn) as http:
            async def resident(i: int) -> None:
                nonlocal ok
                url = f"http://127.0.0.1:{ports[i % 2]}"
                while not queue.empty():
                    hid = queue.get_nowait()
                    async with http.post(f"{url}/r/{reply_token(SECRET, campaign.id, hid)}",
                                         data={"status": "safe", "k": f"b{hid}"}) as r:
                        await r.read()
                        ok += r.status == 200
            t0 = time.perf_counter()
            await asyncio.gather(*(resident(i) for i in range(connections)))
            took = time.perf_counter() - t0
    finally:
        await stop(procs)
    return {"web_processes": 2, "answers": ok, "seconds": round(took, 2), "per_second": round(ok / took, 1)}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "safetynet.sandbox", "--port", "0", "--no-verify-push", "--no-callbacks",
        stdout=subprocess.PIPE, env={k: v for k, v in os.environ.items() if not k.startswith("SAFETYNET_")})
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
    assert line.startswith(SANDBOX_READY), line
    sandbox = line[len(SANDBOX_READY):]
    try:
        n = args.households
        waves = [await run_wave("sqlite", "", n, 1, sandbox)]
        for d in (1, 2):
            waves.append(await run_wave("postgres", await fresh_pg(args.pg, f"scale_bench_{d}"), n, d, sandbox))
        replies = await run_replies(await fresh_pg(args.pg, "scale_bench_replies"), args.reply_households, sandbox,
                                    args.connections)
    finally:
        proc.terminate()
        await proc.wait()
    sqlite_rate = waves[0]["per_second"]
    return {"waves": waves, "pg_one_vs_sqlite": round(waves[1]["per_second"] / sqlite_rate, 2),
            "pg_two_vs_one": round(waves[2]["per_second"] / waves[1]["per_second"], 2), "replies": replies}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, default=200_000)
    parser.add_argument("--reply-households", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432", help="PostgreSQL server (no database)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    doc = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(doc))
        return
    for w in doc["waves"]:
        print(f"first wave  {w['store']:8} dispatchers={w['dispatchers']}  {w['notified']:>7} households notified"
              f" in {w['seconds']:7.2f} s = {w['per_second']:>9,.1f}/s")
    print(f"PostgreSQL one dispatcher / SQLite: {doc['pg_one_vs_sqlite']}; two / one: {doc['pg_two_vs_one']}")
    r = doc["replies"]
    print(f"answers on two web processes: {r['answers']} in {r['seconds']} s = {r['per_second']:,.1f}/s")


if __name__ == "__main__":
    main()

"""Dashboard and stats latency under load: a 200,000-household campaign, replies arriving at
2,000/s, 200 dashboards connected to the live stream. Prints one JSON object.

    .venv/bin/python scripts/bench_stats.py [--households 200000] [--rate 2000] [--sse 200]
                                            [--requests 100] [--dir DIR]

The server (the whole app, every route module) runs in a child process; the replies are
recorded inside it through the real `ReplyIntake` (token lookup, group commit, counters, the
live hub's listener) at `--rate`, so the HTTP parsing of the replies themselves is not in the
figure (the replies benchmark measures that). This process holds the 200 SSE clients, times
the pages one request at a time, and measures answer → dashboard: a reply posted to /r/{token}
until the household's change arrives on the stream watching its association.
The roster is built once per --dir and reused; each run starts a fresh campaign over it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from safetynet.auth import new_token, token_hash
from safetynet.channels import registry
from safetynet.clock import SystemClock
from safetynet.config import Config, load_config
from safetynet.domain import ANSWERED, CampaignKind, Role
from safetynet.domain.campaigns import Enrolment, StepPlan
from safetynet.replies.intake import ReplyIntake
from safetynet.replies.tokens import reply_token
from safetynet.replies.tokens import token_hash as reply_hash
from safetynet.roster.generate import generate_roster
from safetynet.store import Store, open_store

SECRET = "bench-stats-secret-key-0123456789"  # noqa: S105 - a throwaway key for a throwaway database
RESERVED = 60  # households the load never answers: the answer → dashboard probes
MAX_IN_FLIGHT = 400


def _config(folder: Path, port: int = 8080) -> Config:
    path = folder / "config.toml"
    path.write_text('[store]\npath = "bench.db"\n', encoding="utf-8")
    env = {"SAFETYNET_SECRET_KEY": SECRET, "SAFETYNET_SERVER_PORT": str(port),
           "SAFETYNET_SERVER_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    return load_config(path, env=env)


def _pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 2)


def _summary(ms: list[float]) -> dict[str, float]:
    return {"n": len(ms), "p50_ms": _pct(ms, 50), "p95_ms": _pct(ms, 95), "p99_ms": _pct(ms, 99),
            "max_ms": round(max(ms), 2) if ms else 0.0}


# -- preparation (once per folder) ----------------------------------------------------------------


async def _enrol(store: Store) -> int:
    c = await store.campaigns.create(kind=CampaignKind.DRILL, title="bench", scope=["city"], messages={"ja": "訓練"},
                                     ladder=registry.default_ladder())
    now = time.time()
    async for batch in store.roster.households_in_scope(["city"], batch_size=5000):
        enrol = [Enrolment(h.id, h.association_id, reply_hash(reply_token(SECRET, c.id, h.id))) for h in batch]
        await store.campaigns.write_step(c.id, StepPlan((), (), ()), now, enrol)
    assert await store.campaigns.begin_running(c.id, time.time())
    return c.id


def _cached(folder: Path, households: int) -> dict[str, Any] | None:
    """The metadata of a database built earlier for the same size; else clears the folder's database."""
    meta_path = folder / "bench.json"
    if meta_path.exists():
        meta: dict[str, Any] = json.loads(meta_path.read_text())
        if meta["households"] == households:
            return meta
    for old in folder.glob("bench.db*"):
        old.unlink()
    return None


async def prepare(folder: Path, households: int) -> dict[str, Any]:
    """The roster and an API token (built once per folder), then a fresh running campaign (each run)."""
    meta = _cached(folder, households)
    cfg = _config(folder)
    t = time.perf_counter()
    store = await open_store(cfg, SystemClock())
    try:
        if meta is None:
            await store.roster.import_households(list(generate_roster(households, seed=7)))
            token = new_token()
            await store.auth.create_api_token(token_hash(token), Role.CITY_ADMIN, "city", "bench")
            meta = {"households": households, "token": token,
                    "associations": [a.id for a in await store.roster.list_associations()]}
            (folder / "bench.json").write_text(json.dumps(meta))
        meta["campaign_id"] = await _enrol(store)
        ids = [h.id async for batch in store.roster.households_in_scope(["city"]) for h in batch]
    finally:
        await store.close()
    meta["reserved"] = random.Random(3).sample(ids, RESERVED)
    meta["prepare_seconds"] = round(time.perf_counter() - t, 1)
    (folder / "run.json").write_text(json.dumps(meta))
    return meta


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux reports KiB


# -- the server (child process) ---------------------------------------------------------------------


async def _replier(store: Store, intake: ReplyIntake, campaign_id: int, rate: float, skip: set[int],
                   stop: asyncio.Event, done: list[int]) -> None:
    """Answers households in random order at `rate` a second (85% safe, 15% need help)."""
    statuses = await store.campaigns.household_statuses(campaign_id)
    ids = sorted(hh for hh, st in statuses.items() if hh not in skip and st not in ANSWERED)
    random.Random(5).shuffle(ids)
    rng = random.Random(9)
    pending: set[asyncio.Future[None]] = set()

    async def one(hh: int) -> None:
        target = await intake.target_for(campaign_id, hh)
        if target is not None:
            status = "need_help" if rng.random() < 0.15 else "safe"
            result = await intake.answer(target, status, "web", f"bench:{campaign_id}:{hh}")
            done[0] += int(result.recorded)  # a duplicate would not move any counter

    start, issued = time.perf_counter(), 0
    while issued < len(ids) and not stop.is_set():
        due = min(len(ids), int((time.perf_counter() - start) * rate))
        # at most MAX_IN_FLIGHT answers at once, like the connection pool of the replies' load
        # generator: past that the server is saturated, and a deeper queue would only stall readers
        while issued < due and len(pending) < MAX_IN_FLIGHT:
            task = asyncio.ensure_future(one(ids[issued]))
            pending.add(task)
            task.add_done_callback(pending.discard)
            issued += 1
        await asyncio.sleep(0.005)
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)


async def serve(folder: Path, port: int, rate: float) -> None:
    from aiohttp import web

    from safetynet.logs import configure_logging
    from safetynet.runtime import tune_gc
    from safetynet.web.app import Services, create_app

    configure_logging("warning", "json", sys.stderr)  # 2,000 "reply_received" lines a second would be the bench
    meta = json.loads((folder / "run.json").read_text())
    cfg = _config(folder, port)
    clock = SystemClock()
    store = await open_store(cfg, clock)
    intake = ReplyIntake(store, cfg, clock)
    runner = web.AppRunner(create_app(Services(cfg=cfg, store=store, clock=clock, intake=intake)),
                           access_log=None, shutdown_timeout=2)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop, done = asyncio.Event(), [0]
    tune_gc()  # as `safetynet serve` does
    print(json.dumps({"ready": True}), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # "go"
    t, cpu = time.perf_counter(), time.process_time()
    replier = asyncio.ensure_future(_replier(store, intake, meta["campaign_id"], rate, set(meta["reserved"]),
                                             stop, done))
    await loop.run_in_executor(None, sys.stdin.readline)  # "stop"
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    stop.set()
    await replier
    print(json.dumps({"replies": done[0], "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
                      "replies_per_second": round(done[0] / seconds, 1), "peak_rss_mb": _rss_mb()}), flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)  # "quit", after the client's report request
    print(json.dumps({"peak_rss_mb_after_report": _rss_mb()}), flush=True)
    await runner.cleanup()
    await intake.stop()
    await store.close()


# -- the clients (this process) ---------------------------------------------------------------------


class Watchers:
    """The SSE clients; `wait_for(hh)` resolves when a stream reports that household changed."""

    def __init__(self) -> None:
        self.connected = 0
        self.events = 0
        self.errors = 0
        self.waiting: dict[int, asyncio.Future[float]] = {}
        self.ready = asyncio.Event()
        self.target = 0

    def wait_for(self, hh: int) -> asyncio.Future[float]:
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[hh] = fut
        return fut

    async def watch(self, http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> None:
        try:
            async with http.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=None)) as r:
                first = True
                async for raw in r.content:
                    if not raw.startswith(b"data: "):
                        continue
                    self.events += 1
                    if first:
                        first = False
                        self.connected += 1
                        if self.connected >= self.target:
                            self.ready.set()
                    for c in json.loads(raw[6:])["changed"]:
                        fut = self.waiting.pop(c[0], None)
                        if fut is not None and not fut.done():
                            fut.set_result(time.perf_counter())
        except aiohttp.ClientError:
            self.errors += 1


async def _time(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> float:
    t = time.perf_counter()
    async with http.get(url, headers=headers) as r:
        await r.read()
        if r.status != 200:
            raise RuntimeError(f"{url}: HTTP {r.status}")
    return (time.perf_counter() - t) * 1000


async def _pages(http: aiohttp.ClientSession, base: str, meta: dict[str, Any], requests: int) -> dict[str, Any]:
    cid, assocs = meta["campaign_id"], meta["associations"]
    headers = {"Authorization": f"Bearer {meta['token']}"}
    endpoints = {
        "stats_api": lambda i: f"/api/campaigns/{cid}/stats",
        "association_dashboard": lambda i: f"/a/{assocs[i % len(assocs)]}?campaign={cid}",
        "doorknock_list": lambda i: f"/a/{assocs[i % len(assocs)]}/doorknock?campaign={cid}",
        "household_rows": lambda i: f"/a/{assocs[i % len(assocs)]}/households?campaign={cid}",
        "city_overview": lambda i: f"/city?campaign={cid}",
        "city_curve": lambda i: f"/city/curve?campaign={cid}",
    }
    times: dict[str, list[float]] = {k: [] for k in endpoints}
    for i in range(requests):
        for name, path in endpoints.items():
            times[name].append(await _time(http, base + path(i), headers))
    return {k: _summary(v) for k, v in times.items()}


async def _probes(http: aiohttp.ClientSession, base: str, meta: dict[str, Any], w: Watchers) -> list[float]:
    """Answer → dashboard: post a reply, wait for the stream of its association to report it."""
    out = []
    for hh in meta["reserved"]:
        fut = w.wait_for(hh)
        token = reply_token(SECRET, meta["campaign_id"], hh)
        t = time.perf_counter()
        async with http.post(f"{base}/r/{token}", data={"status": "safe"}) as r:
            await r.read()
        try:
            arrived = await asyncio.wait_for(fut, 10)
        except TimeoutError:
            continue
        out.append((arrived - t) * 1000)
    return out


async def _hh_assocs(folder: Path, reserved: list[int]) -> dict[int, int]:
    store = await open_store(_config(folder), SystemClock())
    try:
        found = {}
        for hh in reserved:
            h = await store.roster.get_household(hh)
            if h is not None:
                found[hh] = h.association_id
        return found
    finally:
        await store.close()


async def clients(folder: Path, port: int, meta: dict[str, Any], args: argparse.Namespace,
                  server: asyncio.subprocess.Process) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {meta['token']}"}
    probe_assocs = sorted(set((await _hh_assocs(folder, meta["reserved"])).values()))
    watched = (probe_assocs + [a for a in meta["associations"] if a not in probe_assocs])[: args.sse]
    w = Watchers()
    w.target = len(watched)
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn) as sse, aiohttp.ClientSession() as http:
        tasks = [asyncio.ensure_future(w.watch(sse, f"{base}/api/campaigns/{meta['campaign_id']}/events?association={a}",
                                                headers)) for a in watched]
        if not watched:  # --sse 0: nothing to wait for, and no stream to probe
            w.ready.set()
        await asyncio.wait_for(w.ready.wait(), 60)
        assert server.stdin is not None
        server.stdin.write(b"go\n")  # the reply load starts
        await server.stdin.drain()
        await asyncio.sleep(args.warmup)  # let the reply load settle before timing
        pages = await _pages(http, base, meta, args.requests)
        probes = await _probes(http, base, meta, w) if watched else []
        figures = await _tell(server, b"stop", b'"replies"')
        connected_at_end = w.target - sum(t.done() for t in tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        t = time.perf_counter()
        async with http.get(f"{base}/campaigns/{meta['campaign_id']}/report?format=json", headers=headers) as r:
            await r.read()
        figures["report_city_json_ms"] = round((time.perf_counter() - t) * 1000, 1)
        figures.update(await _tell(server, b"quit", b'"peak_rss_mb_after_report"'))
    return {"pages": pages, "answer_to_dashboard": _summary(probes), "server": figures,
            "sse_clients": len(watched), "sse_connected": w.connected, "sse_still_connected_at_end": connected_at_end,
            "sse_events_received": w.events, "sse_errors": w.errors}


async def _tell(server: asyncio.subprocess.Process, word: bytes, answer: bytes) -> dict[str, Any]:
    """Sends the server a line and returns its JSON answer (the line that contains `answer`)."""
    assert server.stdin is not None and server.stdout is not None
    server.stdin.write(word + b"\n")
    await server.stdin.drain()
    while answer not in (line := await server.stdout.readline()):
        if not line:
            raise RuntimeError(f"the server ended before answering {word.decode()}")
    found: dict[str, Any] = json.loads(line)
    return found


async def main(args: argparse.Namespace) -> dict[str, Any]:
    from safetynet.logs import configure_logging

    configure_logging("warning", "json", sys.stderr)  # stdout is the JSON result alone
    folder = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="bench-stats-"))
    folder.mkdir(parents=True, exist_ok=True)
    meta = await prepare(folder, args.households)
    load_before = os.getloadavg()
    with contextlib.closing(__import__("socket").socket()) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", "--dir", str(folder), "--port", str(port), "--rate", str(args.rate),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    assert server.stdout is not None
    while b'"ready"' not in (line := await server.stdout.readline()):
        if not line:
            raise RuntimeError("server did not start")
    try:
        result = await clients(folder, port, meta, args, server)
    finally:
        if server.returncode is None:
            server.terminate()
        await server.wait()
    result.update(load_average_before=[round(x, 2) for x in load_before],
                  load_average_after=[round(x, 2) for x in os.getloadavg()], cpus=os.cpu_count(),
                  households=meta["households"], associations=len(meta["associations"]),
                  replies_target_per_second=args.rate, prepare_seconds=meta["prepare_seconds"])
    return result


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--households", type=int, default=200_000)
    p.add_argument("--rate", type=float, default=2000.0, help="replies a second during the measurement")
    p.add_argument("--sse", type=int, default=200, help="live-stream clients")
    p.add_argument("--requests", type=int, default=100, help="timed requests per page")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of reply load before timing")
    p.add_argument("--dir", help="folder for the database (reused if built for the same size)")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    return p.parse_args()


if __name__ == "__main__":
    a = _args()
    if a.serve:
        asyncio.run(serve(Path(a.dir), a.port, a.rate))
    else:
        print(json.dumps(asyncio.run(main(a)), ensure_ascii=False, indent=2))

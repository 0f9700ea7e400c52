"""`safetynet bench replies`: residents answering at once, over HTTP, against a running server.

A server process holds a campaign over a generated city (200,000 households by default); this
process fires one answer per household (`POST /r/{token}`, as the reply page's form does) over
keep-alive connections, and measures replies/s and latency. Then it counts what the database
stored against what the server acknowledged: every 200 must be a stored reply.

The load generator is a lean HTTP/1.1 client on raw asyncio streams (about 50 µs of CPU a
request), so on a 2-core machine the server keeps most of a core to itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetynet.config import Config, load_config

DEFAULT_HOUSEHOLDS = 200_000
DEFAULT_REPLIES = 60_000
DEFAULT_CONNECTIONS = 64
READY_TIMEOUT_SECONDS = 60.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--households", type=int, default=DEFAULT_HOUSEHOLDS, help="households in the campaign")
    parser.add_argument("--replies", type=int, default=DEFAULT_REPLIES,
                        help="answers to fire, one per household (default: 60,000)")
    parser.add_argument("--connections", type=int, default=DEFAULT_CONNECTIONS, help="keep-alive connections")
    parser.add_argument("--need-help", type=float, default=0.01, help="share of need_help answers (default 0.01)")
    parser.add_argument("--workdir", help="keep the database here and reuse it on the next run (default: temporary)")
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument("--switch-interval", type=float, default=0.0,
                        help="the server's sys.setswitchinterval in seconds (default: Python's 0.005)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


# -- setup --------------------------------------------------------------------------------------


@dataclass
class Prepared:
    config_path: Path
    env: dict[str, str]
    campaign_id: int
    tokens: list[str]
    setup_seconds: float
    reused: bool


def _bench_env(workdir: Path, port: int, secret: str) -> dict[str, str]:
    return {
        "SAFETYNET_SECRET_KEY": secret,
        "SAFETYNET_SERVER_PORT": str(port),
        "SAFETYNET_SERVER_PUBLIC_URL": f"http://127.0.0.1:{port}",
        # One client address sends every answer: the per-IP limit would measure itself.
        "SAFETYNET_REPLIES_RATE_LIMIT_PER_MINUTE": "0",
        "SAFETYNET_LOGGING_LEVEL": "warning",
    }


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _seed(cfg: Config, households: int) -> int:
    from safetynet.broadcast.service import CampaignService, CampaignSpec
    from safetynet.domain import CampaignKind
    from safetynet.roster.generate import generate_roster
    from safetynet.store import store_session

    async with store_session(cfg) as store:
        await store.roster.import_households(list(generate_roster(households, seed=7)))
        service = CampaignService(store, cfg, store.clock)
        spec = CampaignSpec("ベンチマーク 安否確認", CampaignKind.DRILL, ("city",),
                            {"ja": "地震がありました。安否を教えてください。", "en": "Are you safe?"})
        campaign = await service.launch(spec)
        return campaign.id


async def _tokens(cfg: Config, campaign_id: int) -> list[str]:
    """Reply tokens of the campaign's households, those without an answer yet first: a rerun on a
    reused database measures first answers (status changes, counters) as long as any are left."""
    from safetynet.domain import ANSWERED
    from safetynet.replies.tokens import reply_token
    from safetynet.store import store_session

    async with store_session(cfg) as store:
        statuses = await store.campaigns.household_statuses(campaign_id)
    ids = sorted(statuses, key=lambda h: (statuses[h] in ANSWERED, h))
    return [reply_token(cfg.secrets.secret_key, campaign_id, h) for h in ids]


def prepare(households: int, workdir: Path, port: int) -> Prepared:
    """The database with a running campaign (reused when `workdir` already holds one of that size)."""
    started = time.perf_counter()
    marker = workdir / "bench-replies.json"
    config_path = workdir / "config.toml"
    reused = False
    if marker.exists():
        saved = json.loads(marker.read_text())
        reused = saved.get("households") == households
    if not reused:
        for leftover in workdir.glob("var/*"):
            leftover.unlink()
        config_path.write_text('[store]\npath = "var/bench.db"\n\n[channels.webpush]\nenabled = false\n'
                               "[channels.telegram]\nenabled = false\n[channels.sms]\nenabled = false\n"
                               "[channels.voice]\nenabled = false\n", encoding="utf-8")
        saved = {"households": households, "secret": secrets.token_urlsafe(32)}
    env = _bench_env(workdir, port, saved["secret"])
    cfg = load_config(config_path, env=env)
    if not reused:
        saved["campaign_id"] = asyncio.run(_seed(cfg, households))
        marker.write_text(json.dumps(saved))
    tokens = asyncio.run(_tokens(cfg, int(saved["campaign_id"])))
    return Prepared(config_path, env, int(saved["campaign_id"]), tokens, time.perf_counter() - started, reused)


# -- the server process ---------------------------------------------------------------------------


def serve(config_path: str) -> None:
    """The server half (`python -m safetynet.bench_replies serve CONFIG`): the app, no dispatcher."""
    from safetynet.logs import configure_logging

    interval = float(os.environ.get("BENCH_SWITCH_INTERVAL") or 0)
    if interval > 0:
        # How long a thread may keep the GIL while another waits: aiosqlite's threads wait on it.
        sys.setswitchinterval(interval)

    cfg = load_config(config_path)
    configure_logging(cfg.logging.level, "json")
    counters = asyncio.run(_serve(cfg))
    out = os.environ.get("BENCH_COUNTERS_FILE")
    if out:
        Path(out).write_text(json.dumps(counters))


async def _serve(cfg: Config) -> dict[str, int]:
    from aiohttp import web

    from safetynet.clock import SystemClock
    from safetynet.runtime import tune_gc
    from safetynet.store import open_store
    from safetynet.web.app import Services, app_runner, create_app

    store = await open_store(cfg, SystemClock())
    runner = app_runner(create_app(Services(cfg=cfg, store=store, clock=SystemClock())), shutdown_timeout=2.0)
    try:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", cfg.server.port, backlog=2048).start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        tune_gc()  # as `safetynet serve` does
        print("ready", flush=True)
        os.dup2(2, 1)  # nobody reads the pipe after "ready": anything printed later goes to the log
        await stop.wait()
    finally:
        await runner.cleanup()
        counters = store.replies.counters()
        await store.close()
    return counters


def _start_server(prepared: Prepared, workdir: Path, switch_interval: float) -> subprocess.Popen[bytes]:
    env = {**os.environ, **prepared.env, "BENCH_SWITCH_INTERVAL": str(switch_interval or ""),
           "BENCH_COUNTERS_FILE": str(workdir / "counters.json")}
    log = open(workdir / "server.log", "ab")  # handed to the child; our copy is closed below
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "safetynet.bench_replies", "serve", str(prepared.config_path)],
        stdout=subprocess.PIPE, stderr=log, env=env,
    )
    log.close()
    assert proc.stdout is not None
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.strip() == b"ready":
            return proc
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError(f"the bench server did not start; see {workdir / 'server.log'}")


def _proc_usage(pid: int) -> tuple[float, float, float]:
    """(CPU seconds of the whole process, of its main thread, peak RSS MB)."""
    from safetynet.procinfo import cpu_seconds, peak_rss_mb

    return cpu_seconds(pid), cpu_seconds(f"{pid}/task/{pid}"), peak_rss_mb(pid)


# -- the load generator ---------------------------------------------------------------------------


@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)
    accepted: int = 0
    refused: dict[int, int] = field(default_factory=dict)
    errors: int = 0


async def _worker(port: int, jobs: list[tuple[str, str, str]], load: Load) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    host = f"127.0.0.1:{port}".encode()
    try:
        while jobs:
            token, status, key = jobs.pop()
            body = f"status={status}&k={key}".encode()
            request = (b"POST /r/" + token.encode() + b" HTTP/1.1\r\nHost: " + host
                       + b"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: "
                       + str(len(body)).encode() + b"\r\n\r\n" + body)
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            at = head.lower().find(b"content-length:")
            length = int(head[at + 15 : head.index(b"\r\n", at)]) if at >= 0 else 0
            await reader.readexactly(length)
            load.latencies.append(time.perf_counter() - t0)
            code = int(head[9:12])
            if code == 200:
                load.accepted += 1
            else:
                load.refused[code] = load.refused.get(code, 0) + 1
    except (OSError, asyncio.IncompleteReadError, ValueError):
        load.errors += 1
    finally:
        writer.close()


async def fire(port: int, tokens: Sequence[str], connections: int, need_help: float) -> tuple[Load, float]:
    rng = random.Random(11)
    jobs = [(t, "need_help" if rng.random() < need_help else "safe", secrets.token_urlsafe(12)) for t in tokens]
    load = Load()
    started = time.perf_counter()
    await asyncio.gather(*(_worker(port, jobs, load) for _ in range(connections)))
    return load, time.perf_counter() - started


async def _stored(cfg: Config, campaign_id: int) -> tuple[int, int]:
    """(answers in the replies table, answered households per the live counters)."""
    from safetynet.store import store_session

    async with store_session(cfg) as store:
        stored = await store.replies.count_replies(campaign_id, ("safe", "need_help"))
        counts = await store.stats.counts(campaign_id)
    return stored, sum(c.n for c in counts if c.status in ("safe", "need_help"))


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


# -- run ------------------------------------------------------------------------------------------


def run(cfg: Config, args: argparse.Namespace) -> dict[str, Any]:
    """Prepares (or reuses) the city, starts the server, fires the answers; returns the figures."""
    households = int(args.households)
    port = int(args.port) or _free_port()
    with tempfile.TemporaryDirectory(prefix="bench-replies-") as tmp:
        workdir = Path(args.workdir) if args.workdir else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        print(f"preparing {households:,} households…", file=sys.stderr, flush=True)
        prepared = prepare(households, workdir, port)
        tokens = prepared.tokens[: min(int(args.replies), len(prepared.tokens))]
        random.Random(3).shuffle(tokens)  # households in no particular order, as a city answers
        bench_cfg = load_config(prepared.config_path, env=prepared.env)
        stored0, counted0 = asyncio.run(_stored(bench_cfg, prepared.campaign_id))
        proc = _start_server(prepared, workdir, float(args.switch_interval))
        try:
            cpu0, main0, _ = _proc_usage(proc.pid)
            client0 = time.process_time()
            print(f"firing {len(tokens):,} answers over {args.connections} connections…", file=sys.stderr, flush=True)
            load, seconds = asyncio.run(fire(port, tokens, int(args.connections), float(args.need_help)))
            client_cpu = time.process_time() - client0
            cpu1, main1, rss = _proc_usage(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        stored, counted = asyncio.run(_stored(bench_cfg, prepared.campaign_id))
        stored, counted = stored - stored0, counted - counted0  # a reused database holds earlier runs
        counters_file = workdir / "counters.json"
        counters = json.loads(counters_file.read_text()) if counters_file.exists() else {}
    return _figures(households, len(tokens), load, seconds, stored, counted, counters, args,
                    server=(cpu1 - cpu0, main1 - main0, rss), client_cpu=client_cpu, prepared=prepared)


def _figures(households: int, sent: int, load: Load, seconds: float, stored: int, counted: int,
             counters: Mapping[str, int], args: argparse.Namespace, *, server: tuple[float, float, float],
             client_cpu: float, prepared: Prepared) -> dict[str, Any]:
    cpu, loop_cpu, rss = server
    lat = sorted(load.latencies)
    per_reply = 1e6 / max(1, load.accepted)
    return {
        "households": households,
        "replies_sent": sent,
        "accepted": load.accepted,
        "stored": stored,
        "counted": counted,
        "stored_equals_accepted": stored == load.accepted,
        "refused": {str(k): v for k, v in load.refused.items()},
        "connection_errors": load.errors,
        "seconds": round(seconds, 3),
        "replies_per_second": round(load.accepted / seconds, 1) if seconds else 0.0,
        "p50_ms": round(_percentile(lat, 0.50) * 1000, 2),
        "p95_ms": round(_percentile(lat, 0.95) * 1000, 2),
        "p99_ms": round(_percentile(lat, 0.99) * 1000, 2),
        "max_ms": round((lat[-1] if lat else 0.0) * 1000, 2),
        "connections": int(args.connections),
        "switch_interval": float(args.switch_interval) or sys.getswitchinterval(),
        "server_cpu_seconds": round(cpu, 2),
        "server_cpu_us_per_reply": round(cpu * per_reply, 1),
        # the event loop's thread; the rest is SQLite on aiosqlite's threads (the other core)
        "server_loop_us_per_reply": round(loop_cpu * per_reply, 1),
        "client_cpu_us_per_reply": round(client_cpu / max(1, len(lat)) * 1e6, 1),
        "server_peak_rss_mb": round(rss, 1),
        # answers sharing one token lookup and one commit (higher: fewer round trips a reply)
        "lookups_per_batch": round(counters.get("lookups", 0) / max(1, counters.get("lookup_batches", 0)), 1),
        "writes_per_commit": round(counters.get("writes", 0) / max(1, counters.get("write_batches", 0)), 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "setup_seconds": round(prepared.setup_seconds, 1),
        "setup_reused": prepared.reused,
    }


def report(result: Mapping[str, Any], as_json: bool) -> str:
    if as_json:
        return json.dumps(result, ensure_ascii=False)
    return (
        f"{result['accepted']:,} answers accepted in {result['seconds']} s: {result['replies_per_second']:,} replies/s\n"
        f"latency p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, p99 {result['p99_ms']} ms, "
        f"max {result['max_ms']} ms\n"
        f"stored {result['stored']:,} / accepted {result['accepted']:,} (counters: {result['counted']:,}); "
        f"server {result['server_cpu_us_per_reply']} µs CPU a reply, peak RSS {result['server_peak_rss_mb']} MB"
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:
        serve(argv[1])
        return 0
    parser = argparse.ArgumentParser(prog="python -m safetynet.bench_replies", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    print(report(run(load_config(None), args), args.json))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

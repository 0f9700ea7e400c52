"""`safetynet bench replies`: the reply page under wrk, against a floor handler in the same run.

A server process (the real app, no dispatcher) holds a campaign over a generated city; a floor
process (`safetynet.lab.bench_floor`: the same routes, reads the form, answers a small page, no store)
stands beside it. wrk (1 thread, `--connections`, a Lua script rotating over real reply links)
loads each in turn, alternating, for several rounds: the first GET of a link, the one-tap POST,
and the GET of a household that has already answered (its history shown). Printed: the server's
rate as a share of the floor's for each, the absolute rates and CPU per request beside it, and
the answers stored against those wrk saw acknowledged.
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
from safetynet.console import count_argument, share_argument

DEFAULT_HOUSEHOLDS = 200_000
DEFAULT_CONNECTIONS = 64
READY_TIMEOUT_SECONDS = 60.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--households", type=count_argument, default=DEFAULT_HOUSEHOLDS, help="households in the campaign")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of server-then-floor runs (default 3)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds of each wrk run (default 5)")
    parser.add_argument("--answered", type=int, default=5_000,
                        help="households that answer before the rounds, for the GET with history (5,000)")
    parser.add_argument("--fresh", type=int, default=20_000, help="households only opened, for the first GET (20,000)")
    parser.add_argument("--connections", type=int, default=DEFAULT_CONNECTIONS, help="keep-alive connections")
    parser.add_argument("--need-help", type=share_argument, default=0.01, help="share of need_help answers (default 0.01)")
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
    """The server half (`python -m safetynet.lab.bench_replies serve CONFIG`): the app, no dispatcher."""
    from safetynet.logs import configure_logging

    interval = float(os.environ.get("BENCH_SWITCH_INTERVAL") or 0)
    if interval > 0:
        # How long a thread may keep the GIL while another waits: aiosqlite's threads wait on it.
        sys.setswitchinterval(interval)

    cfg = load_config(config_path)
    configure_logging(cfg.logging.level, "json")
    from safetynet.runtime import run

    counters = run(_serve(cfg))  # as `safetynet serve` runs
    out = os.environ.get("BENCH_COUNTERS_FILE")
    if out:
        Path(out).write_text(json.dumps(counters))


async def _serve(cfg: Config) -> dict[str, int]:
    from safetynet.clock import SystemClock
    from safetynet.runtime import tune_gc
    from safetynet.store import open_store
    from safetynet.web.app import Services, app_runner, create_app, site

    store = await open_store(cfg, SystemClock())
    runner = app_runner(create_app(Services(cfg=cfg, store=store, clock=SystemClock())), shutdown_timeout=2.0)
    try:
        await runner.setup()
        await site(runner, "127.0.0.1", cfg.server.port, backlog=2048).start()  # as `serve` listens
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
        [sys.executable, "-m", "safetynet.lab.bench_replies", "serve", str(prepared.config_path)],
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
    from safetynet.lab.procinfo import cpu_seconds, peak_rss_mb

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


# -- the wrk rounds -------------------------------------------------------------------------------

LUA = Path(__file__).parent.parent / "data" / "bench-replies.lua"
# (name, method, token set): a first GET (the link opened), a POST (the one-tap answer), and a
# GET of a household that has answered (its history shown under the question).
KINDS = (("get", "GET", "fresh"), ("post", "POST", "post"), ("get_answered", "GET", "answered"))


@dataclass
class Run:
    """One wrk run against one target."""

    requests: int
    seconds: float
    cpu_seconds: float
    non_2xx: int
    errors: int
    p50_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_seconds * 1e6 / max(1, self.requests)


def wrk_binary() -> str:
    import shutil

    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk)")
    return found


def wrk_run(url: str, tokens_file: Path, method: str, prefix: str, start: int, seconds: float,
            connections: int, pid: int) -> Run:
    """wrk with 1 thread for `seconds`; the target process's CPU read from /proc around it."""
    from safetynet.lab.procinfo import cpu_seconds

    cmd = [wrk_binary(), "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
           "-s", str(LUA), url, "--", str(tokens_file), method, prefix, str(start)]
    cpu0 = cpu_seconds(pid)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout  # noqa: S603 - wrk, our args
    cpu = cpu_seconds(pid) - cpu0
    line = next((x for x in out.splitlines() if x.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{out[-2000:]}")
    doc = json.loads(line[len("WRK_JSON "):])
    errors = doc["connect_errors"] + doc["read_errors"] + doc["write_errors"] + doc["timeouts"]
    return Run(doc["requests"], doc["duration_us"] / 1e6, cpu, doc["non_2xx"], errors,
               doc["p50_us"] / 1000, doc["p99_us"] / 1000)


@dataclass
class Rounds:
    server: dict[str, list[Run]] = field(default_factory=lambda: {k: [] for k, _, _ in KINDS})
    floor: dict[str, list[Run]] = field(default_factory=lambda: {k: [] for k, _, _ in KINDS})


def alternate(server: tuple[str, int], floor: tuple[str, int], files: Mapping[str, Path], rounds: int,
              seconds: float, connections: int) -> Rounds:
    """Each round: for each kind, the server then the floor (then the floor first on the next round),
    so a change in the machine's load falls on both sides of a ratio."""
    out = Rounds()
    post_at = {"server": 0, "floor": 0}
    for r in range(rounds):
        for kind, method, tokens in KINDS:
            order = [("server", server), ("floor", floor)]
            if r % 2:
                order.reverse()
            for side, (url, pid) in order:
                start = post_at[side] if method == "POST" else 0
                print(f"round {r + 1}/{rounds}: {kind} on the {side}…", file=sys.stderr, flush=True)
                run = wrk_run(url, files[tokens], method, f"r{r}{side[0]}", start, seconds, connections, pid)
                if method == "POST":
                    post_at[side] += run.requests  # the next round answers for households not yet answered
                getattr(out, side)[kind].append(run)
    return out


def _median(values: Sequence[float]) -> float:
    s = sorted(values)
    if not s:
        return 0.0
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def summarise(rounds: Rounds) -> dict[str, Any]:
    """Per kind: the server's rate over the floor's, round by round and their median, with the
    absolute figures beside them."""
    out: dict[str, Any] = {}
    for kind, _, _ in KINDS:
        srv, flo = rounds.server[kind], rounds.floor[kind]
        ratios = [s.per_second / f.per_second for s, f in zip(srv, flo, strict=True) if f.per_second]
        out[kind] = {
            "ratio": round(_median(ratios), 3),
            "ratios": [round(x, 3) for x in ratios],
            "server_per_second": [round(s.per_second, 1) for s in srv],
            "floor_per_second": [round(f.per_second, 1) for f in flo],
            "server_cpu_us_per_request": round(_median([s.cpu_us_per_request for s in srv]), 1),
            "floor_cpu_us_per_request": round(_median([f.cpu_us_per_request for f in flo]), 1),
            "cpu_multiple": round(_median([s.cpu_us_per_request for s in srv])
                                  / max(1e-9, _median([f.cpu_us_per_request for f in flo])), 2),
            "server_p50_ms": round(_median([s.p50_ms for s in srv]), 2),
            "server_p99_ms": round(_median([s.p99_ms for s in srv]), 2),
            "floor_p99_ms": round(_median([f.p99_ms for f in flo]), 2),
            "server_non_2xx": sum(s.non_2xx for s in srv),
            "server_socket_errors": sum(s.errors for s in srv),
            "floor_non_2xx": sum(f.non_2xx for f in flo),
        }
    return out


# -- run ------------------------------------------------------------------------------------------


def _token_sets(tokens: list[str], answered: int, fresh: int) -> dict[str, list[str]]:
    """Disjoint sets: households answered before the rounds (GET with history), households only
    opened (GET), and the rest for the answers (POST), in no particular order as a city answers."""
    shuffled = list(tokens)
    random.Random(3).shuffle(shuffled)
    n_answered = min(answered, len(shuffled) // 4)
    n_fresh = min(fresh, len(shuffled) // 4)
    return {"answered": shuffled[:n_answered], "fresh": shuffled[n_answered:n_answered + n_fresh],
            "post": shuffled[n_answered + n_fresh:]}


def run(cfg: Config, args: argparse.Namespace) -> dict[str, Any]:
    """Prepares (or reuses) the city, starts the server and the floor, alternates wrk over both."""
    from safetynet.lab.bench_floor import FloorServer

    households = int(args.households)
    port = int(args.port) or _free_port()
    wrk_binary()
    with tempfile.TemporaryDirectory(prefix="bench-replies-") as tmp:
        workdir = Path(args.workdir) if args.workdir else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        print(f"preparing {households:,} households…", file=sys.stderr, flush=True)
        prepared = prepare(households, workdir, port)
        sets = _token_sets(prepared.tokens, int(args.answered), int(args.fresh))
        files = {}
        for name, toks in sets.items():
            files[name] = workdir / f"tokens-{name}.txt"
            files[name].write_text("\n".join(toks) + "\n")
        bench_cfg = load_config(prepared.config_path, env=prepared.env)
        # a kept --workdir holds the last run's counters: a server that dies now must not report them
        (workdir / "counters.json").unlink(missing_ok=True)
        proc = _start_server(prepared, workdir, float(args.switch_interval))
        floor = FloorServer()
        try:
            floor.start()
            print(f"answering for {len(sets['answered']):,} households first…", file=sys.stderr, flush=True)
            seed, _ = asyncio.run(fire(port, sets["answered"], int(args.connections), 0.0))
            stored0, counted0 = asyncio.run(_stored(bench_cfg, prepared.campaign_id))
            rounds = alternate((f"http://127.0.0.1:{port}", proc.pid), (floor.url, floor.pid), files,
                               int(args.rounds), float(args.seconds), int(args.connections))
            _, _, rss = _proc_usage(proc.pid)
        finally:
            floor.stop()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        stored, counted = asyncio.run(_stored(bench_cfg, prepared.campaign_id))
        shared = _sharing(workdir / "counters.json")
    posted = sum(r.requests - r.non_2xx for r in rounds.server["post"])
    return {
        "households": households,
        "connections": int(args.connections),
        "rounds": int(args.rounds),
        "seconds_per_run": float(args.seconds),
        "kinds": summarise(rounds),
        "seeded_answers": seed.accepted,
        # wrk counts the answers it saw answered; up to one a connection is still in flight when it stops
        "posted_2xx": posted,
        "stored": stored - stored0,
        "answered_households_added": counted - counted0,
        "stored_matches_posted": 0 <= (stored - stored0) - posted <= int(args.connections) * int(args.rounds),
        "server_peak_rss_mb": round(rss, 1),
        # how many answers (and reads) a commit carried, and token lookups a read: what batching buys
        **shared,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "setup_seconds": round(prepared.setup_seconds, 1),
        "setup_reused": prepared.reused,
    }


def _sharing(path: Path) -> dict[str, float]:
    """The server's batching over the whole run (its `ReplyStore.counters` at exit)."""
    try:
        c = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(c, dict) or not {"writes", "write_batches", "lookups", "lookup_batches"} <= c.keys():
        return {}
    return {"writes_per_commit": round(c["writes"] / max(1, c["write_batches"]), 1),
            "lookups_per_read": round(c["lookups"] / max(1, c["lookup_batches"]), 1)}


def report(result: Mapping[str, Any], as_json: bool) -> str:
    if as_json:
        return json.dumps(result, ensure_ascii=False)
    lines = [f"reply page vs the floor handler ({result['households']:,} households, wrk 1 thread, "
             f"{result['connections']} connections, {result['rounds']} rounds of {result['seconds_per_run']} s; "
             f"load {result['load_average_1m']})"]
    for kind, k in result["kinds"].items():
        lines.append(
            f"  {kind:<13} {k['ratio']:.2f} of the floor (rounds {', '.join(f'{x:.2f}' for x in k['ratios'])}); "
            f"server {', '.join(f'{x:,.0f}' for x in k['server_per_second'])}/s, floor "
            f"{', '.join(f'{x:,.0f}' for x in k['floor_per_second'])}/s; CPU {k['server_cpu_us_per_request']} µs "
            f"a request = {k['cpu_multiple']}× the floor's {k['floor_cpu_us_per_request']} µs; "
            f"p99 {k['server_p99_ms']} ms (floor {k['floor_p99_ms']} ms); non-2xx {k['server_non_2xx']}")
    lines.append(f"  answers: {result['posted_2xx']:,} acknowledged, {result['stored']:,} stored "
                 f"({'consistent' if result['stored_matches_posted'] else 'MISMATCH'}); "
                 f"server peak RSS {result['server_peak_rss_mb']} MB")
    if "writes_per_commit" in result:
        lines.append(f"  batching: {result['writes_per_commit']} answers and reads a commit, "
                     f"{result['lookups_per_read']} token lookups a read")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:
        serve(argv[1])
        return 0
    parser = argparse.ArgumentParser(prog="python -m safetynet.lab.bench_replies", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    print(report(run(load_config(None), args), args.json))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

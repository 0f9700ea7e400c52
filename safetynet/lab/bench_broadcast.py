"""`safetynet bench broadcast --households N --json`: the first wave of a city-wide campaign.

A generated city (60 % of households enrolled for web push, 20 % Telegram, 20 % SMS only) is
imported by a helper process, a campaign is started (step 0 planned into the outbox), then this
process dispatches the first wave against the sandbox running in another process with no provider
limits (unless `--sms-limit` sets one). Web push is encrypted and sent by a second process when
the machine has a second core (`--processes 1` keeps everything in one). Printed: deliveries/s
per channel, total seconds, peak RSS of the dispatching processes, duplicates (messages the sandbox received
beyond one per delivery) and lost (households neither reached nor on the door-knock list).
On the embedded SQLite by default; `--store-url postgresql://…` runs one dispatcher on a fresh
PostgreSQL database made for the run (see `lab.benchstore`).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp

from safetynet.config import Config, load_config
from safetynet.console import count_argument
from safetynet.lab.bench_floor import ClientSinkFloor, mean_floor, measure_client_sink, multiple
from safetynet.lab.benchstore import BenchStore, add_store_argument, bench_store
from safetynet.lab.pgcpu import PostgresCpu, measurable

READY = "sandbox listening on "
MESSAGE = {"ja": "震度6強の地震が発生しました。ご家族の安否を下のリンクから回答してください。",
           "en": "A strong earthquake has hit. Please tell us whether your household is safe."}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--households", type=count_argument, default=20_000, help="households in the city (default 20,000)")
    parser.add_argument("--sms-limit", type=float, default=0.0, metavar="PER_SECOND",
                        help="SMS provider limit, kept by the dispatcher and enforced by the sandbox (default: none)")
    parser.add_argument("--processes", type=int, choices=(1, 2), default=2 if (os.cpu_count() or 1) > 1 else 1,
                        help="2: web push from a second process (default on a multi-core machine)")
    parser.add_argument("--log-level", default="warning", help="log level while dispatching (default warning)")
    parser.add_argument("--workdir", help="keep the database here (default: a temporary folder)")
    add_store_argument(parser)
    parser.add_argument("--floor-requests", type=int, default=10_000,
                        help="requests of the bare client-and-sink floor measured before the wave (10,000)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=main)


def _env(workdir: Path, sandbox_url: str, sms_limit: float, log_level: str,
         store: BenchStore | None = None) -> dict[str, str]:
    """The preparing child's environment and the dispatcher's config: the same store for both."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFETYNET_")}
    env.update({
        "SAFETYNET_STORE_PATH": str(workdir / "bench.db"),
        "SAFETYNET_SECRET_KEY": "bench-broadcast-secret-key-0123456789",  # a throwaway city's (config's floor: 32 characters)
        "SAFETYNET_SERVER_PUBLIC_URL": "http://127.0.0.1:8080",
        "SAFETYNET_LOGGING_LEVEL": log_level,
        "SAFETYNET_LOGGING_FORMAT": "json",
        "SAFETYNET_CHANNELS_SMS_MAX_PER_SECOND": str(sms_limit),
    })
    for ch in ("SMS", "VOICE", "TELEGRAM"):
        env[f"SAFETYNET_CHANNELS_{ch}_API_BASE_URL"] = sandbox_url
    for ch in ("VOICE", "TELEGRAM", "WEBPUSH"):
        env[f"SAFETYNET_CHANNELS_{ch}_MAX_PER_SECOND"] = "0"
    env.update((store or BenchStore()).env())
    return env


# -- preparation (a helper process, so its memory is not the dispatcher's) ---------------------


def _subscription_keys() -> tuple[str, str]:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)

    def b64u(b: bytes) -> str:
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

    return b64u(raw), b64u(os.urandom(16))


def city(n: int) -> Iterator[tuple[Any, str]]:
    """Generated households, each with the channel it enrols: webpush 60 %, telegram 20 %, sms 20 %."""
    import dataclasses

    from safetynet.roster.generate import generate_roster

    for i, r in enumerate(generate_roster(n, seed=11)):
        share = i % 10
        phone = r.contact("mobile")
        if share < 6:
            yield dataclasses.replace(r, contacts=_without(r, "telegram")), "webpush"
        elif share < 8:
            yield dataclasses.replace(r, contacts=(*_without(r, "telegram"), ("telegram", str(800_000_000 + i)))), "telegram"
        else:
            yield dataclasses.replace(r, contacts=(("mobile", phone or f"+8180{i:08d}"),)), "sms"


def _without(r: Any, kind: str) -> tuple[tuple[str, str], ...]:
    return tuple((k, a) for k, a in r.contacts if k != kind)


async def _prepare(cfg: Config, n: int, sandbox_url: str) -> dict[str, Any]:
    from safetynet.broadcast.service import CampaignService, CampaignSpec
    from safetynet.domain import CampaignKind
    from safetynet.store import store_session

    rows = list(city(n))
    p256dh, auth = _subscription_keys()
    async with store_session(cfg) as store:
        t0 = time.perf_counter()
        await store.roster.import_households([r for r, _ in rows])
        t1 = time.perf_counter()
        keys = {t.household_key + "\0" + t.association: t.household_id
                for t in await store.roster.code_targets(only_without_code=False)}
        push = [keys[r.household_key + "\0" + r.association] for r, ch in rows if ch == "webpush"]
        await store.roster.add_enrolled_contacts(
            (hid, "webpush", json.dumps({"endpoint": f"{sandbox_url}/wpush/s{hid}",
                                                    "keys": {"p256dh": p256dh, "auth": auth}}))
            for hid in push)
        t2 = time.perf_counter()
        svc = CampaignService(store, cfg, store.clock)
        c = await svc.launch(CampaignSpec("ベンチマーク 一斉送信", CampaignKind.DRILL, ("city",), dict(MESSAGE)))
        t3 = time.perf_counter()
    return {"campaign_id": c.id, "import_seconds": round(t1 - t0, 2), "enrol_seconds": round(t2 - t1, 2),
            "plan_seconds": round(t3 - t2, 2)}


def prepare_main(argv: list[str]) -> int:
    n, sandbox_url = int(argv[0]), argv[1]
    print(json.dumps(asyncio.run(_prepare(load_config(None), n, sandbox_url))), flush=True)
    return 0


# -- the run -------------------------------------------------------------------------------------


async def _sandbox(env: Mapping[str, str], workdir: Path, sms_limit: float) -> tuple[asyncio.subprocess.Process, str]:
    cmd = [sys.executable, "-m", "safetynet.sandbox", "--port", "0", "--no-verify-push", "--no-callbacks"]
    if sms_limit:
        cmd += ["--rate-limit", f"sms={sms_limit}"]
    clean = {k: v for k, v in env.items() if not k.startswith("SAFETYNET_")}
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.PIPE, env=clean, cwd=str(workdir))
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
    if not line.startswith(READY):
        proc.kill()
        raise RuntimeError(f"sandbox did not start: {line!r}")
    return proc, line[len(READY):]


async def _dispatch(cfg: Config, processes: int, sandbox_pid: int, bench: BenchStore | None = None) -> dict[str, Any]:
    from safetynet.broadcast.dispatcher import Dispatcher
    from safetynet.broadcast.sendworker import ProcessSender
    from safetynet.lab.procinfo import cpu_seconds, peak_rss_mb
    from safetynet.runtime import tune_gc
    from safetynet.store import store_session
    from safetynet.system import build_dispatch_senders

    async with store_session(cfg) as store:
        senders = build_dispatch_senders(cfg, send_workers=processes == 2)
        for s in senders.values():
            await s.start()
        tune_gc()  # as `safetynet serve` does once it is up
        pids: dict[str, int | str] = {"dispatcher": "self", "sandbox": sandbox_pid}
        pids.update({f"{ch}_worker": s.pid for ch, s in senders.items() if isinstance(s, ProcessSender) and s.pid})
        dispatching = [os.getpid(), *(int(p) for k, p in pids.items() if k.endswith("_worker"))]
        pg = await _postgres_cpu(bench, dispatching)
        cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
        t0 = time.perf_counter()
        try:
            report = await Dispatcher(store, senders, cfg, store.clock, contacts=store.roster).burst()
            seconds = time.perf_counter() - t0
            cpu = {k: round(cpu_seconds(pids[k]) - v, 3) for k, v in cpu0.items()}
            if pg is not None:
                await pg.sample()
                by = pg.seconds()
                cpu["postgres"] = round(by.pop("dispatching", 0.0), 3)
                cpu["postgres_other"] = round(sum(by.values()), 3)
        finally:
            if pg is not None:
                await pg.close()
        rss = {k: round(peak_rss_mb(p), 1) for k, p in pids.items() if k != "sandbox"}
        for s in senders.values():
            await s.close()
    return {"first_wave_seconds": round(seconds, 2), "cpu_seconds": cpu, "lanes": report.to_dict(),
            "peak_rss_mb": max(rss.values()), "peak_rss_mb_per_process": rss}


async def _postgres_cpu(bench: BenchStore | None, dispatching: list[int]) -> PostgresCpu | None:
    """The PostgreSQL backends serving the dispatcher, whose CPU is the database's share of a
    delivery (on SQLite that share is in the dispatcher's own CPU); None on SQLite or a remote server."""
    if bench is None or not bench.url or not measurable(bench.url):
        return None
    pg = PostgresCpu(bench.url, lambda: {"dispatching": dispatching})
    await pg.start()
    return pg


async def _verify(cfg: Config, campaign_id: int, sandbox_url: str) -> dict[str, Any]:
    from safetynet.broadcast.service import CampaignService
    from safetynet.store import store_session

    async with aiohttp.ClientSession() as s, s.get(f"{sandbox_url}/_sandbox/stats") as r:
        sb = await r.json()
    async with store_session(cfg) as store:
        doc = await CampaignService(store, cfg, store.clock).stats(campaign_id)
        counts = await store.campaigns.delivery_counts(campaign_id)
        on_list = len(await store.campaigns.doorknock_households(campaign_id))
    sent = sum(n for (_, _, state), n in counts.items() if state in ("sent", "delivered", "undelivered"))
    status = doc["status"]
    reached = status["notified"] + status["read"] + status["safe"] + status["need_help"]
    return {"households": doc["households"], "sent": sent, "sandbox_messages": sb["messages"],
            "duplicates": max(0, sb["messages"] - sent), "lost": doc["households"] - reached - on_list,
            "door_knock": on_list, "sandbox_429": sb.get("429_sent", 0),
            "sandbox_429_rate_limit": sb.get("429_rate_limit", 0)}


def _rates(lanes: Mapping[str, Any]) -> dict[str, float | None]:
    return {ch: v.get("per_second") for ch, v in lanes.items() if v.get("sent")}


async def _run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    async with bench_store(args.store_url, keep=bool(args.workdir)) as store:
        return {**await _run_on(args, workdir, store), "store": store.to_dict()}


async def _run_on(args: argparse.Namespace, workdir: Path, store: BenchStore) -> dict[str, Any]:
    env = _env(workdir, "http://127.0.0.1:9", args.sms_limit, args.log_level, store)
    proc, url = await _sandbox(env, workdir, args.sms_limit)
    try:
        env = _env(workdir, url, args.sms_limit, args.log_level, store)
        cfg = load_config(None, env=env)
        print(f"preparing {args.households:,} households…", file=sys.stderr, flush=True)
        prep = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "safetynet.lab.bench_broadcast", "prepare", str(args.households), url, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = await prep.communicate()
        if prep.returncode != 0:
            raise RuntimeError(f"preparation failed: {err.decode()[-2000:]}")
        prepared = json.loads(out.decode().strip().splitlines()[-1])
        from safetynet.logs import configure_logging

        configure_logging(args.log_level, "json")
        print("measuring the floor (a bare aiohttp client posting to a bare aiohttp sink)…", file=sys.stderr, flush=True)
        before = await asyncio.to_thread(measure_client_sink, int(args.floor_requests))
        print("dispatching the first wave…", file=sys.stderr, flush=True)
        wave = await _dispatch(cfg, args.processes, proc.pid, store)
        print("measuring the floor again…", file=sys.stderr, flush=True)
        after = await asyncio.to_thread(measure_client_sink, int(args.floor_requests))
        floor = mean_floor(before, after)
        checked = await _verify(cfg, prepared["campaign_id"], url)
    finally:
        proc.terminate()
        await proc.wait()
    sent = checked["sent"]
    return {**prepared, **checked, **wave, "processes": args.processes,
            "deliveries_per_second": round(sent / wave["first_wave_seconds"], 1) if wave["first_wave_seconds"] else None,
            "per_channel_per_second": _rates(wave["lanes"]), "sms_limit": args.sms_limit,
            "floor": floor.to_dict(), "floor_before": before.to_dict(), "floor_after": after.to_dict(),
            "event_loop": type(asyncio.get_running_loop()).__module__.split(".")[0],
            **against_floor(wave["cpu_seconds"], sent, floor)}


def against_floor(cpu: Mapping[str, float], sent: int, floor: ClientSinkFloor) -> dict[str, Any]:
    """CPU per delivery of the dispatching processes (the dispatcher and its send workers, and on
    PostgreSQL the backends serving them), and of the sandbox receiving them, as multiples of the
    bare client's and the bare sink's per request."""
    ours = sum(v for k, v in cpu.items() if k not in ("sandbox", "postgres_other"))
    per = 1000 / max(1, sent)
    out = {"cpu_ms_per_delivery": round(ours * per, 4),
           "cpu_ms_per_delivery_by_process": {k: round(v * per, 4) for k, v in cpu.items()},
           "delivery_cpu_multiple_of_bare_client": multiple(ours * per, floor.client_cpu_ms_per_request),
           "sandbox_cpu_multiple_of_bare_sink": multiple(cpu.get("sandbox", 0.0) * per,
                                                         floor.sink_cpu_ms_per_request)}
    if "postgres" in cpu:
        out["delivery_cpu_multiple_of_bare_client_without_postgres"] = multiple(
            (ours - cpu["postgres"]) * per, floor.client_cpu_ms_per_request)
    return out


def run(cfg: Config, args: argparse.Namespace) -> dict[str, Any]:
    """Runs the benchmark (in its own temporary city; `cfg` is not touched) and returns the figures.

    The dispatcher runs on the event loop `safetynet serve` runs it on (uvloop when installed)."""
    from safetynet.runtime import run as run_server

    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
        return run_server(_run(args, Path(args.workdir)))
    with tempfile.TemporaryDirectory(prefix="bench-broadcast-") as tmp:
        return run_server(_run(args, Path(tmp)))


def _store(result: Mapping[str, Any]) -> str:
    store = result.get("store", {"kind": "sqlite"})
    if store["kind"] == "sqlite":
        return "SQLite"
    return f"PostgreSQL, one dispatcher ({store['database']}, {'kept' if store['kept'] else 'dropped'})"


def report(result: Mapping[str, Any], as_json: bool) -> str:
    if as_json:
        return json.dumps(result, ensure_ascii=False)
    lines = [f"{result['households']:,} households: first wave {result['sent']:,} deliveries in "
             f"{result['first_wave_seconds']} s = {result['deliveries_per_second']}/s "
             f"({result['processes']} process{'es' if result['processes'] > 1 else ''}, {_store(result)})"]
    lines += [f"  {ch:<9} {rate}/s" for ch, rate in result["per_channel_per_second"].items()]
    fl = result["floor"]
    lines.append(f"CPU seconds: {result['cpu_seconds']}")
    lines.append(f"CPU a delivery {result['cpu_ms_per_delivery']} ms = {result['delivery_cpu_multiple_of_bare_client']}× "
                 f"the bare aiohttp client's {fl['client_cpu_ms_per_request']} ms a request (bare sink "
                 f"{fl['sink_cpu_ms_per_request']} ms; {fl['requests_per_second']:,} requests/s), measured just before "
                 f"and after the wave; event loop: {result['event_loop']}")
    if "delivery_cpu_multiple_of_bare_client_without_postgres" in result:
        lines.append(f"  of which PostgreSQL's backends {result['cpu_ms_per_delivery_by_process']['postgres']} ms; "
                     f"without them {result['delivery_cpu_multiple_of_bare_client_without_postgres']}×")
    lines.append(f"peak RSS {result['peak_rss_mb']} MB; duplicates {result['duplicates']}; lost {result['lost']};"
                 f" sandbox 429s {result['sandbox_429']}")
    lines.append(f"import {result['import_seconds']} s, web-push enrolment {result['enrol_seconds']} s,"
                 f" plan {result['plan_seconds']} s")
    return "\n".join(lines)


def main(cfg: Config, args: argparse.Namespace) -> int:
    print(report(run(cfg, args), args.json))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["prepare"]:
        raise SystemExit(prepare_main(sys.argv[2:]))
    parser = argparse.ArgumentParser(prog="python -m safetynet.lab.bench_broadcast", description=__doc__)
    add_arguments(parser)
    ns = parser.parse_args()
    raise SystemExit(main(load_config(None), ns))

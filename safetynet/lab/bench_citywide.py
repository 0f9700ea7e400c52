"""`safetynet bench citywide --households N --json`: one city-wide drill, end to end, as fast as it goes.

Processes: the server (`safetynet serve`, the composition root; on the embedded SQLite, or with
`--store-url postgresql://…` on a fresh PostgreSQL database made for the run, see `lab.benchstore`), the
sandbox providers with the simulated residents in another (`safetynet.lab.sim.host`), a loader that
generates and imports the roster, and this one, which enrols residents through the real paths
(sandbox-minted push subscriptions posted to `/join/{code}/webpush`, Telegram `/start CODE`), starts
the drill over the API and measures:

1. the first wave: from the start request until every step-0 delivery is done (deliveries/s, per
   channel from the sandbox's counters); the residents decide as messages arrive but hold their answers;
2. the reply storm: every held answer released at once (80 % answer, 3 % need help), `concurrency`
   in flight: replies/s, latency p50/p99, and the stats API polled meanwhile (p95);
3. the rest of the ladder (SMS, voice, door-knock list), then the accounting: `lost` (answers the
   server accepted that are not stored as sent), `duplicates` (messages received beyond one per
   delivery sent), `unaccounted` (households neither answered nor on the door-knock list).

The server's CPU a unit is split three ways (`split_ms`): its event loop (HTTP, handlers, senders),
its other threads (the store's: SQLite runs its statements there) and the processes it started
(the web-push worker).

On PostgreSQL the database's work runs in the server's backends, not in the server: their CPU
(`lab.pgcpu`) is printed beside the server's, and the multiple with it is what compares with SQLite.

It prints numbers, never asserts on them. Peak RSS is read from /proc for each process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from safetynet.config import Config
from safetynet.console import count_argument, share_argument
from safetynet.lab.benchstore import add_store_argument, bench_store

DEFAULT_HOUSEHOLDS = 20_000
POLL_SECONDS = 0.25


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--households", type=count_argument, default=DEFAULT_HOUSEHOLDS,
                        help=f"households in the generated city (default {DEFAULT_HOUSEHOLDS:,})")
    parser.add_argument("--push-share", type=share_argument, default=0.6, help="households enrolling web push (0.6)")
    parser.add_argument("--telegram-share", type=share_argument, default=0.2, help="households enrolling Telegram (0.2)")
    parser.add_argument("--answer-share", type=share_argument, default=0.8, help="households that answer (0.8)")
    parser.add_argument("--need-help-share", type=share_argument, default=0.03, help="of the answers: need help (0.03)")
    parser.add_argument("--concurrency", type=int, default=64, help="answers in flight during the storm (64)")
    parser.add_argument("--sms-after", type=float, default=None, metavar="SECONDS",
                        help="the SMS rung, seconds after the start (default: 2.5 times the enrolment time)")
    parser.add_argument("--stats-every", type=float, default=1.0, metavar="SECONDS",
                        help="how often the stats API is asked, like an open dashboard (1.0)")
    parser.add_argument("--ladder-gap", type=float, default=30.0, metavar="SECONDS",
                        help="at least this long between the SMS, voice and door-knock rungs (30)")
    parser.add_argument("--workdir", help="keep the database and the logs here (default: a temporary folder)")
    add_store_argument(parser)
    parser.add_argument("--log-level", default="warning", help="log level of the server and the host (warning)")
    parser.add_argument("--floor-requests", type=int, default=10_000,
                        help="requests of the bare client-and-sink floor measured before each stage (10,000)")
    parser.add_argument("--profile", metavar="DIR",
                        help="py-spy flame graphs of the server (and its web-push worker) during the first wave and "
                             "the reply storm: DIR/first_wave.svg and DIR/reply_storm.svg; needs py-spy. A profiled "
                             "run is perturbed: read its graphs, not its multiples. Keep the SVGs out of git")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=main)


def ladder_seconds(households: int, sms_after: float | None = None, enrolled_per_second: float | None = None,
                   min_gap: float = 30.0) -> tuple[float, float, float]:
    """(SMS, voice, door-knock) rungs, after the first wave and the reply storm.

    How long those take depends on the machine and on what else runs on it; the enrolment, measured
    just before, is a fair gauge (each household costs the server about as much there as in the
    wave, and again in the storm), so the SMS rung comes at 2.5 times the city's enrolment time.
    """
    if sms_after is not None:
        sms = sms_after
    elif enrolled_per_second:
        sms = max(90.0, 2.5 * households / enrolled_per_second)
    else:
        sms = max(90.0, 0.0016 * households)
    gap = max(min_gap, 0.1 * sms)
    return sms, sms + gap, sms + 2 * gap


def campaign_body(rungs: tuple[float, float, float]) -> dict[str, Any]:
    from safetynet.lab.sim import city

    scenario = city.load_city_scenario(None)
    sms, voice, door = rungs
    return {"title": f"{scenario.title}（ベンチマーク）", "kind": "drill", "scope": ["city"],
            "messages": scenario.messages, "ladder": [
                {"after_seconds": 0, "channels": ["webpush", "telegram"], "fallback": ["sms", "voice"]},
                {"after_seconds": sms, "channels": ["sms"]},
                {"after_seconds": voice, "channels": ["voice"]},
                {"after_seconds": door, "door_knock": True}]}


def resident_model(args: argparse.Namespace) -> dict[str, Any]:
    from safetynet.lab.sim import city

    model = city.resident_model(city.load_city_scenario(None), answer_share=args.answer_share,
                                need_help_share=args.need_help_share, no_channel_share=0.0,
                                time_compression=1e9)  # answers go as fast as the machine allows
    return dict(model.__dict__)


def run(cfg: Config, args: argparse.Namespace) -> dict[str, Any]:
    """Runs the benchmark in a city of its own (`cfg` is not used) and returns the figures."""
    if args.workdir:
        workdir = Path(args.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        return asyncio.run(_run(args, workdir))
    with tempfile.TemporaryDirectory(prefix="bench-citywide-") as tmp:
        return asyncio.run(_run(args, Path(tmp)))


async def _run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from safetynet.lab.sim.citybench import CityBench

    async with bench_store(args.store_url, keep=bool(args.workdir)) as store:
        return await CityBench(args, workdir, secrets.token_urlsafe(32), store).run()


def _line(label: str, value: Any) -> str:
    return f"  {label:<28} {value}"


def _store(r: Mapping[str, Any]) -> str:
    store = r.get("store", {"kind": "sqlite"})
    if store["kind"] == "sqlite":
        return "SQLite"
    return f"PostgreSQL ({store['database']}, {'kept' if store['kept'] else 'dropped'})"


def report(r: Mapping[str, Any], as_json: bool) -> str:
    if as_json:
        return json.dumps(r, ensure_ascii=False)
    per = ", ".join(f"{ch} {v}/s" for ch, v in r["deliveries_per_second_by_channel"].items())
    return "\n".join([
        f"city-wide drill, {r['households']:,} households, {os.cpu_count()} cores, store {_store(r)}",
        _line("import", f"{r['import_seconds']} s"),
        _line("enrolment", f"{r['enrolled']['webpush']:,} push, {r['enrolled']['telegram']:,} Telegram "
                           f"in {r['enrolled']['seconds']} s"),
        _line("first wave", f"{r['first_wave_deliveries']:,} deliveries in {r['first_wave_seconds']} s = "
                            f"{r['deliveries_per_second']}/s ({per})"),
        _line("reply storm", f"{r['replies']:,} answers, {r['replies_per_second']}/s, "
                             f"p50 {r['reply_p50_ms']} ms, p99 {r['reply_p99_ms']} ms"),
        _line("stats during the storm", f"p95 {r['stats_p95_ms']} ms over {r['stats_requests_storm']} requests"),
        *[_line(f"server CPU, {stage}", f"{m['server_cpu_ms']} ms = {m['multiple']}× the bare "
                  f"{'client' if 'bare_client_cpu_ms' in m else 'sink'}'s "
                  f"{m.get('bare_client_cpu_ms', m.get('bare_sink_cpu_ms'))} ms a request"
                  + (f"; with PostgreSQL's backends serving it (+{m['postgres_cpu_ms']} ms) {m['multiple_with_postgres']}×"
                     if "multiple_with_postgres" in m else "")
                  + (f" (event loop {s.get('loop')}, other threads {s.get('threads')}, worker processes "
                     f"{s.get('workers')} ms)" if (s := m.get("split_ms")) else ""))
          for stage, m in r.get("server_cpu_multiple", {}).items()],
        *([_line("flame graphs", ", ".join(r["flame_graphs"].values()))] if r.get("flame_graphs") else []),
        _line("peak RSS", ", ".join(f"{k} {v} MB" for k, v in r["peak_rss_mb"].items())),
        _line("lost / duplicates", f"{r['lost']} / {r['duplicates']}"),
        _line("accounted", f"{r['answered']:,} answered, {r['door_knock']:,} door-knock, "
                           f"{r['unaccounted']} unaccounted"),
    ])


def main(cfg: Config, args: argparse.Namespace) -> int:
    if args.profile:
        from safetynet.lab.sim.flame import py_spy

        if py_spy() is None:
            print("bench citywide: --profile needs py-spy (pip install py-spy)", file=sys.stderr)
            return 2
    print(report(run(cfg, args), bool(args.json)), flush=True)
    return 0


if __name__ == "__main__":
    from safetynet.config import load_config

    _parser = argparse.ArgumentParser(prog="python -m safetynet.lab.bench_citywide", description=__doc__,
                                      formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(_parser)
    sys.exit(main(load_config(None), _parser.parse_args()))

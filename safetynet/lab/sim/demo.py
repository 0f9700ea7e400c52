"""`safetynet demo`: the whole system on this machine, with nothing configured.

A temporary data folder, the sample city (or a generated one), the sandbox providers, the server,
staff logins, residents enrolling web push and Telegram through the real enrolment paths, and a
city-wide drill answered by simulated residents at high speed. It prints the dashboard URL, a
login and the residents' inbox (the sandbox's record of every message, with its reply link), and
keeps serving until Ctrl-C. When the drill's ladder has run to the door-knock list and the residents
are done, the drill is closed (its pages say 終了, its report is final) and the dashboards stay up.
`--once` runs the drill to its end and prints the drill report, with every household accounted for.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from safetynet.config import Config
from safetynet.console import count_argument, share_argument
from safetynet.domain.campaigns import Campaign
from safetynet.lab.sim import city
from safetynet.lab.sim.drill import finish_and_report, start_drill, until_finished
from safetynet.lab.sim.stage import Stage, StageOptions, staged_city

# A 30-minute ladder in a minute: slow enough to watch the dashboard fill.
WATCH_SPEED = 30.0
# --once: the same drill in about 15 seconds.
ONCE_SPEED = 120.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--households", type=count_argument, default=None,
                        help="a generated city of N households (default: the sample roster, 600 households)")
    parser.add_argument("--once", action="store_true", help="run the drill to its end, print the report, exit")
    parser.add_argument("--json", action="store_true", help="print the drill report as JSON")
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument("--speed", type=float, default=None,
                        help=f"time compression of the ladder and the answers (default {WATCH_SPEED:g}, "
                             f"{ONCE_SPEED:g} with --once)")
    parser.add_argument("--scenario", type=Path, default=None,
                        help="drill scenario (default: drills/citywide-earthquake.toml)")
    parser.add_argument("--push-share", type=share_argument, default=0.6, help="households that enrol web push (0.6)")
    parser.add_argument("--telegram-share", type=share_argument, default=0.2, help="households that enrol Telegram (0.2)")
    parser.add_argument("--line-share", type=share_argument, default=0.1, help="households that enrol LINE (0.1)")
    parser.add_argument("--email-share", type=share_argument, default=0.5,
                        help="of the households enrolling none of these, those that enrol carrier mail (0.5)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="keep the demo's database and keys here (default: a temporary folder, removed)")
    parser.add_argument("--log-level", default="warning", help="server log level (default warning)")


def _say(text: str, stream: Any = None) -> None:
    print(text, file=stream or sys.stdout, flush=True)


@contextlib.contextmanager
def _data_dir(given: Path | None) -> Iterator[Path]:
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        yield given
        return
    tmp = Path(tempfile.mkdtemp(prefix="safetynet-demo-"))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _store_url() -> dict[str, str]:
    """The store the operator named (SAFETYNET_STORE_URL=postgresql://…: the demo city goes there);
    otherwise the demo's own SQLite file in its data folder."""
    url = os.environ.get("SAFETYNET_STORE_URL", "").strip()
    return {"SAFETYNET_STORE_URL": url} if url else {}


def _ladder_text(campaign: Campaign) -> str:
    parts = []
    for s in campaign.ladder:
        what = "door-knock list" if s.door_knock else "+".join(str(c) for c in s.channels)
        parts.append(f"{s.after_seconds:.0f} s {what}")
    return ", ".join(parts)


async def _first_association(stage: Stage) -> int | None:
    found = await stage.system.store.roster.list_associations()
    return found[0].id if found else None


async def _banner(stage: Stage, campaign: Campaign, speed: float, stream: Any) -> None:
    heads = sum(1 for s in stage.logins if s.login.startswith("head-"))
    assoc = await _first_association(stage)
    _say(f"SafetyNet demo: {stage.cfg.city.name}, {stage.households:,} households, sandbox providers", stream)
    _say(f"  city overview       {stage.url}/city", stream)
    if assoc is not None:
        _say(f"  an association      {stage.url}/a/{assoc}", stream)
    _say(f"  log in as           admin / {stage.password}", stream)
    _say(f"                      (heads head-1…head-{heads}, deputies deputy-1…deputy-{heads}: same password)",
         stream)
    _say(f"  enrolled            {stage.enrolment.webpush:,} web push, {stage.enrolment.telegram:,} Telegram, "
         f"{stage.enrolment.line:,} LINE, {stage.enrolment.email:,} email", stream)
    _say(f"  residents' inbox    {stage.sandbox.url}/_sandbox/messages", stream)
    _say("                      (every message the sandbox took, with its reply link; ?channel=sms|voice|telegram|line|"
         "webpush|email)", stream)
    _say(f"  drill               campaign {campaign.id} 「{campaign.title}」 at {speed:g}× speed: "
         f"{_ladder_text(campaign)}", stream)


def _summary(doc: dict[str, Any]) -> str:
    a, sim = doc["accounted"], doc["simulation"]
    return (f"drill finished in {sim['seconds']} s: {a['answered']:,} answered, "
            f"{a['confirmed_in_person']:,} confirmed in person, {a['door_knock']:,} on the door-knock list, "
            f"{a['unaccounted']:,} unaccounted (of {a['households']:,})")


async def _run(args: argparse.Namespace, stop: asyncio.Event) -> int:
    speed = float(args.speed or (ONCE_SPEED if args.once else WATCH_SPEED))
    scenario = city.load_city_scenario(args.scenario)
    model = city.resident_model(scenario, time_compression=speed)
    out = sys.stderr if (args.once and args.json) else sys.stdout
    with _data_dir(args.data_dir) as data_dir:
        options = StageOptions(data_dir=data_dir, households=args.households, port=args.port, model=model,
                               push_share=args.push_share, telegram_share=args.telegram_share, line_share=args.line_share,
                               email_share=args.email_share, env={"SAFETYNET_LOGGING_LEVEL": args.log_level, **_store_url()})
        async with staged_city(options) as stage:
            started = time.monotonic()
            campaign = await start_drill(stage, scenario, speed)
            await _banner(stage, campaign, speed, out)
            if not args.once:
                _say("Ctrl-C stops.", out)
            finished = asyncio.create_task(until_finished(stage, campaign))
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait({finished, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not finished.done():
                finished.cancel()
                _say("stopped before the drill finished", sys.stderr)
                return 130
            stopped.cancel()
            # closed in either mode: a drill that is over must not still say 実施中 with close buttons
            doc = await finish_and_report(stage, campaign, started, close=True)
            _say(json.dumps(doc, ensure_ascii=False) if args.json else _summary(doc))
            if args.once:
                return 0 if doc["accounted"]["unaccounted"] == 0 else 1
            _say(f"the drill is over and closed; its report: {stage.url}/campaigns/{campaign.id}/report."
                 " The dashboards stay up. Ctrl-C stops.", out)
            await stop.wait()
    return 0


async def _main(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return await _run(args, stop)


def main(cfg: Config, args: argparse.Namespace) -> int:
    """`safetynet demo`; `cfg` is not used: the demo configures a city of its own."""
    from safetynet.logs import configure_logging

    configure_logging(args.log_level, "auto")
    from safetynet.broadcast.scenario import ScenarioError
    from safetynet.broadcast.service import CampaignError
    from safetynet.console import print_error

    try:
        return asyncio.run(_main(args))
    except (city.CityError, CampaignError, ScenarioError) as e:
        print_error(e)
        return 2

"""`safetynet campaign preview|start|approve|cancel|status|close|report`: parse, call the service, print.

`campaign start` creates the campaign, plans step 0 into the outbox and returns: the dispatcher
of a running `safetynet serve` picks it up (it polls the outbox). It warns when no dispatcher is
alive (its heartbeat in the store) or a channel is failing: the id alone would suggest it is sent.

A real event needs two people (DESIGN §9): `start --real --as LOGIN` leaves it waiting for
approval, `approve ID --as OTHER` runs it. LOGIN names a city admin's staff login. The command
line runs with the database and the secret key at hand, so it cannot check who types: `--as` is
who answers for the act (kept with the campaign and shown on the console), not a sign-in. Where
two people must really be two, they approve on the console or the API, each signed in.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from safetynet.admin import CommandError
from safetynet.broadcast.health import DispatchStatus, enabled_channels, read_status
from safetynet.broadcast.scenario import Scenario, ScenarioError, load_scenario
from safetynet.broadcast.service import CampaignError, CampaignService, CampaignSpec, DuplicateCampaign
from safetynet.config import Config
from safetynet.domain import CampaignKind, CampaignState, Role, Scope
from safetynet.domain.campaigns import DEFAULT_LADDER, Actor, Campaign
from safetynet.i18n import t
from safetynet.triggers.xmlsafe import format_jst

T = TypeVar("T")

_EXAMPLES = {
    "preview": "safetynet campaign preview drills/citywide-earthquake.toml\n"
               "  safetynet campaign preview city --json\n"
               "  safetynet campaign preview drills/association-monthly.toml --scope association:桜町一丁目町会",
    "start": "safetynet campaign start drills/citywide-earthquake.toml\n"
             "  safetynet campaign start drills/association-monthly.toml --scope association:桜町一丁目町会 --json\n"
             "  safetynet campaign start drills/citywide-earthquake.toml --real --as bousai   # a real event:"
             " waits for a second city admin's approval",
    "approve": "safetynet campaign approve 12 --as kikikanri   # a city admin other than the one who started it",
    "cancel": "safetynet campaign cancel 12 --as bousai",
    "status": "safetynet campaign status 12 --json",
    "close": "safetynet campaign close 12",
    "report": "safetynet campaign report 12 --format html --output report.html",
}


def _parser(sub: Any, name: str, help_: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        name, help=help_, description=help_, epilog=f"examples:\n  {_EXAMPLES[name]}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return p


def add_arguments(sub: Any) -> None:
    p = _parser(sub, "preview", "households per channel per step, the time provider limits imply, the cost")
    p.add_argument("target", help="a scenario file (.toml) or a scope: city | district:NAME | association:NAME")
    p.add_argument("--scope", help="override the scenario's scope")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=preview)

    p = _parser(sub, "start", "start a campaign from a scenario: plans the first wave and prints its id")
    p.add_argument("scenario", help="scenario file (TOML), e.g. drills/citywide-earthquake.toml")
    p.add_argument("--scope", help="city | district:NAME | association:NAME (default: the scenario's)")
    p.add_argument("--real", action="store_true", help="a real event, not a drill (required for kind = \"real\");"
                   " it waits for a second city admin's approval")
    p.add_argument("--as", dest="as_login", metavar="LOGIN",
                   help="the city admin starting it (a staff login); required with --real")
    p.add_argument("--json", action="store_true", help='print {"id": …, "state": …}')
    p.add_argument("--simulate", action="store_true", help="simulated residents answer (demo machines only)")
    p.add_argument("--force", action="store_true",
                   help="start even though the same scenario already runs for the same scope (a second alert)")
    p.set_defaults(func=start)

    p = _parser(sub, "approve", "approve a real event waiting for approval: it is planned and sent at once")
    p.add_argument("id", type=int)
    p.add_argument("--as", dest="as_login", metavar="LOGIN", required=True,
                   help="the approving city admin (a staff login), not the one who started it")
    p.add_argument("--force", action="store_true", help="approve even though the same campaign already runs")
    p.add_argument("--json", action="store_true", help='print {"id": …, "state": …}')
    p.set_defaults(func=approve)

    p = _parser(sub, "cancel", "cancel a campaign not finished yet (a real event waiting for approval, a draft)")
    p.add_argument("id", type=int)
    p.add_argument("--as", dest="as_login", metavar="LOGIN", help="who cancels it (a staff login), for the record")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cancel)

    p = _parser(sub, "status", "the stats document of a campaign")
    p.add_argument("id", type=int)
    p.add_argument("--json", action="store_true", help="print the JSON stats document")
    p.set_defaults(func=status)

    p = _parser(sub, "close", "close a running campaign (what is still queued is not sent)")
    p.add_argument("id", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=close)

    p = _parser(sub, "report", "the campaign report (json, csv or html)")
    p.add_argument("id", type=int)
    p.add_argument("--format", choices=("json", "csv", "html"), default="html")
    p.add_argument("--output", help="write to this file instead of standard output")
    p.set_defaults(func=report)


def _run(cfg: Config, work: Callable[[CampaignService], Awaitable[T]]) -> T:
    from safetynet.store import store_session

    async def go() -> T:
        async with store_session(cfg) as store:
            return await work(CampaignService(store, cfg, store.clock))

    try:
        return asyncio.run(go())
    except (CampaignError, ScenarioError) as e:
        raise CommandError(str(e)) from None


def _scenario(path: str) -> Scenario:
    try:
        return load_scenario(path)
    except ScenarioError as e:
        raise CommandError(str(e)) from None


def _spec(s: Scenario, scope: str | None, kind: CampaignKind | None = None) -> CampaignSpec:
    try:
        return CampaignSpec.from_scenario(s, _scope(scope), kind)
    except ScenarioError as e:
        raise CommandError(str(e)) from None


def _scope(text: str | None) -> tuple[str, ...] | None:
    if not text:
        return None
    try:
        return (str(Scope.parse(text)),)
    except ValueError as e:
        raise CommandError(str(e)) from None


def preview(cfg: Config, args: argparse.Namespace) -> int:
    if args.target.endswith(".toml") or Path(args.target).exists():
        s = _scenario(args.target)
        spec = _spec(s, args.scope)
    else:
        scope = _scope(args.scope) or _scope(args.target) or ("city",)
        spec = CampaignSpec("preview", CampaignKind.DRILL, scope, {"ja": t("ja", "campaign.preview_body")}, DEFAULT_LADDER)
    result = _run(cfg, lambda svc: svc.preview(spec.scope, spec.ladder, spec.messages, spec.kind))
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        print(f"{spec.title} ({spec.kind}) — scope {', '.join(spec.scope)}")
        for line in result.lines():
            print(line)
    return 0


async def city_admin(svc: CampaignService, login: str) -> Actor:
    """The active city admin with this staff login, as who does something (`--as`)."""
    found = await svc.store.auth.staff_by_login(login)
    if found is None or not found[0].active or found[0].role != Role.CITY_ADMIN:
        raise CommandError(f"--as {login}: no active city admin with this login (see `safetynet staff list`)")
    return Actor(found[0].login, found[0].id)


def start(cfg: Config, args: argparse.Namespace) -> int:
    s = _scenario(args.scenario)
    if s.kind == CampaignKind.REAL and not args.real:
        raise CommandError(f"{args.scenario} is a real event; add --real to start it")
    if args.real and not args.as_login:
        raise CommandError("a real event needs two people: add --as LOGIN (your city admin login); a second city"
                           " admin then approves it (`safetynet campaign approve ID --as LOGIN`, or on /city)")
    if args.simulate and importlib.util.find_spec("safetynet.sim.runner") is None:
        raise CommandError("--simulate is not available in this installation")
    if args.simulate and args.real:
        raise CommandError("--simulate is for drills: a real event waits for approval")
    spec = _spec(s, args.scope, CampaignKind.REAL if args.real else s.kind)

    async def launch(svc: CampaignService) -> tuple[Campaign, DispatchStatus]:
        by = await city_admin(svc, args.as_login) if args.as_login else Actor("cli")
        try:
            c = await svc.launch(spec, source="cli", created_by=by.label, by=by, force=args.force)
        except DuplicateCampaign as e:
            raise CommandError(f"{e}; add --force to start it anyway") from None
        return c, await read_status(svc.store.health, svc.clock.now(), enabled_channels(cfg))

    campaign, sending = _run(cfg, launch)
    _print_started(campaign, args.json)
    for line in sending_warnings(sending):
        print(f"warning: {line}", file=sys.stderr)
    if args.simulate:
        from safetynet.sim import runner

        runner.simulate(cfg, campaign.id)
    return 0


def _print_started(campaign: Campaign, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"id": campaign.id, "state": str(campaign.state)}))
    else:
        print(campaign.id)
    if campaign.state == CampaignState.PENDING_APPROVAL:
        print(f"real event {campaign.title!r} started by {campaign.started_by}: waiting for a second city admin's"
              f" approval (`safetynet campaign approve {campaign.id} --as LOGIN`, or on /city);"
              " nothing is sent until then", file=sys.stderr)
    elif not as_json:
        print(f"{campaign.kind} {campaign.title!r}: {campaign.households:,} households; the first wave is"
              " queued for the dispatcher of `safetynet serve`", file=sys.stderr)


def approve(cfg: Config, args: argparse.Namespace) -> int:
    async def work(svc: CampaignService) -> tuple[Campaign, DispatchStatus]:
        try:
            c = await svc.approve(args.id, by=await city_admin(svc, args.as_login), force=args.force)
        except DuplicateCampaign as e:
            raise CommandError(f"{e}; add --force to approve it anyway") from None
        return c, await read_status(svc.store.health, svc.clock.now(), enabled_channels(cfg))

    campaign, sending = _run(cfg, work)
    _print_started(campaign, args.json)
    for line in sending_warnings(sending):
        print(f"warning: {line}", file=sys.stderr)
    return 0


def cancel(cfg: Config, args: argparse.Namespace) -> int:
    async def work(svc: CampaignService) -> Campaign:
        if args.as_login:
            await city_admin(svc, args.as_login)
        return await svc.cancel(args.id)

    c = _run(cfg, work)
    print(json.dumps({"id": c.id, "state": str(c.state)}) if args.json else f"campaign {c.id} cancelled")
    return 0


def sending_warnings(status: DispatchStatus) -> list[str]:
    """What a person starting a campaign must know: nothing goes out, or a channel fails."""
    if not status.sending:
        seen = f"last seen {format_jst(status.last_seen)}" if status.last_seen else "never seen on this database"
        return [f"no dispatcher is running ({seen}): nothing is sent until `safetynet serve` runs"
                " (with its providers reachable: `safetynet sandbox` for the sandbox)"]
    return [f"{h.channel} is failing since {format_jst(h.since)} ({h.failures} attempts in a row): {h.reason}"
            + (f" — {h.detail}" if h.detail else "") for h in status.failing]


def status(cfg: Config, args: argparse.Namespace) -> int:
    doc = _run(cfg, lambda svc: svc.stats(args.id))
    if args.json:
        print(json.dumps(doc, ensure_ascii=False))
        return 0
    print(f"campaign {doc['id']} ({doc['kind']}, {doc['state']}): {doc['households']:,} households,"
          f" {doc['answered_rate']:.1%} answered")
    for k, v in doc["status"].items():
        print(f"  {k:<20} {v:>8,}")
    return 0


def close(cfg: Config, args: argparse.Namespace) -> int:
    c = _run(cfg, lambda svc: svc.close(args.id))
    print(json.dumps({"id": c.id, "state": str(c.state)}) if args.json else f"campaign {c.id} closed")
    return 0


def report(cfg: Config, args: argparse.Namespace) -> int:
    if importlib.util.find_spec("safetynet.stats.report") is not None:
        from safetynet.stats.report import report_cli

        return report_cli(cfg, args)
    if args.format != "json":
        raise CommandError("only --format json is available in this installation")
    doc = _run(cfg, lambda svc: svc.stats(args.id))
    text = json.dumps(doc, ensure_ascii=False)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0

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
from safetynet.auth import command_line_actor
from safetynet.broadcast.health import DispatchStatus, enabled_channels, read_status
from safetynet.broadcast.scenario import Scenario, ScenarioError, load_scenario
from safetynet.broadcast.service import (
    ApprovalRefused,
    CampaignError,
    CampaignService,
    CampaignSpec,
    DuplicateCampaign,
)
from safetynet.channels import registry
from safetynet.config import Config
from safetynet.console import cli_language, id_argument, int64_argument, pad, say
from safetynet.csvout import ENCODING_CHOICES, private_text
from safetynet.domain import CampaignKind, CampaignState, Role, Scope
from safetynet.domain.campaigns import Actor, Campaign
from safetynet.domain.japan_time import date_time_jst
from safetynet.domain.shares import percent
from safetynet.i18n import t
from safetynet.i18n.terms import kind_word, state_word

T = TypeVar("T")

_EXAMPLES = {
    "preview": "safetynet campaign preview drills/citywide-earthquake.toml\n"
               "  safetynet campaign preview city --json\n"
               "  safetynet campaign preview drills/association-monthly.toml --scope association:花園町一丁目町会",
    "start": "safetynet campaign start drills/citywide-earthquake.toml\n"
             "  safetynet campaign start drills/association-monthly.toml --scope association:花園町一丁目町会 --json\n"
             "  safetynet campaign start drills/citywide-earthquake.toml --real --as bousai   # a real event:"
             " waits for a second city admin's approval",
    "approve": "safetynet campaign approve 12 --as kikikanri   # a city admin other than the one who started it",
    "cancel": "safetynet campaign cancel 12 --as bousai",
    "list": "safetynet campaign list\n  safetynet campaign list --limit 5 --json",
    "status": "safetynet campaign status 12 --json",
    "close": "safetynet campaign close 12 --as bousai",
    "report": "safetynet campaign report 12 --format html --output report.html",
}


def _parser(sub: Any, name: str, help_: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        name, help=help_, description=help_, epilog=f"{say('cli.examples')}\n  {_EXAMPLES[name]}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return p


def add_arguments(sub: Any) -> None:
    p = _parser(sub, "preview", say("cli.campaign.preview.help"))
    p.add_argument("target", help=say("cli.campaign.preview.target"))
    p.add_argument("--scope", help=say("cli.campaign.preview.scope"))
    p.add_argument("--json", action="store_true", help=say("cli.json"))
    p.set_defaults(func=preview)

    p = _parser(sub, "start", say("cli.campaign.start.help"))
    p.add_argument("scenario", nargs="?", help=say("cli.campaign.start.scenario"))
    p.add_argument("--scope", help=say("cli.campaign.start.scope"))
    p.add_argument("--kind", choices=("drill", "real", "check"), help=say("cli.campaign.kind_help"))
    p.add_argument("--real", action="store_true", help=say("cli.campaign.start.real"))
    p.add_argument("--as", dest="as_login", metavar="LOGIN", help=say("cli.campaign.start.as"))
    p.add_argument("--json", action="store_true", help='{"id": …, "state": …}')
    p.add_argument("--simulate", action="store_true", help=say("cli.campaign.start.simulate"))
    p.add_argument("--force", action="store_true", help=say("cli.campaign.start.force"))
    p.set_defaults(func=start)

    p = _parser(sub, "approve", say("cli.campaign.approve.help"))
    p.add_argument("id", type=id_argument)
    p.add_argument("--as", dest="as_login", metavar="LOGIN", required=True, help=say("cli.campaign.approve.as"))
    p.add_argument("--force", action="store_true", help=say("cli.campaign.approve.force"))
    p.add_argument("--json", action="store_true", help='{"id": …, "state": …}')
    p.set_defaults(func=approve)

    p = _parser(sub, "cancel", say("cli.campaign.cancel.help"))
    p.add_argument("id", type=id_argument)
    p.add_argument("--as", dest="as_login", metavar="LOGIN", help=say("cli.campaign.cancel.as"))
    p.add_argument("--no-notice", action="store_true", help=say("cli.campaign.cancel.no_notice"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cancel)

    p = _parser(sub, "list", say("cli.campaign.list.help"))
    p.add_argument("--limit", type=int64_argument, default=20, metavar="N", help=say("cli.campaign.list.limit"))
    p.add_argument("--json", action="store_true", help=say("cli.json"))
    p.set_defaults(func=list_campaigns)

    p = _parser(sub, "status", say("cli.campaign.status.help"))
    p.add_argument("id", type=id_argument)
    p.add_argument("--json", action="store_true", help=say("cli.campaign.status.json"))
    p.set_defaults(func=status)

    p = _parser(sub, "close", say("cli.campaign.close.help"))
    p.add_argument("id", type=id_argument)
    p.add_argument("--as", dest="as_login", metavar="LOGIN", help=say("cli.campaign.close.as"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=close)

    p = _parser(sub, "report", say("cli.campaign.report.help"))
    p.add_argument("id", type=id_argument)
    p.add_argument("--format", choices=("json", "csv", "html"), default="html")
    p.add_argument("--output", help=say("cli.campaign.report.output"))
    p.add_argument("--lang", choices=("ja", "en"), default="ja", help=say("cli.campaign.report.lang"))
    p.add_argument("--encoding", choices=ENCODING_CHOICES, help=say("cli.campaign.report.encoding"))
    p.set_defaults(func=report)


def _run(cfg: Config, work: Callable[[CampaignService], Awaitable[T]]) -> T:
    from safetynet.store import store_session

    async def go() -> T:
        async with store_session(cfg) as store:
            return await work(CampaignService(store, cfg, store.clock))

    try:
        return asyncio.run(go())
    except (CampaignError, ScenarioError) as e:  # in the terminal's language, not the English of str(e)
        raise CommandError(e.text(cli_language())) from None


def _scenario(path: str) -> Scenario:
    if Path(path).is_dir():  # QA: `campaign preview <a folder>` was an IsADirectoryError traceback
        raise CommandError(say("cli.campaign.scenario_folder", path=path))
    try:
        return load_scenario(path)
    except ScenarioError as e:  # not found, unreadable, not TOML, a key refused
        raise CommandError(e.text(cli_language())) from None


def _spec(s: Scenario, scope: str | None, kind: CampaignKind | None = None) -> CampaignSpec:
    try:
        return CampaignSpec.from_scenario(s, _scope(scope), kind)
    except ScenarioError as e:
        raise CommandError(e.text(cli_language())) from None


def _scope(text: str | None) -> tuple[str, ...] | None:
    if not text:
        return None
    try:
        return (str(Scope.parse(text)),)
    except ValueError:
        raise CommandError(say("scope.invalid", value=repr(text.strip()))) from None


def preview(cfg: Config, args: argparse.Namespace) -> int:
    if args.target.endswith(".toml") or Path(args.target).exists():
        s = _scenario(args.target)
        spec = _spec(s, args.scope)
    else:
        scope = _scope(args.scope) or _scope(args.target) or ("city",)
        spec = CampaignSpec("preview", CampaignKind.DRILL, scope, {"ja": t("ja", "campaign.preview_body")},
                            registry.default_ladder())
    result = _run(cfg, lambda svc: svc.preview(spec.scope, spec.ladder, spec.messages, spec.kind))
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        lang = cli_language()
        print(say("cli.preview.title", title=spec.title, kind=say(f"cli.preview.kind_{spec.kind}"),
                  scope=", ".join(spec.scope)))
        for line in result.lines(lang):
            print(line)
    return 0


async def city_admin(svc: CampaignService, login: str) -> Actor:
    """The active city admin with this staff login, as who does something (`--as`)."""
    found = await svc.store.auth.staff_by_login(login)
    if found is None or not found[0].active or found[0].role != Role.CITY_ADMIN:
        raise CommandError(say("cli.campaign.no_city_admin", login=login))
    return Actor(found[0].login, found[0].id, role=str(found[0].role))


async def _approver(svc: CampaignService, campaign_id: int, login: str) -> Actor:
    """The city admin `--as` names for an approval. Any other name is refused, and that refusal is in
    the audit log as the console's and the API's are (QA, privacy walk: `--as` a district head, or a
    name of no staff, left no entry): the actor is the name given (with the staff id of whoever has
    that login), `detail` why and the operating system's user who typed it."""
    try:
        return await city_admin(svc, login)
    except CommandError:
        found = await svc.store.auth.staff_by_login(login)
        who = Actor(login, found[0].id, role=str(found[0].role)) if found else Actor(login)
        await svc.refused_at_the_door(campaign_id, who, f"not_city_admin, {command_line_actor()}")
        raise


async def _who(svc: CampaignService, login: str | None) -> Actor:
    """Who takes a campaign's step from the command line: the city admin `--as` names, or else the
    operating system's user (`cli:USER`, as every command's audit entry says it; QA: a drill's start
    was recorded as `cli` alone while its close and cancel said `cli:root`)."""
    return await city_admin(svc, login) if login else Actor(command_line_actor())


def _start_spec(args: argparse.Namespace) -> CampaignSpec:
    """A contact check needs no scenario (its texts are the catalogs'); the rest start from one."""
    args.real = args.real or args.kind == CampaignKind.REAL
    if args.kind == CampaignKind.CHECK:
        if args.real or args.simulate:
            raise CommandError(say("cli.campaign.kind_help"))
        return CampaignSpec.for_check(_scope(args.scope) or ("city",))
    if not args.scenario:
        raise CommandError(say("cli.campaign.scenario_needed"))
    s = _scenario(args.scenario)
    if s.kind == CampaignKind.REAL and not args.real:
        raise CommandError(say("cli.campaign.needs_real", scenario=args.scenario))
    if args.real and not args.as_login:
        raise CommandError(say("cli.campaign.needs_as"))
    if args.simulate and importlib.util.find_spec("safetynet.lab.sim.runner") is None:
        raise CommandError(say("cli.campaign.no_simulate"))
    if args.simulate and args.real:
        raise CommandError(say("cli.campaign.simulate_not_real"))
    return _spec(s, args.scope, CampaignKind.REAL if args.real or args.kind == CampaignKind.REAL else s.kind)


def start(cfg: Config, args: argparse.Namespace) -> int:
    spec = _start_spec(args)
    # The lab (simulated residents) is found by name, as the CLI finds `demo`: the product never
    # depends on it, and an install without it refuses --simulate before starting anything
    # (`_start_spec`), as does the lab itself for what it cannot simulate.
    simulator = importlib.import_module("safetynet.lab.sim.runner") if args.simulate else None
    if simulator is not None:
        simulator.preflight(cfg, dict(spec.options))

    async def launch(svc: CampaignService) -> tuple[Campaign, DispatchStatus]:
        by = await _who(svc, args.as_login)
        try:
            c = await svc.launch(spec, source="cli", created_by=by.label, by=by, force=args.force)
        except DuplicateCampaign as e:
            raise CommandError(say("cli.campaign.duplicate", error=e.text(cli_language()))) from None
        return c, await read_status(svc.store.health, svc.clock.now(), enabled_channels(cfg))

    campaign, sending = _run(cfg, launch)
    _print_started(campaign, args.json)
    _warn(sending)
    if simulator is not None:
        simulator.simulate(cfg, campaign.id)
    return 0


def _print_started(campaign: Campaign, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"id": campaign.id, "state": str(campaign.state)}))
    else:
        print(campaign.id)
    if campaign.state == CampaignState.PENDING_APPROVAL:
        print(say("cli.campaign.pending", title=repr(campaign.title), by=campaign.started_by, id=campaign.id),
              file=sys.stderr)
    elif not as_json:
        print(say("cli.campaign.started", kind=campaign.kind, title=repr(campaign.title),
                  households=f"{campaign.households:,}"), file=sys.stderr)


def approve(cfg: Config, args: argparse.Namespace) -> int:
    async def work(svc: CampaignService) -> tuple[Campaign, DispatchStatus]:
        # the campaign first: an unknown id is said as such, not as "no city admin", and leaves no
        # approval refusal in the audit log for a campaign that does not exist (review)
        await svc.get(args.id)
        try:
            c = await svc.approve(args.id, by=await _approver(svc, args.id, args.as_login), force=args.force)
        except ApprovalRefused as e:
            if not e.same_person:
                raise
            # the two-person rule, in the terminal's language (QA: English under a Japanese locale)
            raise CommandError(say("cli.campaign.approve.same_person", who=args.as_login)) from None
        except DuplicateCampaign as e:
            raise CommandError(say("cli.campaign.approve.duplicate", error=e.text(cli_language()))) from None
        return c, await read_status(svc.store.health, svc.clock.now(), enabled_channels(cfg))

    campaign, sending = _run(cfg, work)
    _print_started(campaign, args.json)
    _warn(sending)
    return 0


def cancel(cfg: Config, args: argparse.Namespace) -> int:
    async def work(svc: CampaignService) -> Campaign:
        await svc.get(args.id)  # an unknown id is said before whoever `--as` names is checked
        by = await _who(svc, args.as_login)
        return await svc.cancel(args.id, by=by, tell_households=not args.no_notice)

    c = _run(cfg, work)
    print(json.dumps({"id": c.id, "state": str(c.state)}) if args.json else say("cli.campaign.cancelled", id=c.id))
    return 0


def _warn(status: DispatchStatus) -> None:
    for line in sending_warnings(status):
        print(f"warning: {line}", file=sys.stderr)


def sending_warnings(status: DispatchStatus) -> list[str]:
    """What a person starting a campaign must know: nothing goes out, or a channel fails."""
    if not status.sending:
        seen = (say("cli.campaign.last_seen", at=date_time_jst(status.last_seen)) if status.last_seen
                else say("cli.campaign.never_seen"))
        return [say("cli.campaign.no_dispatcher", seen=seen)]
    return [say("cli.campaign.channel_failing", channel=h.channel, since=date_time_jst(h.since), failures=h.failures,
                reason=h.reason) + (f" — {h.detail}" if h.detail else "") for h in status.failing]


def list_campaigns(cfg: Config, args: argparse.Namespace) -> int:
    """The latest campaigns, newest first: the ids the other commands take."""
    if args.limit < 1:
        raise CommandError(say("cli.campaign.list.bad_limit"))
    found = _run(cfg, lambda svc: svc.store.campaigns.list_campaigns(limit=args.limit))
    if args.json:
        print(json.dumps([c.summary() for c in found], ensure_ascii=False))
        return 0
    if not found:
        print(say("cli.campaign.list.none"))
        return 0
    lang = cli_language()
    for c in found:
        when = date_time_jst(c.started_at or c.created_at)
        # a Japanese terminal reads the console's words (QA: `drill running`); English keeps the data's
        print(f"{c.id}\t{kind_word(c.kind).text(lang)}\t{state_word(c.state).text(lang)}\t{when}\t{c.households:,}"
              f"\t{c.title}")
    return 0


def _status_words(status: dict[str, int]) -> list[tuple[str, int]]:
    """Each status with its count: the report's words under a Japanese terminal, the keys otherwise."""
    if cli_language() == "en":
        return list(status.items())
    return [(t("ja", "report.status." + k), v) for k, v in status.items()]


def status(cfg: Config, args: argparse.Namespace) -> int:
    async def work(svc: CampaignService) -> tuple[dict[str, Any], DispatchStatus]:
        doc = await svc.stats(args.id)
        # the households on the door-knock list still not answered (a part of the unanswered counts): with
        # them an operator sees every household accounted for without SQL (QA: nothing said how many)
        doc["doorknock"] = sum((await svc.store.campaigns.doorknock_counts(args.id)).values())
        return doc, await read_status(svc.store.health, svc.clock.now(), enabled_channels(cfg))

    doc, sending = _run(cfg, work)
    if args.json:
        print(json.dumps(doc, ensure_ascii=False))
    else:
        lang, words = cli_language(), _status_words(doc["status"])
        # English keeps the words scripts have always read
        print(say("cli.campaign.status_line", id=doc["id"], kind=kind_word(doc["kind"]).text(lang),
                  state=state_word(doc["state"]).text(lang), households=f"{doc['households']:,}",
                  answered=percent(doc["answered_rate"], 1)))
        for word, v in [*words, (say("cli.campaign.status_doorknock"), doc["doorknock"])]:
            print(f"  {pad(word, 20)} {v:>8,}")  # 「無事」 takes four columns, not two (QA: counts misaligned)
    # `start` can only say what the dispatcher knew before it tried: a provider that is down shows
    # once its channel has failed a few times, so the next `status` of a running campaign says it
    if doc["state"] == CampaignState.RUNNING:
        _warn(sending)
    return 0


def close(cfg: Config, args: argparse.Namespace) -> int:
    async def closing(svc: CampaignService) -> tuple[Campaign, int, int]:
        await svc.get(args.id)  # an unknown id is said before whoever `--as` names is checked
        c = await svc.close(args.id, by=await _who(svc, args.as_login))
        # closing answers no one: the help requests still open are said (they stay on the lists), and
        # the households left to visit (closing lists every silent one, whether the door-knock step ran)
        return (c, sum((await svc.store.dashboard.open_help_counts(c.id)).values()),
                sum((await svc.store.campaigns.doorknock_counts(c.id)).values()))

    c, open_help, doorknock = _run(cfg, closing)
    print(json.dumps({"id": c.id, "state": str(c.state), "open_help": open_help, "doorknock": doorknock})
          if args.json else say("cli.campaign.closed", id=c.id))
    if open_help and not args.json:
        print(say("cli.campaign.closed_open_help_one" if open_help == 1 else "cli.campaign.closed_open_help",
                  n=open_help), file=sys.stderr)
    if doorknock and not args.json:
        print(say("cli.campaign.closed_doorknock_one" if doorknock == 1 else "cli.campaign.closed_doorknock",
                  n=f"{doorknock:,}"), file=sys.stderr)
    return 0


def report(cfg: Config, args: argparse.Namespace) -> int:
    if importlib.util.find_spec("safetynet.stats.report") is not None:
        from safetynet.stats.report import report_cli

        return report_cli(cfg, args)
    if args.format != "json":
        raise CommandError(say("cli.campaign.json_only"))
    doc = _run(cfg, lambda svc: svc.stats(args.id))
    text = json.dumps(doc, ensure_ascii=False)
    if args.output:
        with private_text(args.output) as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0

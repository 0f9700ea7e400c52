"""The `safetynet` command: parses arguments and calls into the packages. No logic lives here."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Callable, Sequence
from typing import Any

from safetynet.channels import registry
from safetynet.config import Config, ConfigError, config_path_from, load_config
from safetynet.logs import configure_logging

Handler = Callable[[Config, argparse.Namespace], int]

_LONG_RUNNING = {"serve", "sandbox", "demo"}


def _lazy(target: str) -> Handler:
    """`module:function`, imported only when the command runs (keeps `--help` fast)."""

    def run(cfg: Config, args: argparse.Namespace) -> int:
        module, _, name = target.partition(":")
        fn: Handler = getattr(importlib.import_module(module), name)
        return fn(cfg, args)

    return run


def _config_parent() -> argparse.ArgumentParser:
    # --config is accepted before or after the command; SUPPRESS keeps the later one from erasing the earlier.
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                   help="config file (default: $SAFETYNET_CONFIG or ./config.toml)")
    return p


class _Formatter(argparse.RawDescriptionHelpFormatter):
    pass


def _cmd(sub: Any, name: str, help_: str, example: str, target: str | Handler) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        name, help=help_, description=help_, epilog=f"example:\n  {example}",
        parents=[_config_parent()], formatter_class=_Formatter,
    )
    p.set_defaults(func=_lazy(target) if isinstance(target, str) else target)
    return p


def _add_init_and_access(sub: Any) -> None:
    p = _cmd(sub, "init", "create the data folder, database, keys and a first city admin (idempotent)",
             "safetynet init --admin-login bousai", "safetynet.admin:init")
    p.add_argument("--admin-login", default="admin", help="login of the first city admin (default: admin)")
    p.add_argument("--admin-password",
                   help="its password: 10 characters or more, not a common one (default: generated and printed once)")

    staff = sub.add_parser("staff", help="manage staff accounts (heads, deputies, district heads, city admins)",
                           parents=[_config_parent()])
    ssub = staff.add_subparsers(dest="staff_command", metavar="{add,list,remove}", required=True)
    p = _cmd(ssub, "add", "add a staff member",
             "safetynet staff add tanaka --role association_head --scope association:桜町一丁目町会",
             "safetynet.admin:staff_add")
    p.add_argument("login")
    p.add_argument("--role", required=True, help="city_admin | district_head | association_head | deputy")
    p.add_argument("--scope", help="city | district:NAME | association:NAME")
    p.add_argument("--name", help="display name")
    p.add_argument("--password",
                   help="10 characters or more, not a common one (default: generated and printed once)")
    for col in registry.roster_columns():  # one per channel that owns a roster column
        p.add_argument(f"--{col.key}", help=f"{col.key} ({col.ja}) contact for need-help alerts")
    _cmd(ssub, "list", "list staff", "safetynet staff list", "safetynet.admin:staff_list")
    p = _cmd(ssub, "remove", "remove a staff member", "safetynet staff remove tanaka", "safetynet.admin:staff_remove")
    p.add_argument("login")

    token = sub.add_parser("token", help="API tokens for automation", parents=[_config_parent()])
    tsub = token.add_subparsers(dest="token_command", metavar="{create,list,revoke}", required=True)
    p = _cmd(tsub, "create", "create an API token and print it alone on its line",
             "safetynet token create --role city_admin --label 'ダッシュボード' --expires-days 90",
             "safetynet.admin:token_create")
    p.add_argument("--role", required=True, help="city_admin | district_head | association_head | deputy")
    p.add_argument("--scope", help="city | district:NAME | association:NAME (default: city for city_admin)")
    p.add_argument("--label", help="what the token is for")
    p.add_argument("--expires-days", type=int, metavar="N", help="expires after N days (default: never)")
    _cmd(tsub, "list", "list API tokens: id, role, scope, created, expires, last used, revoked (never the token)",
         "safetynet token list", "safetynet.admin:token_list")
    p = _cmd(tsub, "revoke", "revoke an API token at once (by the id `token list` shows)",
             "safetynet token revoke 3", "safetynet.admin:token_revoke")
    p.add_argument("id", type=int)


def _exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _with_config(parsers: Any) -> None:
    for p in parsers.choices.values():
        if not any("--config" in a.option_strings for a in p._actions):
            p.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="config file")


def _add_roster(sub: Any) -> None:
    if not _exists("safetynet.roster.commands"):
        return
    roster = sub.add_parser("roster", help="import, check, export the household roster; enrolment codes",
                            parents=[_config_parent()])
    rsub = roster.add_subparsers(dest="roster_command", metavar="{import,check,export,codes,generate}", required=True)
    importlib.import_module("safetynet.roster.commands").add_arguments(rsub)
    _with_config(rsub)


def _add_providers(sub: Any) -> None:
    if _exists("safetynet.sandbox.server"):
        p = _cmd(sub, "sandbox", "serve every channel's provider fake (Twilio, Telegram, web push…) on loopback",
                 "safetynet sandbox --port 8090 --fail-5xx 0.1 --latency-ms 200", "safetynet.sandbox.server:main")
        importlib.import_module("safetynet.sandbox.server").add_arguments(p)


def _add_triggers(sub: Any) -> None:
    if not _exists("safetynet.triggers.replay"):
        return
    trig = sub.add_parser("triggers", help="JMA XML and CAP triggers", parents=[_config_parent()])
    tsub = trig.add_subparsers(dest="triggers_command", metavar="{replay}", required=True)
    p = _cmd(tsub, "replay", "feed a folder of telegrams through the trigger rules, in time order",
             "safetynet triggers replay tests/data/jma --json", "safetynet.triggers.replay:main")
    importlib.import_module("safetynet.triggers.replay").add_arguments(p)


def _add_campaigns(sub: Any) -> None:
    if not _exists("safetynet.broadcast.commands"):
        return
    camp = sub.add_parser("campaign", help="preview, start, watch, close and report campaigns",
                          parents=[_config_parent()])
    csub = camp.add_subparsers(dest="campaign_command", metavar="{preview,start,status,close,report}", required=True)
    importlib.import_module("safetynet.broadcast.commands").add_arguments(csub)
    _with_config(csub)


def _add_server(sub: Any) -> None:
    if _exists("safetynet.web.commands"):
        p = _cmd(sub, "serve", "run the web server, dispatcher and ladder", "safetynet serve",
                 "safetynet.web.commands:serve")
        importlib.import_module("safetynet.web.commands").add_serve_arguments(p)
    if _exists("safetynet.sim.demo"):
        p = _cmd(sub, "demo", "the whole system on this machine: sample city, sandbox, server, a simulated drill",
                 "safetynet demo --households 600", "safetynet.sim.demo:main")
        importlib.import_module("safetynet.sim.demo").add_arguments(p)


def _add_bench(sub: Any) -> None:
    if not _exists("safetynet.bench"):
        return
    b = sub.add_parser("bench", help="benchmarks that print numbers (and JSON)", parents=[_config_parent()])
    bsub = b.add_subparsers(dest="bench_command", metavar="{citywide,broadcast,replies,channels}", required=True)
    importlib.import_module("safetynet.bench").add_arguments(bsub)
    _with_config(bsub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="safetynet", description="SafetyNet: disaster-mode safety confirmation (安否確認).",
        parents=[_config_parent()],
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_init_and_access(sub)
    _add_roster(sub)
    _add_providers(sub)
    _add_campaigns(sub)
    _add_server(sub)
    _add_triggers(sub)
    _add_bench(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        cfg = load_config(config_path_from(getattr(args, "config", None)))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    level = cfg.logging.level
    if args.command not in _LONG_RUNNING and level.lower() in ("debug", "info"):
        level = "warning"  # one-shot commands print their own summary; logs only for problems
    configure_logging(level, cfg.logging.format)
    from safetynet.admin import CommandError
    from safetynet.store.db import StoreError

    try:
        return int(args.func(cfg, args))
    except CommandError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except StoreError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

"""The `safetynet` command: parses arguments and calls into the packages. No logic lives here.

Help and messages are the catalogs' `cli.*` texts in the terminal's language (`safetynet.console`),
argparse's own words included (`_Parser`, `_Formatter`)."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import safetynet.interrupts  # noqa: F401 - first: a Ctrl-C while the rest loads prints no traceback
from safetynet.channels import registry
from safetynet.config import (
    Config,
    ConfigError,
    check_store_url,
    config_path_from,
    database_unwritable,
    load_config,
)
from safetynet.console import error_line, id_argument, print_error, say
from safetynet.logs import configure_logging

if TYPE_CHECKING:
    from safetynet.store.errors import CannotOpen, SchemaBehind

Handler = Callable[[Config, argparse.Namespace], int]

_LONG_RUNNING = {"serve", "sandbox", "demo"}
# One-shot commands whose info line is the twin of the server's for the same act (`staff_removed`, QA:
# the command line wrote none): they log at the configured level too.
_LOGGED = {("staff", "remove"), ("keys", "adopt")}

# Without a config file, the commands of `admin.NO_CITY` (which make no city or use none, and `init`)
# run on the embedded default. Every other command reads or changes the city, which only a config file
# locates, or the store named in the environment (a deployment configured by environment alone): run
# from another folder, the default's ./var is no city, and QA's operator, told "run `safetynet init`
# first", made a second city that no server used.
_STORE_ENV = ("SAFETYNET_STORE_URL", "SAFETYNET_STORE_PATH")

# The commands that sign with the secret key: reply links, enrolment codes, webhook secrets.
_NEEDS_KEY = frozenset({("serve",), ("roster", "codes"), ("roster", "letters"), ("campaign", "start"),
                        ("campaign", "approve")})
# The commands that make a web-push key where the data folder has none (the push sender and the enrolment
# page make it on first use); `init` looks for itself. `campaign start` and the letters sign nothing for push.
_MAKES_PUSH_KEY = frozenset({("serve",)})


def _lazy(target: str) -> Handler:
    """`module:function`, imported only when the command runs (keeps `--help` fast)."""

    def run(cfg: Config, args: argparse.Namespace) -> int:
        module, _, name = target.partition(":")
        fn: Handler = getattr(importlib.import_module(module), name)
        return fn(cfg, args)

    return run


def _catch_up(cfg: Config) -> Any:
    """The open calls for help of a staff member's association queued to them (`HelpNotifier.catch_up`;
    a running server's dispatcher sends them), as /admin does; a failure is logged (the account stands,
    its password is shown, and the dashboard shows the requests: the day's reread)."""
    import structlog

    from safetynet.domain.roster import Staff
    from safetynet.replies.notify import StaffNotifier
    from safetynet.store import Store

    async def caught_up(store: Store, staff: Staff) -> None:
        try:
            await StaffNotifier(store, cfg, cfg.channels.enabled(), store.clock).catch_up(staff)
        except Exception:
            structlog.get_logger("cli").exception("help_catch_up_failed", staff_id=staff.id)

    return caught_up


def staff_add(cfg: Config, args: argparse.Namespace) -> int:
    """`safetynet staff add`, then the open calls for help of a new head's or deputy's association."""
    from safetynet.admin import staff_add as add

    return add(cfg, args, after=_catch_up(cfg))


def staff_contacts(cfg: Config, args: argparse.Namespace) -> int:
    """`safetynet staff contacts`, then the open calls for help to the new addresses."""
    from safetynet.admin import staff_contacts_cmd

    return staff_contacts_cmd(cfg, args, after=_catch_up(cfg))


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's examples as written; says "usage:" in the terminal's language."""

    def add_usage(self, usage: Any, actions: Any, groups: Any, prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups, say("cli.argparse.usage") if prefix is None else prefix)


# argparse's messages (Python 3.11) and the catalog texts they become, its values as {v0}, {v1}.
_ARGPARSE_ERRORS = (
    (re.compile(r"the following arguments are required: (.+)"), "cli.argparse.required"),
    (re.compile(r"unrecognized arguments: (.+)"), "cli.argparse.unrecognized"),
    (re.compile(r"invalid choice: (.+) \(choose from (.+)\)"), "cli.argparse.invalid_choice"),
    (re.compile(r"invalid \w+ value: (.+)"), "cli.argparse.invalid_value"),
    (re.compile(r"expected one argument"), "cli.argparse.expected_one"),
    (re.compile(r"not allowed with argument (.+)"), "cli.argparse.not_allowed_with"),
    (re.compile(r"one of the arguments (.+) is required"), "cli.argparse.one_required"),
    (re.compile(r"ambiguous option: (\S+) could match (.+)"), "cli.argparse.ambiguous"),
)
_ARGUMENT = re.compile(r"argument (\S+?): (.+)", re.S)


def argparse_message(message: str) -> str:
    """An argparse error in the terminal's language (the English text for one it does not know)."""
    argument = ""
    if (m := _ARGUMENT.fullmatch(message)) is not None:
        argument, message = m.group(1), m.group(2)
    for pattern, key in _ARGPARSE_ERRORS:
        if (found := pattern.fullmatch(message)) is not None:
            message = say(key, **{f"v{i}": v for i, v in enumerate(found.groups())})
            break
    return say("cli.argparse.argument", argument=argument, message=message) if argument else message


class _Parser(argparse.ArgumentParser):
    """Every parser of the command (sub-commands inherit the class): its own words translated,
    errors as `PROG: error: …` (「PROG: エラー: …」 in a Japanese terminal: `console.error_line`) with
    exit status 2."""

    def __init__(self, *args: Any, parents: Sequence[argparse.ArgumentParser] = (), **kwargs: Any) -> None:
        kwargs["formatter_class"] = _Formatter
        super().__init__(*args, **kwargs)
        self._positionals.title = say("cli.argparse.positionals")
        self._optionals.title = say("cli.argparse.options")
        for action in self._actions:
            if isinstance(action, argparse._HelpAction):
                action.help = say("cli.argparse.help")
        # parents after the titles: their options join the groups of the same (translated) title
        for parent in parents:
            self._add_container_actions(parent)
            self._defaults.update(parent._defaults)

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: {error_line(argparse_message(message))}\n")


def _config_parent() -> argparse.ArgumentParser:
    # --config is accepted before or after the command; SUPPRESS keeps the later one from erasing the earlier.
    p = _Parser(add_help=False)  # the same group titles as the parsers it is a parent of
    p.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help=say("cli.config"))
    return p


def _cmd(sub: Any, name: str, help_: str, example: str, target: str | Handler) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        name, help=help_, description=help_, epilog=f"{say('cli.example')}\n  {example}",
        parents=[_config_parent()],
    )
    p.set_defaults(func=_lazy(target) if isinstance(target, str) else target)
    return p


def _add_init_and_access(sub: Any) -> None:
    p = _cmd(sub, "init", say("cli.init.help"), "safetynet init --admin-login bousai", "safetynet.admin:init")
    p.add_argument("--admin-login", default="admin", help=say("cli.init.admin_login"))
    p.add_argument("--admin-password", help=say("cli.init.admin_password"))

    staff = sub.add_parser("staff", help=say("cli.staff.help"), description=say("cli.staff.help"),
                           parents=[_config_parent()])
    ssub = staff.add_subparsers(dest="staff_command", metavar="{add,list,password,contacts,remove}", required=True)
    p = _cmd(ssub, "add", say("cli.staff.add.help"),
             "safetynet staff add tanaka --role association_head --scope association:花園町一丁目町会",
             staff_add)
    p.add_argument("login")
    p.add_argument("--role", required=True, help="city_admin | district_head | association_head | deputy")
    p.add_argument("--scope", help="city | district:NAME | association:NAME")
    p.add_argument("--name", help=say("cli.staff.add.name"))
    p.add_argument("--password", help=say("cli.staff.add.password"))
    for col in registry.roster_columns():  # one per channel that owns a roster column
        p.add_argument(f"--{col.key}", help=say("cli.staff.add.contact", kind=say(f"contact.kind.{col.kind}")))
    _cmd(ssub, "list", say("cli.staff.list.help"), "safetynet staff list", "safetynet.admin:staff_list")
    p = _cmd(ssub, "password", say("cli.staff.password_cmd.help"), "safetynet staff password admin",
             "safetynet.admin:staff_password")
    p.add_argument("login")
    p.add_argument("--password", help=say("cli.staff.add.password"))
    p = _cmd(ssub, "contacts", say("cli.staff.contacts.help"), "safetynet staff contacts tanaka --phone 090-1234-5678",
             staff_contacts)
    p.add_argument("login")
    for col in registry.roster_columns():
        p.add_argument(f"--{col.key}", help=say("cli.staff.add.contact", kind=say(f"contact.kind.{col.kind}")))
    p.add_argument("--clear", action="append", metavar="KIND", help=say("cli.staff.contacts.clear"))
    p = _cmd(ssub, "remove", say("cli.staff.remove.help"), "safetynet staff remove tanaka",
             "safetynet.admin:staff_remove")
    p.add_argument("login")

    token = sub.add_parser("token", help=say("cli.token.help"), description=say("cli.token.help"),
                           parents=[_config_parent()])
    tsub = token.add_subparsers(dest="token_command", metavar="{create,list,revoke}", required=True)
    p = _cmd(tsub, "create", say("cli.token.create.help"),
             "safetynet token create --role city_admin --label 'ダッシュボード' --expires-days 90",
             "safetynet.admin:token_create")
    p.add_argument("--role", required=True, help="city_admin | district_head | association_head | deputy")
    p.add_argument("--scope", help=say("cli.token.create.scope"))
    p.add_argument("--label", help=say("cli.token.create.label"))
    p.add_argument("--expires-days", type=int, metavar="N", help=say("cli.token.create.expires_days"))
    _cmd(tsub, "list", say("cli.token.list.help"), "safetynet token list", "safetynet.admin:token_list")
    p = _cmd(tsub, "revoke", say("cli.token.revoke.help"), "safetynet token revoke 3", "safetynet.admin:token_revoke")
    p.add_argument("id", type=id_argument)


def _exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _with_config(parsers: Any) -> None:
    for p in parsers.choices.values():
        if not any("--config" in a.option_strings for a in p._actions):
            p.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help=say("cli.config_short"))


def _add_roster(sub: Any) -> None:
    if not _exists("safetynet.roster.commands"):
        return
    roster = sub.add_parser("roster", help=say("cli.roster.help"), description=say("cli.roster.help"),
                            parents=[_config_parent()])
    rsub = roster.add_subparsers(dest="roster_command", metavar="{import,check,export,codes,letters,generate}", required=True)
    importlib.import_module("safetynet.roster.commands").add_arguments(rsub)
    _with_config(rsub)


def _add_providers(sub: Any) -> None:
    if _exists("safetynet.sandbox.server"):
        p = _cmd(sub, "sandbox", say("cli.sandbox.help", channels=", ".join(registry.names())),
                 "safetynet sandbox --port 8090 --fail-5xx 0.1 --latency-ms 200", "safetynet.sandbox.server:main")
        importlib.import_module("safetynet.sandbox.server").add_arguments(p)


def _add_triggers(sub: Any) -> None:
    if not _exists("safetynet.triggers.replay"):
        return
    trig = sub.add_parser("triggers", help=say("cli.triggers.help"), description=say("cli.triggers.help"),
                          parents=[_config_parent()])
    tsub = trig.add_subparsers(dest="triggers_command", metavar="{replay}", required=True)
    p = _cmd(tsub, "replay", say("cli.triggers.replay.help"),
             "safetynet triggers replay tests/data/jma --json", "safetynet.triggers.replay:main")
    importlib.import_module("safetynet.triggers.replay").add_arguments(p)


def _add_campaigns(sub: Any) -> None:
    if not _exists("safetynet.broadcast.commands"):
        return
    camp = sub.add_parser("campaign", help=say("cli.campaign.help"), description=say("cli.campaign.help"),
                          parents=[_config_parent()])
    csub = camp.add_subparsers(dest="campaign_command", metavar="{preview,start,approve,cancel,list,status,close,report}",
                                 required=True)
    importlib.import_module("safetynet.broadcast.commands").add_arguments(csub)
    _with_config(csub)


def _add_server(sub: Any, lab: bool) -> None:
    if _exists("safetynet.servecmd"):
        p = _cmd(sub, "serve", say("cli.serve.help"), "safetynet serve",
                 "safetynet.servecmd:serve")
        importlib.import_module("safetynet.servecmd").add_serve_arguments(p)
    if _exists("safetynet.lab.sim.demo"):
        p = _cmd(sub, "demo", say("cli.demo.help"),
                 "safetynet demo --households 600", "safetynet.lab.sim.demo:main")
        if lab:
            importlib.import_module("safetynet.lab.sim.demo").add_arguments(p)


def _add_privacy(sub: Any) -> None:
    if not _exists("safetynet.privacy.commands"):
        return
    commands = importlib.import_module("safetynet.privacy.commands")
    privacy = sub.add_parser("privacy", help=say("cli.privacy.help"),
                             parents=[_config_parent()])
    psub = privacy.add_subparsers(dest="privacy_command", metavar="{purge}", required=True)
    commands.add_privacy_arguments(psub)
    _with_config(psub)
    audit = sub.add_parser("audit", help=say("cli.audit.help"),
                           parents=[_config_parent()])
    asub = audit.add_subparsers(dest="audit_command", metavar="{export}", required=True)
    commands.add_audit_arguments(asub)
    _with_config(asub)


def _add_keys(sub: Any) -> None:
    keys = sub.add_parser("keys", help=say("cli.keys.help"), description=say("cli.keys.help"),
                          parents=[_config_parent()])
    ksub = keys.add_subparsers(dest="keys_command", metavar="{adopt}", required=True)
    p = _cmd(ksub, "adopt", say("cli.keys.adopt.help"), "safetynet keys adopt --yes", "safetynet.admin:keys_adopt")
    p.add_argument("--yes", action="store_true", help=say("cli.keys.adopt.yes"))


def _add_store(sub: Any) -> None:
    st = sub.add_parser("store", help=say("cli.store.help"), description=say("cli.store.help"),
                        parents=[_config_parent()])
    ssub = st.add_subparsers(dest="store_command", metavar="{copy}", required=True)
    p = _cmd(ssub, "copy", say("cli.store.copy.help"), "safetynet store copy --to postgresql://safetynet@db/safetynet",
             "safetynet.storecmd:store_copy")
    p.add_argument("--to", required=True, metavar="URL", help=say("cli.store.copy.to"))


def _add_bench(sub: Any, lab: bool) -> None:
    if not _exists("safetynet.lab.bench"):
        return
    b = sub.add_parser("bench", help=say("cli.bench.help"), description=say("cli.bench.help"),
                       parents=[_config_parent()])
    if not lab:
        return
    bsub = b.add_subparsers(dest="bench_command", metavar="{citywide,broadcast,replies,channels}", required=True)
    importlib.import_module("safetynet.lab.bench").add_arguments(bsub)
    _with_config(bsub)


# The commands that migrate the city's database to this SafetyNet's schema when it is older: those that
# set up or run the system (README: `init` creates or migrates; the demo and the benchmarks make their own
# store). Every other command refuses an older schema and changes nothing (`store.SchemaBehind`): QA's
# `campaign list` from a laptop with a newer SafetyNet migrated the live PostgreSQL database under the
# older `serve` processes still using it. (`store copy` migrates the two databases it copies between itself.)
_MIGRATES = frozenset({("init",), ("serve",), ("demo",), ("bench",), ("store", "copy")})

# The lab's commands, whose options are read (their modules imported) only when one of them is the
# command: the simulated city and the benchmarks are about half of the CLI's start-up (0.45 of 0.8 s
# of imports), which `serve` paid at every start, a restart after a crash included.
_LAB_COMMANDS = frozenset({"demo", "bench"})


def _command_of(argv: Sequence[str]) -> str | None:
    """The command `argv` names (its first word that is not an option or --config's value), or None."""
    words = iter(argv)
    for word in words:
        if len(word) > 2 and "--config".startswith(word):  # argparse takes `--conf` for it too
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def _check_keys(cfg: Config, command: tuple[str, ...]) -> None:
    """CommandError when `command` signs with the secret key and the city's key is gone (QA: with
    var/secret.key moved away, `roster letters` and `serve` said to run `safetynet init`, which rightly
    refuses a city whose keys are missing: the way back is the backup). A database with no city yet
    (no admin) keeps the command's own advice, `init`. Also when `command` would make a web-push key
    while phones are enrolled with the city's (`admin.refuse_a_new_push_key`), and when it signs with a
    key that is not the city's (`admin.refuse_other_keys`: a machine set up from another data folder)."""
    from safetynet.admin import (
        CommandError,
        push_key_file,
        refuse_a_new_push_key,
        refuse_other_keys,
        shown_database,
    )
    from safetynet.channels.webpush import NAME as WEBPUSH

    key_lost = command in _NEEDS_KEY and not cfg.secrets.secret_key
    push_key_missing = (command in _MAKES_PUSH_KEY and WEBPUSH in cfg.channels.enabled()
                        and not push_key_file(cfg).exists())
    signs = command in _NEEDS_KEY and not key_lost
    if not key_lost and not push_key_missing and not signs:
        return
    import asyncio

    from safetynet.store import StoreError, store_session

    async def check() -> bool:
        """Whether the secret key is lost to a city (or CommandError for the push key's, or for keys
        that are not the city's: `admin.refuse_other_keys`)."""
        async with store_session(cfg) as store:
            if key_lost:
                return await store.auth.count_city_admins() > 0
            if push_key_missing:
                await refuse_a_new_push_key(cfg, store)
            await refuse_other_keys(cfg, store)
            return False

    from safetynet.store import SchemaBehind, migrations_on_open

    try:
        try:
            with migrations_on_open(False):  # a look: a database with no tables stays so, for the command to name
                lost = asyncio.run(check())
        except SchemaBehind as e:
            if e.found == 0:
                return  # no city there, so no key lost to it
            lost = asyncio.run(check())  # an older schema, opened as the command opens it (migrated or refused)
        if not lost:
            return
    except StoreError:
        return  # the command opens it again and says why it cannot
    raise CommandError(say("cli.keys_lost", db=shown_database(cfg), key=str(cfg.data_dir / "secret.key"),
                           folder=str(cfg.data_dir)))


# The commands that migrate the city's own database (the demo and the benchmarks make theirs): before they
# do, no process of an older SafetyNet may be running on it. `store copy` opens the city's SQLite database
# as its source, which migrates it (review: it was left out, and migrated it under a live older server).
_MIGRATES_THE_CITY = frozenset({("init",), ("serve",), ("store", "copy")})


def _refuse_to_migrate_under_live_processes(cfg: Config, command: tuple[str, ...]) -> None:
    """CommandError when `command` would migrate the city's database to this SafetyNet's schema while its
    heartbeats show processes running on it (`admin.live_processes`): they are of an older SafetyNet (a
    process of this one would have migrated it), and would go on running on a schema they do not know (QA: a
    checkout at schema 110 was serving with a fresh heartbeat; the new `init` applied 0115 without a word and
    the old server kept running). Stopped processes stop counting: a clean stop at once, a killed one once its
    heartbeat and lease are stale."""
    if command not in _MIGRATES_THE_CITY:
        return
    if command == ("store", "copy") and check_store_url(cfg.store.url) != "sqlite":
        return  # it copies from SQLite only, and says so (a PostgreSQL city is not opened)
    import asyncio
    import math
    import time

    from safetynet.admin import CommandError, live_processes, schema_behind, shown_database
    from safetynet.broadcast.health import ALIVE_SECONDS
    from safetynet.broadcast.leader import LEASE_NAME
    from safetynet.store import StoreError

    if check_store_url(cfg.store.url) == "sqlite" and not cfg.db_path.exists():
        return  # a new city (opening would make the file)
    try:
        behind = schema_behind(cfg)
    except StoreError:
        return  # the command opens it again and says why it cannot
    migrates = behind is not None and behind.found > 0
    copying = command == ("store", "copy")
    if not migrates and not copying:
        return  # this SafetyNet's schema, nothing to migrate; or no city there yet
    try:
        live = asyncio.run(live_processes(cfg, time.time(), ALIVE_SECONDS, (LEASE_NAME,)))
    except StoreError:
        return
    if live:
        stale = math.ceil(max(ALIVE_SECONDS, cfg.broadcast.leader_lease_seconds))
        processes = say("cli.list_separator").join(live)
        if behind is not None and migrates:
            raise CommandError(say("cli.migrate_under_live", db=shown_database(cfg), found=behind.found,
                                   known=behind.known, processes=processes, seconds=stale))
        # the copy reads table by table: answers a live server takes meanwhile would be in the old database
        # only, and lost with the switch (review: nothing stopped a copy under a running city)
        raise CommandError(say("cli.store.copy.live", db=shown_database(cfg), processes=processes, seconds=stale))


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The CLI's parser; for `argv`, with the lab's options only when its command is the lab's."""
    lab = argv is None or _command_of(argv) in _LAB_COMMANDS
    parser = _Parser(prog="safetynet", description=say("cli.description"), parents=[_config_parent()])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, title=say("cli.commands"))
    _add_init_and_access(sub)
    _add_keys(sub)
    _add_roster(sub)
    _add_providers(sub)
    _add_campaigns(sub)
    _add_server(sub, lab)
    _add_triggers(sub)
    _add_privacy(sub)
    _add_store(sub)
    _add_bench(sub, lab)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The command's exit status: 0, 2 for a refusal said in one line, 130 on Ctrl-C at any point,
    quietly (QA: in the first second, while the parser and the config load, it was a traceback)."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        return 130


_CANNOT_OPEN = {"no_database": "cli.pg_no_database", "refused": "cli.pg_refused", "auth": "cli.pg_auth"}


def _cannot_open(cfg: Config, e: CannotOpen) -> str:
    """The line for a PostgreSQL database that would not open, with the one thing to check for its
    error (QA: `database "x" does not exist` and `Connect call failed` said no next step). `e.url` has
    no password, so neither has anything shown here; the setting named is where the URL came from."""
    from urllib.parse import urlsplit

    from safetynet.store.postgres.db import database_name, redact

    parts = urlsplit(e.url)
    host = parts.hostname or "localhost"
    try:
        port = parts.port or 5432
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    except ValueError:  # several hosts (h1:5432,h2:5432): shown as written
        port = 5432
        address = parts.netloc.rpartition("@")[2]
    name = database_name(e.url)
    setting = "[store] url / SAFETYNET_STORE_URL" if e.url == redact(cfg.store.url.strip()) else "--to"
    return say(_CANNOT_OPEN.get(e.why, "cli.pg_cannot_open"), url=e.url, reason=e.reason, address=address,
               host=host, port=port, name=name, setting=setting)


def _schema_behind(cfg: Config, e: SchemaBehind) -> str:
    """The line for a database this command would not migrate: a schema older than this SafetyNet's, or
    none yet (an empty database: a mistyped name, say), with `safetynet init` as the next step."""
    from safetynet.admin import shown_database

    if e.found == 0:
        return say("cli.schema_missing", db=shown_database(cfg))
    return say("cli.schema_behind", db=shown_database(cfg), found=e.found, known=e.known)


def _main(argv: Sequence[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    from safetynet.admin import NO_CITY, command_path, listed

    path = config_path_from(getattr(args, "config", None))
    command = command_path(args)
    on_default = path is None and not any(os.environ.get(k) for k in _STORE_ENV)
    try:
        cfg = load_config(path)
    except ConfigError as e:
        print_error(e)
        return 2
    # a city made here on the defaults before this check existed (`init` with no config.toml: a systemd
    # unit's WorkingDirectory) keeps working: its database is where the defaults say
    if on_default and not listed(command, NO_CITY) and not cfg.db_path.exists():
        print_error(say("cli.no_config", folder=os.getcwd()))
        return 2
    if on_default and command == ("init",):
        print(say("cli.init.no_config", folder=os.getcwd(), data=str(cfg.data_dir)), file=sys.stderr)
    level = cfg.logging.level
    if args.command not in _LONG_RUNNING and command not in _LOGGED and level.lower() in ("debug", "info"):
        level = "warning"  # one-shot commands print their own summary; logs only for problems
    configure_logging(level, cfg.logging.format)
    from safetynet.admin import CommandError
    from safetynet.store import SchemaBehind, SchemaTooNew, StoreError, migrations_on_open
    from safetynet.store.errors import CannotOpen

    try:
        from safetynet.admin import require_database

        require_database(cfg, args)
        with migrations_on_open(listed(command, _MIGRATES)):
            _refuse_to_migrate_under_live_processes(cfg, command)
            _check_keys(cfg, command)
            return int(args.func(cfg, args))
    except CommandError as e:
        print_error(e)
        return 2
    except ConfigError as e:
        print_error(e)
        return 2
    except SchemaTooNew as e:
        print_error(say("cli.schema_too_new", found=e.found, known=e.known))
        return 2
    except SchemaBehind as e:
        print_error(_schema_behind(cfg, e))
        return 2
    except CannotOpen as e:
        print_error(_cannot_open(cfg, e))
        return 2
    except StoreError as e:
        print_error(database_unwritable(cfg, e) or e)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # whoever read the output stopped (`| head`, a pager closed): nothing went wrong here. What is
        # still buffered goes nowhere, or the interpreter's last flush would fail again at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # as a command killed by SIGPIPE reports it


if __name__ == "__main__":
    raise SystemExit(main())

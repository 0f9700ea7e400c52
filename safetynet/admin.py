"""Set-up and access commands: `init`, `keys adopt`, `staff add|list|remove`, `token create|list|revoke`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import os
import secrets
import socket
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog

from safetynet.auth import (
    cli_audit_entry,
    hash_password,
    new_token,
    removal_log_fields,
    token_expiry,
    token_hash,
    token_maker,
    validate_role_scope,
)
from safetynet.config import Config, check_store_url
from safetynet.console import cli_language, say
from safetynet.domain import Role, Scope
from safetynet.domain.audit import AuditAction
from safetynet.domain.japan_time import in_japan
from safetynet.domain.roster import (
    Staff,
    StaffError,
    StaffInputError,
    StaffRemoval,
    check_login,
    check_staff_name,
    check_token_label,
    new_contacts_of,
)
from safetynet.i18n import t
from safetynet.i18n.terms import contact_kind_word, role_word, scope_word
from safetynet.passwords import PasswordError, check_password
from safetynet.store import SchemaBehind, Store, StoreError, migrations_on_open, store_session

log = structlog.get_logger("cli")


class CommandError(Exception):
    """A usage or data problem reported to the user as one line."""


def _checked_input(check: Callable[[str], None], text: str) -> str:
    """`text` if `check` (a domain rule for a login, a name, a label) takes it; CommandError saying the
    rule in the terminal's language otherwise (QA: an empty login, ESC in a name, a 100k-character label)."""
    try:
        check(text)
    except StaffInputError as e:
        raise CommandError(say(e.key, **e.values)) from None
    return text


# The commands that make no city or use none (the demo's and the benchmarks' own temporary city, the
# providers' fakes, a roster file checked or generated, telegrams replayed), and `init`, which makes
# one: they run without a config file (`cli.main`), and without a city's database.
NO_CITY = frozenset({("init",), ("demo",), ("bench",), ("sandbox",), ("roster", "check"),
                     ("roster", "generate"), ("triggers", "replay")})

# The commands that may run without a city's database: those of NO_CITY, and `store copy`, which names
# the database it would copy when that is missing (`cli.store.copy.no_source`). Any other command
# opening a missing SQLite file would make a new, empty one (SQLite creates on open): QA's mistyped
# path gave "no campaigns yet", 600 households imported into a city with no keys and no admin, and
# exit 0 every time.
_MAY_CREATE = NO_CITY | {("store", "copy")}


def command_path(args: argparse.Namespace) -> tuple[str, ...]:
    """`("roster", "import")` for `safetynet roster import …`: the command and its sub-command."""
    command = str(args.command)
    sub = getattr(args, f"{command}_command", None)
    return (command,) if sub is None else (command, str(sub))


def listed(path: tuple[str, ...], commands: frozenset[tuple[str, ...]]) -> bool:
    """Whether the command at `path` (`command_path`) is one of `commands`, itself or by its group
    (`("demo",)` stands for every `demo` sub-command)."""
    return path in commands or path[:1] in commands


def require_database(cfg: Config, args: argparse.Namespace) -> None:
    """Raises `CommandError` naming the path when the command needs the city's SQLite database and
    `[store] path` names none: missing, an empty file (SQLite takes one as a new database), a folder.
    PostgreSQL needs no check here: a database that is not there refuses the connection."""
    path = command_path(args)
    if listed(path, _MAY_CREATE) or check_store_url(cfg.store.url) != "sqlite":
        return
    db = cfg.db_path
    try:
        st = os.stat(db)
    except FileNotFoundError:
        raise CommandError(say("cli.no_database", path=str(db))) from None
    except OSError:
        return  # a path that cannot be looked at (a file where a folder should be): opening it says why
    why = ("" if stat.S_ISREG(st.st_mode) and st.st_size > 0
           else "folder" if stat.S_ISDIR(st.st_mode) else "empty" if stat.S_ISREG(st.st_mode) else "other")
    if why:
        raise CommandError(say("cli.not_a_database", path=str(db), why=say(f"cli.not_a_database.{why}")))


def _write_secret_file(path: Path, content: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(content)
    except BaseException:
        # an empty key file would stay: the next `init` keeps it, and every command then refuses it
        path.unlink(missing_ok=True)
        raise


def _missing_folders(folder: Path) -> list[Path]:
    """`folder` and those of its parents that do not exist yet, deepest first."""
    missing = []
    while not folder.exists() and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    return missing


def ensure_keys(cfg: Config) -> list[str]:
    """Creates the data dir, the secret key (unless given by the environment) and VAPID keys. All or
    nothing: when one cannot be made (a folder not writable, a full disk), what this call made is
    removed before the error goes on, so a later `init` does not keep half a set of keys."""
    from safetynet.channels import registry
    from safetynet.channels.spec import load

    new_folders = _missing_folders(cfg.data_dir)
    made: list[Path] = []
    try:
        cfg.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # the database and keys: owner only
        key_file = cfg.data_dir / "secret.key"
        if not os.environ.get("SAFETYNET_SECRET_KEY") and not key_file.exists():
            try:
                _write_secret_file(key_file, secrets.token_urlsafe(32))  # 43 characters: passes config's floor
                made.append(key_file)
            except FileExistsError:
                pass  # another `init` made it since the look: the city's key is theirs, and it is here
        for spec in registry.SPECS:  # each channel's own keys (web push's VAPID pair)
            if spec.init is not None:
                before = set(cfg.data_dir.iterdir())
                keys: object = None
                try:
                    keys = load(spec.init)(cfg.data_dir)
                finally:
                    with contextlib.suppress(OSError):  # not to hide why the channel's keys failed
                        # a key file another `init` made meanwhile is theirs: not said, not removed
                        if getattr(keys, "created", True):
                            made += sorted(set(cfg.data_dir.iterdir()) - before)
    except BaseException:
        for path in reversed(made):
            path.unlink(missing_ok=True)
        for folder in new_folders:
            with contextlib.suppress(OSError):  # not empty (someone else's files): left as it is
                folder.rmdir()
        raise
    return [str(p) for p in made]


def _shown(contacts: tuple[tuple[str, str], ...], lang: str = "en") -> str:
    """A staff member's contacts as the listing shows them: kind and a masked address."""
    from safetynet.channels import registry

    return ", ".join(f"{contact_kind_word(kind).text(lang)} {registry.mask(kind, address)}".rstrip()
                     for kind, address in contacts)


def staff_contacts(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(kind, address) from the contact options (`--phone`, `--telegram`…: one per roster column)."""
    from safetynet.channels import registry

    out = []
    columns = registry.roster_columns()
    options = {c.key: f"--{c.key}" for c in columns}  # what a message names ("put it in --landline")
    for col in columns:
        value = getattr(args, col.key, None)
        if value:
            try:
                out.append((col.kind, col.parse(value.strip(), options)))
            except ValueError as e:
                raise CommandError(f"--{col.key}: {e}") from None
    return out


async def audit_cli(store: Store, action: AuditAction, what: str, detail: str) -> None:
    """A staff or token change from the command line, in the audit log with the operating system's user
    (QA: who added or removed a head, or reset a password, was written nowhere)."""
    await store.audit.append([cli_audit_entry(store.clock.now(), action, what, detail=detail)])


def _checked(password: str, login: str) -> str:
    try:
        check_password(password, login)
    except PasswordError as e:
        raise CommandError(str(e)) from None
    return password


def schema_behind(cfg: Config) -> SchemaBehind | None:
    """A look at the city's database that migrates nothing: None when its schema is this SafetyNet's,
    SchemaBehind when it is older (`found` 0: no SafetyNet tables at all). StoreError when it cannot be
    opened; SchemaTooNew when it is newer."""
    async def look() -> None:
        async with store_session(cfg):
            pass

    try:
        with migrations_on_open(False):
            asyncio.run(look())
    except SchemaBehind as e:
        return e
    return None


def shown_database(cfg: Config) -> str:
    """The city's database as a message names it: the SQLite file, or the PostgreSQL URL without its password."""
    if check_store_url(cfg.store.url) == "sqlite":
        return str(cfg.db_path)
    from safetynet.store.postgres.db import redact

    return redact(cfg.store.url.strip())


def push_key_file(cfg: Config) -> Path:
    """Where the city's web-push (VAPID) key is: the data folder's vapid_private.pem."""
    from safetynet.channels.webpush.vapid import VAPID_KEY_FILE

    return cfg.data_dir / VAPID_KEY_FILE


async def refuse_a_new_push_key(cfg: Config, store: Store) -> None:
    """CommandError when this machine has no vapid_private.pem while phones are enrolled for push, or the
    city's push key is recorded (`refuse_other_keys`): the key made on first use would be another, and every
    enrolled phone is bound to the first (QA: a second machine set up with SAFETYNET_SECRET_KEY alone, as the
    README said, signed pushes no phone took). A city from before keys were recorded, without a subscription,
    loses nothing by a new key: it is made on first use, as ever."""
    from safetynet.channels.webpush import WEBPUSH

    key = push_key_file(cfg)
    if key.exists():
        return
    # a key recorded for the city (`refuse_other_keys`) is another machine's: phones enrol with it
    if (not await store.roster.has_live_contacts(WEBPUSH.name)
            and await store.coordination.recorded_key(PUSH_KEY) is None):
        return
    raise CommandError(say("cli.push_key_lost", db=shown_database(cfg), key=str(key), folder=str(cfg.data_dir)))


# The names the keys' fingerprints are recorded under (`CoordinationRepo.record_key`), and the label the
# secret key's fingerprint is an HMAC of: the key itself is never stored, nor anything it could be read from.
SECRET_KEY_NAME = "secret_key"  # noqa: S105 - the name a fingerprint is recorded under, not a key
PUSH_KEY = "vapid_public"
_FINGERPRINT_LABEL = b"safetynet secret key fingerprint v1"


def secret_key_fingerprint(key: str) -> str:
    """What the store keeps to know the city's secret key again: HMAC-SHA256 of a fixed label under it."""
    return hmac.new(key.encode(), _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()


def _secret_key_here(cfg: Config) -> tuple[str, str]:
    """(the secret key this machine signs with, where it comes from); the file is read again, for `init`,
    which made it after the config was loaded."""
    if cfg.secrets.secret_key:
        source = "SAFETYNET_SECRET_KEY" if os.environ.get("SAFETYNET_SECRET_KEY") else str(cfg.data_dir / "secret.key")
        return cfg.secrets.secret_key, source
    key_file = cfg.data_dir / "secret.key"
    try:
        return key_file.read_text().strip(), str(key_file)
    except OSError:
        return "", str(key_file)


async def refuse_other_keys(cfg: Config, store: Store) -> None:
    """CommandError when this machine's secret key, or its web-push key, is not the city's: the one whose
    fingerprint the store recorded first (by `init` or the first command that signed). QA: a dispatcher
    started from another data folder, with its own random key, served without complaint, and every reply
    link it sent said 「このリンクは無効か…」; a second machine's own vapid_private.pem got 403 from every
    phone. A database with no fingerprint yet (a new city, or one from before they were kept) takes this
    machine's now. The key is never stored: an HMAC of a fixed label under it, and the push key's public half."""
    key, source = _secret_key_here(cfg)
    if key:
        recorded = await store.coordination.recorded_key(SECRET_KEY_NAME)
        mine = secret_key_fingerprint(key)
        if recorded is None:
            recorded = await store.coordination.record_key(SECRET_KEY_NAME, mine)
        if not hmac.compare_digest(recorded, mine):
            raise CommandError(say("cli.key_mismatch", source=source, db=shown_database(cfg),
                                   folder=str(cfg.data_dir)))
    push = push_key_file(cfg)
    if push.exists():
        from safetynet.channels.webpush.vapid import load_or_create_vapid

        public = load_or_create_vapid(cfg.data_dir).application_server_key  # it exists: read, not made
        recorded = await store.coordination.recorded_key(PUSH_KEY)
        if recorded is None:
            recorded = await store.coordination.record_key(PUSH_KEY, public)
        if recorded != public:
            raise CommandError(say("cli.push_key_mismatch", key=str(push), db=shown_database(cfg),
                                   folder=str(cfg.data_dir)))


def _invalidated(keys: list[str]) -> str:
    """What stops working when `keys` (their names) are replaced, in the terminal's words."""
    return say("cli.list_separator").join(say(f"cli.keys.adopt.invalidates.{n}") for n in keys)


async def _keys_to_adopt(store: Store, key: str, public: str | None) -> list[str]:
    """The names of the city's keys whose recorded fingerprint is not this machine's (`public`: this
    machine's push key's public half, None when it has none, and one is to be made)."""
    differ = []
    if await store.coordination.recorded_key(SECRET_KEY_NAME) != secret_key_fingerprint(key):
        differ.append(SECRET_KEY_NAME)
    if public is None or await store.coordination.recorded_key(PUSH_KEY) != public:
        differ.append(PUSH_KEY)
    return differ


async def _keys_adopt(cfg: Config, yes: bool) -> list[str]:
    """The keys adopted (none: this machine's were the city's already); CommandError without `yes`
    when any would change, saying what would stop working."""
    from safetynet.channels.webpush.vapid import load_or_create_vapid

    key, source = _secret_key_here(cfg)
    if not key:
        raise CommandError(say("cli.keys.adopt.no_secret_key", key=source, folder=str(cfg.data_dir)))
    push = push_key_file(cfg)
    async with store_session(cfg) as store:
        public = load_or_create_vapid(cfg.data_dir).application_server_key if push.exists() else None
        differ = await _keys_to_adopt(store, key, public)
        if not differ:
            return []
        if not yes:
            raise CommandError(say("cli.keys.adopt.confirm", db=shown_database(cfg), source=source, key=str(push),
                                   invalidated=_invalidated(differ)))
        if public is None:
            public = load_or_create_vapid(cfg.data_dir).application_server_key  # made here, with --yes only
        # the audit entry first, as every export's: an entry that cannot be written stops the change
        await audit_cli(store, AuditAction.KEYS, "adopt", ", ".join(differ))
        if SECRET_KEY_NAME in differ:
            await store.coordination.adopt_key(SECRET_KEY_NAME, secret_key_fingerprint(key))
        if PUSH_KEY in differ:
            await store.coordination.adopt_key(PUSH_KEY, public)
    log.info("keys_adopted", keys=differ, db=shown_database(cfg))
    return differ


def keys_adopt(cfg: Config, args: argparse.Namespace) -> int:
    """`safetynet keys adopt [--yes]`: this machine's secret and web-push keys become the city's (a key
    rotated or leaked, or an older city whose first signing command recorded another machine's keys):
    without it, once a fingerprint was recorded, no other key could ever be used again."""
    adopted = asyncio.run(_keys_adopt(cfg, bool(args.yes)))
    if not adopted:
        print(say("cli.keys.adopt.already", db=shown_database(cfg)))
        return 0
    print(say("cli.keys.adopt.done", db=shown_database(cfg), folder=str(cfg.data_dir),
              invalidated=_invalidated(adopted)))
    return 0


async def _refuse_new_keys_for_a_city(cfg: Config) -> None:
    """A city's database whose keys are not here (a rebuilt server, a new data folder): new keys would
    silently void every printed letter, reply link and push subscription (QA: `init` on a new host
    printed 作成: …/secret.key, and every /join code said 正しくありません). Refused: bring the keys back.
    With the secret key given (SAFETYNET_SECRET_KEY) the web-push key is still made here, so its file is
    looked for too."""
    key_file = cfg.data_dir / "secret.key"
    secret_here = bool(os.environ.get("SAFETYNET_SECRET_KEY")) or key_file.exists()
    async with store_session(cfg) as store:
        if not secret_here and await store.auth.count_city_admins() > 0:
            raise CommandError(say("cli.init.keys_missing", key=str(key_file), folder=str(cfg.data_dir)))
        await refuse_a_new_push_key(cfg, store)
        await refuse_other_keys(cfg, store)  # before any key is made here: keys that are not the city's


def _cannot_write(cfg: Config, e: OSError) -> CommandError:
    """The one-line refusal naming the data folder and why it cannot be written there."""
    return CommandError(say("cli.init.cannot_write", folder=str(cfg.data_dir), reason=e.strerror or str(e)))


async def _applied_migrations(cfg: Config) -> list[str]:
    """The migrations the city's schema has (`0105_household_notices`…), read without migrating:
    none for a database with no schema yet."""
    if check_store_url(cfg.store.url) == "postgresql":
        from safetynet.store.postgres.db import PgDatabase

        pg = await PgDatabase.open(cfg.store.url.strip(), min_size=1, max_size=1, migrate=False)
        try:
            if await pg.fetchval("SELECT to_regclass('schema_version') IS NOT NULL") is not True:
                return []
            rows = await pg.fetchall("SELECT version, name FROM schema_version ORDER BY version")
        finally:
            await pg.close()
    else:
        from safetynet.store.sqlite.db import Database

        db = await Database.open(cfg.db_path, readers=1, migrate=False,
                                 busy_timeout_seconds=cfg.store.busy_timeout_seconds)
        try:
            if not await db.fetchval("SELECT count(*) FROM sqlite_master WHERE name = 'schema_version'", (), 0):
                return []
            rows = await db.fetchall("SELECT version, name FROM schema_version ORDER BY version")
        finally:
            await db.close()
    return [f"{int(r[0]):04d}_{r[1]}" for r in rows]


async def live_processes(cfg: Config, now: float, alive_seconds: float, leases: tuple[str, ...]) -> list[str]:
    """The SafetyNet processes the city's database shows running, read as it is (not migrated, nothing
    written): a process whose heartbeat is fresher than `alive_seconds` and not stopped (a dispatcher's, or
    a web process's, any role: from 0130 on), a holder of one of `leases` unexpired; each once, in the
    terminal's words (cli.migrate_under_live.process), but for this machine's whose pid runs no more (a
    crash: `_gone`)."""
    if check_store_url(cfg.store.url) == "postgresql":
        from safetynet.store.postgres.db import PgDatabase

        db: Any = await PgDatabase.open(cfg.store.url.strip(), min_size=1, max_size=1, migrate=False)
        tables_sql = ("SELECT table_name FROM information_schema.tables"
                      " WHERE table_schema = ANY (current_schemas(false))")
    else:
        from safetynet.store.sqlite.db import Database

        db = await Database.open(cfg.db_path, readers=1, migrate=False,
                                 busy_timeout_seconds=cfg.store.busy_timeout_seconds)
        tables_sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
    found: list[tuple[str, int]] = []
    try:
        tables = {str(r[0]) for r in await db.fetchall(tables_sql)}
        if "dispatchers" in tables:
            found += [(str(r[0]), int(r[1])) for r in await db.fetchall(
                "SELECT host, pid FROM dispatchers WHERE stopped_at IS NULL AND seen_at >= ? ORDER BY seen_at DESC",
                (now - alive_seconds,))]
        if "leases" in tables and leases:
            for (owner,) in await db.fetchall(
                    f"SELECT owner FROM leases WHERE expires_at > ? AND name IN ({', '.join('?' * len(leases))})",
                    (now, *leases)):
                host, _, rest = str(owner).rpartition(":")[0].rpartition(":")  # host:pid:random
                found.append((host, int(rest)) if rest.isdigit() else (str(owner), 0))
    finally:
        await db.close()
    here = socket.gethostname()  # as the heartbeat and the lease's owner record it
    return [say("cli.migrate_under_live.process", host=host, pid=pid) if pid else host
            for host, pid in dict.fromkeys(found)
            if not (host == here and pid and _gone(pid))]


def _gone(pid: int) -> bool:
    """Whether no process `pid` runs on this machine. Review: a server that crashed left its heartbeat and
    lease fresh for up to 20 s, and its own restart (systemd's Restart=on-failure) was refused by it five
    times, the unit's start limit, and stayed down. A pid taken again since counts as alive: refused, as
    before. (Machines sharing one host name in separate pid namespaces would be told apart by nothing.)"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # another user's process (EPERM): it runs
    return False


async def _init(cfg: Config, login: str, password: str | None) -> tuple[list[str], str | None, list[str]]:
    """(what was created, the admin password to print once, the migrations applied to an existing schema)."""
    _checked_input(check_login, login)
    if password is not None:
        _checked(password, login)  # before anything is created
    try:
        # PostgreSQL: the database is the operator's; init creates or migrates the schema in it
        existed = check_store_url(cfg.store.url) != "sqlite" or cfg.db_path.exists()
    except OSError as e:  # a folder on the way it may not look into (PermissionError)
        raise _cannot_write(cfg, e) from None
    # QA: `init` on a database of an older schema said "nothing changed" while it migrated it. Compared
    # with what the schema has after, before any session opens (opening migrates)
    before = await _applied_migrations(cfg) if existed else []
    if existed:
        await _refuse_new_keys_for_a_city(cfg)
    try:
        created = ensure_keys(cfg)
    except OSError as e:  # QA: `var` a file (FileExistsError), a folder not writable (PermissionError)
        raise _cannot_write(cfg, e) from None
    printed_password = None
    async with store_session(cfg) as store:
        await refuse_other_keys(cfg, store)  # a new city records its keys' fingerprints here
        if not existed:
            created.append(str(cfg.db_path))
        if await store.auth.count_city_admins() == 0:
            if password is None:
                password = printed_password = secrets.token_urlsafe(12)
            try:
                await store.auth.add_staff(login, t("ja", "staff.first_admin_name"), Role.CITY_ADMIN, "city",
                                           hash_password(password))
            except (StaffError, StoreError) as e:
                # QA: two `init` at once on a new PostgreSQL database both counted no admin, and the
                # second's traceback ended in "login 'admin' already exists" (or, inserting at the same
                # moment, its unique key refused it: a StoreError)
                if await store.auth.count_city_admins() > 0:
                    raise CommandError(say("cli.init.raced", login=login)) from None
                if isinstance(e, StaffError):  # the login is a staff member's who is not an admin
                    raise CommandError(say(e.key, **e.values) if e.key else str(e)) from None
                raise
            # in the audit log as every staff member added is (QA: the first admin was the one missing)
            await audit_cli(store, AuditAction.STAFF, "add", f"{login} {Role.CITY_ADMIN} city")
            created.append(say("cli.init.city_admin", login=login))
    # a database with no schema before is a new city, whose migrations are its making, not news
    migrated = [m for m in await _applied_migrations(cfg) if m not in before] if before else []
    return created, printed_password, migrated


def init(cfg: Config, args: argparse.Namespace) -> int:
    created, password, migrated = asyncio.run(_init(cfg, args.admin_login, args.admin_password))
    if migrated:
        print(say("cli.init.migrated", count=len(migrated), migrations=", ".join(migrated)))
    elif not created:
        print(say("cli.init.nothing"))
    for item in created:
        print(say("cli.init.created", item=item))
    if password:
        print(say("cli.init.password", password=password))
    return 0


def _role_scope(role_text: str, scope_text: str | None) -> tuple[Role, Scope]:
    try:
        role = Role(role_text)
    except ValueError:
        raise CommandError(say("cli.admin.unknown_role", role=repr(role_text),
                               roles=", ".join(r.value for r in Role))) from None
    try:
        scope = Scope.parse(scope_text or ("city" if role == Role.CITY_ADMIN else ""))
    except ValueError:
        raise CommandError(say("scope.invalid", value=repr((scope_text or "").strip()))) from None
    try:
        validate_role_scope(role, scope)
    except ValueError:
        # in the terminal's language (QA: "role deputy needs scope association:NAME, got city" under ja)
        wanted = "city" if role == Role.CITY_ADMIN else ("district" if role == Role.DISTRICT_HEAD else "association")
        raise CommandError(say("cli.admin.role_scope", role=say(f"cli.role.{role}"), kind=say(f"cli.kind.{wanted}"),
                               example="city" if wanted == "city" else f"{wanted}:NAME")) from None
    return role, scope


def _chosen_or_new(password: str | None, login: str) -> tuple[str, str | None]:
    """(the password to set, the same if generated here, to print once): a chosen one is checked."""
    if password is not None:
        return _checked(password, login), None
    generated = secrets.token_urlsafe(12)
    return generated, generated


# What the command line does once a staff member is added or given new addresses, in the same store
# session (`cli.staff_add`: their association's open calls for help queued to them, a layer this module
# may not import); never raises (the account and its password stand whatever it meets).
AfterAdd = Callable[[Store, Staff], Awaitable[object]]


async def _staff_add(cfg: Config, args: argparse.Namespace, after: AfterAdd | None = None) -> str | None:
    _checked_input(check_login, args.login)
    _checked_input(check_staff_name, args.name or args.login)
    role, scope = _role_scope(args.role, args.scope)
    password, generated = _chosen_or_new(args.password, args.login)
    async with store_session(cfg) as store:
        if not await store.auth.scope_exists(str(scope)):
            raise CommandError(say("cli.admin.no_scope", kind=say(f"cli.kind.{scope.kind}"), name=repr(scope.name)))
        try:
            staff = await store.auth.add_staff(
                args.login, args.name or args.login, role, str(scope), hash_password(password),
                contacts=staff_contacts(args),
            )
        except StaffError as e:  # in the terminal's language, as the rules checked before it
            raise CommandError(say(e.key, **e.values) if e.key else str(e)) from None
        await audit_cli(store, AuditAction.STAFF, "add", f"{args.login} {role} {scope}")
        if after is not None:
            await after(store, staff)
    return generated


def staff_add(cfg: Config, args: argparse.Namespace, after: AfterAdd | None = None) -> int:
    generated = asyncio.run(_staff_add(cfg, args, after))
    print(say("cli.staff.added", login=args.login, role=args.role))
    if generated:
        print(say("cli.staff.password", password=generated))
    return 0


def staff_list(cfg: Config, args: argparse.Namespace) -> int:
    async def run() -> None:
        async with store_session(cfg) as store:
            lang = cli_language()  # a Japanese terminal reads the console's words (QA: `pending_approval`, `active mobile`)
            for s in await store.auth.list_staff():
                active = say("cli.staff.list.active" if s.active else "cli.staff.list.inactive")
                print(f"{s.login}\t{role_word(s.role).text(lang)}\t{scope_word(s.scope).text(lang)}\t{active}"
                      f"\t{_shown(s.contacts, lang)}")

    asyncio.run(run())
    return 0


def staff_password(cfg: Config, args: argparse.Namespace) -> int:
    """A new password (a forgotten or leaked one): printed once when generated; the login's sessions end."""
    password, generated = _chosen_or_new(args.password, args.login)

    async def run() -> bool:
        async with store_session(cfg) as store:
            done = await store.auth.set_password(args.login, hash_password(password))
            if done:
                await audit_cli(store, AuditAction.STAFF, "password", args.login)
            return done

    if not asyncio.run(run()):
        raise CommandError(say("cli.staff.no_such", login=repr(args.login)))
    print(say("cli.staff.password_set", login=args.login))
    if generated:
        print(say("cli.staff.password", password=generated))
    return 0


def staff_contacts_cmd(cfg: Config, args: argparse.Namespace, after: AfterAdd | None = None) -> int:
    """A staff member's alert contacts changed (a head's new phone): each option given replaces that
    kind's address, each `--clear` removes one; the account, its password and sessions stay."""
    from safetynet.channels import registry

    by_key = {c.key: c.kind for c in registry.roster_columns()}
    unknown = [k for k in args.clear or () if k not in by_key]
    if unknown:
        raise CommandError(say("cli.staff.contacts.bad_clear", key=unknown[0], keys=", ".join(by_key)))
    filled = dict(staff_contacts(args))
    changes: dict[str, str | None] = {**{by_key[k]: None for k in args.clear or ()}, **filled}
    if not changes:
        raise CommandError(say("cli.staff.contacts.nothing", login=args.login))

    async def run() -> Staff | None:
        async with store_session(cfg) as store:
            found = await store.auth.staff_by_login(args.login)
            if found is None:
                return None
            try:
                staff = await store.auth.set_staff_contacts(found[0].id, changes)
            except StaffError:
                return None
            await audit_cli(store, AuditAction.STAFF, "contacts", f"{args.login} {','.join(sorted(changes))}")
            new = new_contacts_of(found[0], staff)
            if after is not None and new is not None:  # the open calls for help, to the new addresses only
                await after(store, new)
            return staff

    staff = asyncio.run(run())
    if staff is None:
        raise CommandError(say("cli.staff.no_such", login=repr(args.login)))
    print(say("cli.staff.contacts.set", login=args.login, contacts=_shown(staff.contacts) or "-"))
    return 0


def staff_remove(cfg: Config, args: argparse.Namespace) -> int:
    async def run() -> StaffRemoval | None:
        async with store_session(cfg) as store:
            removal = await store.auth.remove_staff(args.login)
            if removal is not None:
                log.info("staff_removed", **removal_log_fields(removal, "cli"))
                await audit_cli(store, AuditAction.STAFF, "remove", args.login)
            return removal

    removal = asyncio.run(run())
    if removal is None:
        raise CommandError(say("cli.staff.no_such", login=repr(args.login)))
    print(say("cli.staff.removed", login=args.login))
    if removal.live_tokens:  # kept (an integration's credential), and said, with how to revoke them
        print(say("cli.staff.removed_tokens", login=args.login, count=len(removal.live_tokens),
                  ids=", ".join(map(str, removal.live_tokens))))
    return 0


def token_create(cfg: Config, args: argparse.Namespace) -> int:
    label = _checked_input(check_token_label, args.label or "")
    role, scope = _role_scope(args.role, args.scope)
    token = new_token()

    async def run() -> None:
        async with store_session(cfg) as store:
            try:
                expires_at = token_expiry(store.clock.now(), args.expires_days)
            except ValueError as e:
                raise CommandError(str(e)) from None
            if not await store.auth.scope_exists(str(scope)):
                raise CommandError(say("cli.admin.no_scope", kind=say(f"cli.kind.{scope.kind}"), name=repr(scope.name)))
            token_id = await store.auth.create_api_token(token_hash(token), role, str(scope), label,
                                                         expires_at)
            await audit_cli(store, AuditAction.TOKEN, "api_token", f"created {token_id} {role} {scope}")

    asyncio.run(run())
    print(token)
    return 0


def _when(ts: float | None) -> str:
    return "-" if ts is None else in_japan(ts).isoformat(timespec="minutes")


def token_list(cfg: Config, args: argparse.Namespace) -> int:
    """One line per token, tab-separated under a header; never the token itself (it is not kept)."""
    async def run() -> None:
        async with store_session(cfg) as store:
            now = store.clock.now()
            logins = {s.id: s.login for s in await store.auth.list_staff()}
            removed = say("cli.token.list.maker_removed")
            print("id\trole\tscope\tcreated\texpires\tlast_used\trevoked\tstate\tcreated_by\tlabel")
            for tok in await store.auth.list_api_tokens():
                state = ("revoked" if tok.revoked_at is not None else "active" if tok.usable(now) else "expired")
                print("\t".join([str(tok.id), str(tok.role), tok.scope, _when(tok.created_at), _when(tok.expires_at),
                                 _when(tok.last_used_at), _when(tok.revoked_at), state,
                                 token_maker(tok.created_by, logins, removed), " ".join(tok.label.split())]))

    asyncio.run(run())
    return 0


def token_revoke(cfg: Config, args: argparse.Namespace) -> int:
    async def run() -> bool:
        async with store_session(cfg) as store:
            done = await store.auth.revoke_api_token(args.id)
            if done:
                await audit_cli(store, AuditAction.TOKEN, "api_token", f"revoked {args.id}")
            return done

    if not asyncio.run(run()):
        raise CommandError(say("cli.token.no_such", id=args.id))
    print(say("cli.token.revoked", id=args.id))
    return 0

"""Configuration: `config.toml` into frozen dataclasses, overridable from the environment.

Every key `a.b.c` can be overridden by `SAFETYNET_A_B_C`. Secrets never live in the file;
they come from the environment (or, for the embedded default, from files `init` writes).
The `[channels.NAME]` sections and the channels' secrets are the registry's: each channel's
package declares its settings type and the environment variables of its secrets.
"""

from __future__ import annotations

import dataclasses
import errno
import ipaddress
import math
import os
import socket
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from safetynet.channels.base import ChannelContext, ChannelSettings, is_loopback_url, talks_to_sandbox
from safetynet.clock import Clock, SystemClock
from safetynet.domain.campaigns import ChannelRoutes

__all__ = ["ChannelsConfig", "Config", "ConfigError", "Secrets", "cannot_listen", "channel_context", "channel_contexts",
           "check_listen", "check_store_url", "config_path_from", "database_unwritable", "is_loopback_url",
           "load_config", "secret_key_problem"]

ENV_PREFIX = "SAFETYNET_"
DEFAULT_CONFIG = "config.toml"


class ConfigError(Exception):
    """A configuration problem, described in one line that names the key."""


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = "http://127.0.0.1:8080"
    # Body size limit for every request; rosters come in over the CLI, not HTTP.
    max_body_bytes: int = 64 * 1024
    # Reverse proxies (IPs or CIDRs) whose X-Forwarded-For is believed; from anyone else it is spoofable.
    trusted_proxies: tuple[str, ...] = ()
    # A client has this long to send a request's headers, counted from connecting or from its
    # previous answer (so it is also how long an idle keep-alive connection stays open), and this
    # long for its body: a slow client cannot hold a socket and a handler for ever.
    header_timeout_seconds: float = 15.0
    body_timeout_seconds: float = 30.0
    # GET /metrics without credentials from a loopback peer (a Prometheus on this host). Never
    # through a trusted proxy or with forwarding headers; elsewhere a city admin's API token.
    metrics_loopback: bool = True


@dataclass(frozen=True)
class StoreConfig:
    # Which store: empty (SQLite at `path`) or sqlite:///PATH; see `check_store_url`.
    url: str = ""
    path: str = "var/safetynet.db"
    readers: int = 2
    # SQLite: how long a write waits for another process's lock (a CLI import, a backup) before it
    # fails as "database is locked"
    busy_timeout_seconds: float = 5.0


@dataclass(frozen=True)
class CityConfig:
    name: str = "さくら市"
    # The name in Latin letters ("Sakura City"): the sender mark of English, Portuguese and Vietnamese SMS and
    # checks ("[Sakura City] "), which a kanji name would turn into UCS-2 (half the characters a segment).
    # Empty: those texts name no sender.
    name_latin: str = ""
    # Default language of messages when a household has none or one we have no text for.
    default_language: str = "ja"
    # The number a resident calls when a reply link or enrolment code does not work (the city's
    # disaster-prevention desk); shown on those pages. Empty: the pages say to ask the association.
    contact_phone: str = ""


def _channels_config() -> type:
    """`[channels]`: one field per registered channel, of that channel's own settings type.

    Built from the registry (`channels/registry.py`): a new channel brings its section with it.
    At runtime a frozen dataclass (so `_build`, `dataclasses.replace` and pickling work); typed
    below for mypy as a bag of ChannelSettings.
    """
    from safetynet.channels import registry

    fields = [(s.name, s.settings, field(default_factory=s.settings)) for s in registry.SPECS]

    def get(self: Any, name: str) -> ChannelSettings:
        """The settings of channel `name`; KeyError when it is not registered."""
        if name not in _CHANNEL_NAMES:
            raise KeyError(name)
        found: ChannelSettings = getattr(self, name)
        return found

    def items(self: Any) -> list[tuple[str, ChannelSettings]]:
        return [(n, getattr(self, n)) for n in _CHANNEL_NAMES]

    def enabled(self: Any) -> list[str]:
        """The names of the enabled channels, in registry order."""
        return [n for n in _CHANNEL_NAMES if getattr(self, n).enabled]

    def replace(self: Any, **changes: ChannelSettings) -> Any:
        return dataclasses.replace(self, **changes)

    cls = dataclasses.make_dataclass(
        "ChannelsConfig", fields, frozen=True,
        namespace={"get": get, "items": items, "enabled": enabled, "replace": replace},
    )
    cls.__module__ = __name__  # pickled by name (the send worker gets the config that way)
    return cls


if TYPE_CHECKING:

    class ChannelsConfig:
        def __getattr__(self, name: str) -> Any: ...
        def get(self, name: str) -> ChannelSettings: ...
        def items(self) -> list[tuple[str, ChannelSettings]]: ...
        def enabled(self) -> list[str]: ...
        def replace(self, **changes: ChannelSettings) -> ChannelsConfig: ...

else:
    ChannelsConfig = _channels_config()

_CHANNEL_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(ChannelsConfig))  # type: ignore[arg-type]


@dataclass(frozen=True)
class BroadcastConfig:
    batch_size: int = 500
    lease_seconds: float = 60.0
    # The schedulers' leader lease (ladder, triggers, retention: `broadcast.leader`): when its holder
    # dies, another process takes the schedulers over within this long. Renewed every third of it.
    leader_lease_seconds: float = 15.0
    # Retries shorter than this are slept on in memory; longer ones go back to the outbox.
    max_inline_retry_seconds: float = 5.0
    max_attempts: int = 6


@dataclass(frozen=True)
class RepliesConfig:
    # Tokens keep accepting answers this long after their campaign closes.
    token_grace_hours: float = 24.0
    # Per client address: a mobile carrier's CGNAT address can front hundreds of residents answering at once.
    rate_limit_per_minute: int = 600
    # Requests one address may make at once before the per-minute rate applies; 0: as many as per minute.
    rate_limit_burst: int = 0
    # Minutes a help request may stay open (nobody marked it handled) before the district's heads,
    # else the city's admins, are told once; 0: never. At least a minute: sooner would beat the heads'
    # own alert to them.
    help_escalate_minutes: float = 30.0


@dataclass(frozen=True)
class PrivacyConfig:
    # Days after a campaign finishes before its free texts and provider answers are erased (DESIGN §9).
    retention_days: int = 90
    # Days an audit log entry is kept.
    audit_retention_days: int = 730


@dataclass(frozen=True)
class SandboxConfig:
    host: str = "127.0.0.1"
    port: int = 8090


@dataclass(frozen=True)
class JmaConfig:
    areas: tuple[str, ...] = ()
    cities: tuple[str, ...] = ()
    # 津波予報区 codes: a separate list, because they collide with earthquake area codes
    tsunami_areas: tuple[str, ...] = ()
    min_intensity: str = "5-"
    action: str = "propose"
    drills: bool = False
    feed_url: str = ""
    poll_seconds: int = 60
    aftershock_window_hours: float = 6.0
    watch_dir: str = ""
    scenario: str = "drills/citywide-earthquake.toml"


@dataclass(frozen=True)
class CapConfig:
    codes: tuple[str, ...] = ()
    action: str = "propose"


@dataclass(frozen=True)
class TriggersConfig:
    jma: JmaConfig = field(default_factory=JmaConfig)
    cap: CapConfig = field(default_factory=CapConfig)


# The levels `[logging] level` takes (any case), and the formats `[logging] format` does: anything else was
# run as info, or as JSON, without a word (QA: `level = "verbose"`).
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS = ("auto", "console", "json")
# Taken too, unlisted: Python's alias, which ran as warning before levels were checked (review: configs that
# started refused after the upgrade); `logs.configure_logging` reads it as warning.
LOG_LEVEL_ALIASES = ("warn",)


@dataclass(frozen=True)
class LoggingConfig:
    level: str = "info"
    # "auto": console renderer on a TTY, JSON otherwise.
    format: str = "auto"


@dataclass(frozen=True)
class Secrets:
    """Secrets from the environment; never read from config.toml.

    `secret_key` is the app's own; the channels' secrets are the ones their specs name, read by key:
    `cfg.secrets.twilio_auth_token`, `cfg.secrets.get("telegram_bot_token")`.
    """

    secret_key: str = ""
    values: Mapping[str, str] = field(default_factory=dict)

    def __getattr__(self, name: str) -> str:
        if name.startswith("_") or name == "values":
            raise AttributeError(name)
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(f"no secret named {name!r}") from None

    def get(self, key: str) -> str:
        return self.values.get(key, "")

    def __repr__(self) -> str:
        return f"Secrets({', '.join(k for k, v in self.values.items() if v)})"


def _sandbox_secrets() -> Secrets:
    from safetynet.channels import registry

    return Secrets(values={sec.key: sec.sandbox for sec, _ in registry.secrets()})


# Credentials the sandbox provider accepts; used only while the channels naming them are on loopback.
SANDBOX_SECRETS = _sandbox_secrets()


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    city: CityConfig = field(default_factory=CityConfig)
    channels: ChannelsConfig = field(default_factory=ChannelsConfig)
    broadcast: BroadcastConfig = field(default_factory=BroadcastConfig)
    replies: RepliesConfig = field(default_factory=RepliesConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    triggers: TriggersConfig = field(default_factory=TriggersConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    secrets: Secrets = field(default_factory=Secrets)
    # Folder of the config file; relative paths in the file are resolved against it.
    base_dir: str = "."

    @property
    def db_path(self) -> Path:
        """The SQLite file: from `store.url` when it is sqlite:///PATH, else `store.path`."""
        url = self.store.url.strip()
        p = Path(url[len(SQLITE_URL_PREFIX):] if url.startswith(SQLITE_URL_PREFIX) else self.store.path)
        return p if p.is_absolute() else Path(self.base_dir) / p

    @property
    def data_dir(self) -> Path:
        """Folder of the database; it also holds generated keys."""
        return self.db_path.parent

    def resolve(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() else Path(self.base_dir) / p

    @property
    def channel_routes(self) -> ChannelRoutes:
        """Which channels send to each contact kind, from the channel registry: `open_store(cfg)`
        hands it to the store (its fall-back to a household's next channel, and when a call that rang out
        is placed again, as `[channels.NAME]` says), which names no channel."""
        from safetynet.channels import registry

        routes = registry.routes()
        return dataclasses.replace(routes, redial=registry.redials({n: self.channels.get(n) for n in _CHANNEL_NAMES}))


SQLITE_URL_PREFIX = "sqlite:///"


POSTGRES_URL_PREFIXES = ("postgresql://", "postgres://")


def check_store_url(url: str) -> str:
    """The store's kind ("sqlite" or "postgresql") from `[store] url`; ConfigError for anything else.

    Empty means SQLite at `[store] path`; sqlite:///PATH is SQLite at PATH (relative to the config
    file's folder; sqlite:////abs/path for an absolute one); postgresql://… (or postgres://…) is
    PostgreSQL. Only the scheme of another URL is repeated in the error: the rest may hold a password.
    """
    url = url.strip()
    if not url:
        return "sqlite"
    if url.startswith(SQLITE_URL_PREFIX):
        if not url[len(SQLITE_URL_PREFIX):].strip():
            raise ConfigError("config: store.url sqlite:/// needs a file path, e.g. sqlite:///var/safetynet.db")
        return "sqlite"
    if url.startswith(POSTGRES_URL_PREFIXES):
        return "postgresql"
    scheme = urlsplit(url).scheme if "://" in url else ""
    shown = f"a {scheme}:// URL" if scheme.isascii() and scheme.replace("+", "").isalnum() else "that value"
    raise ConfigError(
        f"config: store.url must be empty, sqlite:///PATH or postgresql://…, got {shown}"
    )


_NOT_FROM_FILE = {"secrets", "base_dir"}
SECRET_KEY_ENV = "SAFETYNET_SECRET_KEY"  # noqa: S105 - an environment variable name
# The secret key's floor. 32 characters: 192 bits when random over the URL-safe alphabet, 128 as hex
# (`openssl rand -hex 16`), out of reach of guessing; `safetynet init` writes 43 (token_urlsafe(32),
# 256 bits). 8 different characters: refuses "x" * 32 or "password" * 4, which no random key of 32
# characters comes near (one over the URL-safe alphabet has about 25). The length alone cannot tell a
# random key from a phrase; it refuses what is surely weak.
SECRET_KEY_MIN_LENGTH = 32
SECRET_KEY_MIN_DISTINCT = 8
MAKE_SECRET_KEY = 'python3 -c "import secrets; print(secrets.token_urlsafe(32))"'  # noqa: S105 - the command that makes one


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is dict:
        return "a table of numbers"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
        tp, "a list of strings"
    )


def _coerce(key: str, tp: Any, value: Any, from_env: bool) -> Any:
    value = _coerce_any(key, tp, value, from_env)
    # TOML and float() both take nan and inf: every check `x < 0` passes them, then a timeout or a
    # rate of nan fails deep inside (QA: busy_timeout_seconds = nan, a traceback at the first command)
    numbers = value.values() if isinstance(value, dict) else (value,)
    if any(isinstance(v, float) and not math.isfinite(v) for v in numbers):
        raise ConfigError(f"config: {key} must be a finite number, got {value!r}")
    return value


def _coerce_any(key: str, tp: Any, value: Any, from_env: bool) -> Any:
    origin = typing.get_origin(tp)
    if origin is dict:
        return _table_of_numbers(key, value, from_env)
    if origin is tuple:
        if from_env and isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"config: {key} must be a list of strings, got {value!r}")
        return tuple(value)
    if from_env:
        try:
            if tp is bool:
                low = value.strip().lower()
                if low in ("1", "true", "yes", "on"):
                    return True
                if low in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return tp(value)
        except ValueError:
            raise ConfigError(f"config: {key} must be {_type_name(tp)}, got {value!r}") from None
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is bool and not isinstance(value, bool):
        raise ConfigError(f"config: {key} must be {_type_name(tp)}, got {value!r}")
    if tp in (int, float) and isinstance(value, bool):
        raise ConfigError(f"config: {key} must be {_type_name(tp)}, got {value!r}")
    if not isinstance(value, tp):
        raise ConfigError(f"config: {key} must be {_type_name(tp)}, got {value!r}")
    return value


def _table_of_numbers(key: str, value: Any, from_env: bool) -> dict[str, float]:
    """A table like `[channels.email.domain_per_second]`; from the environment `"a=5,b=2.5"`."""
    if from_env and isinstance(value, str):
        pairs = [p.partition("=") for p in value.split(",") if p.strip()]
        if any(not sep for _, sep, _ in pairs):
            raise ConfigError(f"config: {key} must be NAME=NUMBER pairs separated by commas, got {value!r}")
        value = {k.strip(): v.strip() for k, _, v in pairs}
        try:
            return {k: float(v) for k, v in value.items()}
        except ValueError:
            raise ConfigError(f"config: {key} must be NAME=NUMBER pairs separated by commas") from None
    if not isinstance(value, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value.values()):
        raise ConfigError(f"config: {key} must be {_type_name(dict[str, float])}, got {value!r}")
    return {str(k): float(v) for k, v in value.items()}


def _build(cls: type, table: Mapping[str, Any], env: Mapping[str, str], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)} - _NOT_FROM_FILE
    for k in table:
        if k not in known:
            raise ConfigError(f"config: unknown key {prefix}{k}")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in _NOT_FROM_FILE:
            continue
        key = f"{prefix}{f.name}"
        tp = hints[f.name]
        if isinstance(tp, types.UnionType):
            tp = typing.get_args(tp)[0]
        if dataclasses.is_dataclass(tp):
            sub = table.get(f.name, {})
            if not isinstance(sub, dict):
                raise ConfigError(f"config: {key} must be a table")
            kwargs[f.name] = _build(tp, sub, env, key + ".")  # type: ignore[arg-type]
            continue
        env_name = ENV_PREFIX + key.replace(".", "_").upper()
        if env_name in env:
            kwargs[f.name] = _coerce(key, tp, env[env_name], from_env=True)
        elif f.name in table:
            kwargs[f.name] = _coerce(key, tp, table[f.name], from_env=False)
    return cls(**kwargs)


def _validate(cfg: Config) -> None:
    check_store_url(cfg.store.url)
    for name, settings in cfg.channels.items():
        for problem in settings.problems():
            raise ConfigError(f"config: channels.{name}.{problem}")
    if cfg.triggers.jma.action not in ("propose", "start"):
        raise ConfigError('config: triggers.jma.action must be "propose" or "start"')
    if cfg.triggers.jma.min_intensity not in ("1", "2", "3", "4", "5-", "5+", "6-", "6+", "7"):
        raise ConfigError("config: triggers.jma.min_intensity must be one of 1 2 3 4 5- 5+ 6- 6+ 7")
    if cfg.triggers.jma.poll_seconds < 60:
        raise ConfigError("config: triggers.jma.poll_seconds must be at least 60 (be polite to JMA)")
    if cfg.triggers.cap.action not in ("propose", "start"):
        raise ConfigError('config: triggers.cap.action must be "propose" or "start"')
    if not (cfg.city.name_latin.isascii() and cfg.city.name_latin.isprintable()):
        raise ConfigError("config: city.name_latin must be Latin letters (ASCII), e.g. \"Sakura City\"")
    if not cfg.server.public_url.startswith(("http://", "https://")):
        raise ConfigError("config: server.public_url must start with http:// or https://")
    for proxy in cfg.server.trusted_proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ConfigError(f"config: server.trusted_proxies: {proxy!r} is not an IP address or CIDR") from None
    if cfg.server.header_timeout_seconds <= 0 or cfg.server.body_timeout_seconds <= 0:
        raise ConfigError("config: server.header_timeout_seconds and body_timeout_seconds must be > 0")
    if not 0 <= cfg.server.port <= 65535:  # 0: any free port (the tests)
        raise ConfigError(f"config: server.port must be 1 to 65535 (0: any free port), got {cfg.server.port}")
    if cfg.store.busy_timeout_seconds < 0:
        raise ConfigError("config: store.busy_timeout_seconds must be >= 0")
    if cfg.broadcast.leader_lease_seconds <= 0:
        raise ConfigError("config: broadcast.leader_lease_seconds must be > 0")
    if cfg.privacy.retention_days < 1 or cfg.privacy.audit_retention_days < 1:
        raise ConfigError("config: privacy.retention_days and privacy.audit_retention_days must be at least 1")
    if cfg.replies.token_grace_hours > cfg.privacy.retention_days * 24:
        # a closed campaign's links would take answers, with their words, after retention erased it:
        # kept for good (review)
        raise ConfigError("config: replies.token_grace_hours must not outlast privacy.retention_days"
                          f" ({cfg.replies.token_grace_hours:g} h > {cfg.privacy.retention_days} days)")
    if cfg.replies.rate_limit_per_minute < 0 or cfg.replies.rate_limit_burst < 0:
        raise ConfigError("config: replies.rate_limit_per_minute and rate_limit_burst must be >= 0")
    if not (cfg.replies.help_escalate_minutes == 0 or 1 <= cfg.replies.help_escalate_minutes <= 24 * 60):
        raise ConfigError("config: replies.help_escalate_minutes must be 0 (never) or 1 to 1440 minutes")
    _validate_logging(cfg.logging)
    _validate_secrets(cfg)


def _validate_logging(logging: LoggingConfig) -> None:
    from safetynet.console import say

    if logging.level.lower() not in (*LOG_LEVELS, *LOG_LEVEL_ALIASES):
        raise ConfigError(say("cli.config.logging_level", value=repr(logging.level), levels=", ".join(LOG_LEVELS)))
    if logging.format.lower() not in LOG_FORMATS:  # any case, as the level: `format = "JSON"` ran before
        raise ConfigError(say("cli.config.logging_format", value=repr(logging.format), formats=", ".join(LOG_FORMATS)))


def _real_channels(cfg: Config) -> set[str]:
    """Enabled channels that talk to a real provider (not the sandbox on loopback)."""
    return {n for n, ch in cfg.channels.items() if ch.enabled and not talks_to_sandbox(ch)}


def _validate_secrets(cfg: Config) -> None:
    from safetynet.channels import registry

    real = _real_channels(cfg)
    named = [(sec, [n for n in chs if n in real]) for sec, chs in registry.secrets()]
    for sec, chs in named:
        if chs and sec.sandbox and cfg.secrets.get(sec.key) == sec.sandbox:
            raise ConfigError(f"config: {sec.env} is the sandbox's public test credential; "
                              f"channels.{chs[0]} (a real provider) needs the account's own")
    for sec, chs in named:
        if chs and sec.required and not cfg.secrets.get(sec.key):
            raise ConfigError(f"config: {sec.env} is required for channels.{chs[0]} (a real provider)")


def _secrets(channels: ChannelsConfig, env: Mapping[str, str], data_dir: Path) -> Secrets:
    """Each channel secret from its environment variable; else, when it has a sandbox value and every
    enabled channel naming it talks to the sandbox, that value. With all of them off: nothing, so no
    webhook may take the public credential."""
    from safetynet.channels import registry

    values: dict[str, str] = {}
    for sec, chs in registry.secrets():
        value = env.get(sec.env, "")
        live = [channels.get(n) for n in chs if channels.get(n).enabled]
        if not value and sec.sandbox and live and all(talks_to_sandbox(ch) for ch in live):
            value = sec.sandbox
        values[sec.key] = value
    secret_key = env.get(SECRET_KEY_ENV, "")
    if secret_key:
        _check_secret_key(secret_key, SECRET_KEY_ENV, f"set it to the output of `{MAKE_SECRET_KEY}`")
    else:
        key_file = data_dir / "secret.key"
        try:
            secret_key = key_file.read_text().strip()
        except (FileNotFoundError, NotADirectoryError):
            pass  # no key yet: `init` makes one, and what needs it says so
        except (OSError, UnicodeDecodeError) as e:  # QA: a folder there was a traceback on every command
            why = "a folder" if isinstance(e, IsADirectoryError) else getattr(e, "strerror", None) or str(e)
            raise ConfigError(f"the secret key {key_file} cannot be read ({why}): it must be the file "
                              f"`safetynet init` wrote, or set {SECRET_KEY_ENV}") from None
        else:
            _check_secret_key(secret_key, f"the secret key file {key_file}",
                              f"replace it with `(umask 077; {MAKE_SECRET_KEY} > {key_file})`")
    return Secrets(secret_key, values)


def secret_key_problem(key: str) -> str | None:
    """Why `key` cannot be the app's secret key (what every reply link, enrolment code and webhook
    secret is an HMAC of: a guessable one lets anyone forge them), or None. The text never holds
    the key. Whitespace is judged out: a variable written with `echo` (a trailing newline) or a
    passphrase with a full-width space signs as it always did, and the strength is the rest's; a
    key cannot be changed without voiding every printed enrolment letter."""
    core = key.strip()
    if not core:
        return "is empty" if not key else "is only whitespace"
    # control characters and lone surrogates (bytes not UTF-8): never typed, always a mistake
    bad = next((ch for ch in key if not ch.isprintable() and not ch.isspace()), None)
    if bad is not None:
        return f"contains U+{ord(bad):04X}, which is not a printable character"
    if len(core) < SECRET_KEY_MIN_LENGTH:
        return f"is too short: {len(core)} characters, at least {SECRET_KEY_MIN_LENGTH} are needed"
    if (distinct := len(set(core))) < SECRET_KEY_MIN_DISTINCT:
        return (f"is too repetitive: only {distinct} different character{'' if distinct == 1 else 's'}, "
                f"at least {SECRET_KEY_MIN_DISTINCT} are needed")
    return None


def _check_secret_key(key: str, source: str, remedy: str) -> None:
    """ConfigError naming `source` (the variable or the key file) when `key` is too weak to sign with."""
    if (problem := secret_key_problem(key)) is None:
        return
    raise ConfigError(
        f"config: {source} {problem}. Anyone who guesses the secret key can forge reply links and mark "
        f"households safe, so it must be at least {SECRET_KEY_MIN_LENGTH} random characters: {remedy} "
        f"(`safetynet init` writes such a key for a new city). A new key voids the reply links and "
        f"enrolment codes already given out."
    )


def channel_context(cfg: Config, name: str, *, public_url: str | None = None,
                    clock: Clock | None = None) -> ChannelContext:
    """What channel `name` gets from the composition root: its settings, the secrets it named (a
    sandbox value only while it talks to the sandbox), the public URL, the data folder, the clock."""
    from safetynet.channels import registry

    spec = registry.spec(name)
    settings = cfg.channels.get(name)
    secrets: dict[str, str] = {}
    for sec in spec.secrets:
        value = cfg.secrets.get(sec.key)
        if value and value == sec.sandbox and not talks_to_sandbox(settings):
            value = ""  # the sandbox's public credential never signs or sends for a real provider
        secrets[sec.key] = value
    return ChannelContext(
        name=name, settings=settings, secrets=secrets, public_url=public_url or cfg.server.public_url,
        data_dir=cfg.data_dir, clock=clock or SystemClock(), secret_key=cfg.secrets.secret_key,
        sandbox_host=f"{cfg.sandbox.host}:{cfg.sandbox.port}", default_language=cfg.city.default_language,
        city=cfg.city.name,
    )


def channel_contexts(cfg: Config, *, public_url: str | None = None, clock: Clock | None = None
                     ) -> dict[str, ChannelContext]:
    """Every registered channel's context (enabled or not: the registry skips the disabled)."""
    return {name: channel_context(cfg, name, public_url=public_url, clock=clock) for name, _ in cfg.channels.items()}


def load_config(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Load `path` (or the defaults when it is None), apply env overrides, validate."""
    env = os.environ if env is None else env
    table: dict[str, Any] = {}
    base_dir = Path.cwd()
    if path is not None:
        p = Path(path)
        try:
            raw = p.read_bytes()
        except FileNotFoundError:
            raise ConfigError(f"config: file not found: {p}") from None
        except IsADirectoryError:
            raise ConfigError(f"config: {p} is a folder, not a config file") from None
        except OSError as e:
            raise ConfigError(f"config: cannot read {p}: {e.strerror or e}") from None
        try:
            # Windows' Notepad saves UTF-8 with a BOM, which TOML does not allow: read as the text it is
            table = tomllib.loads(raw.decode("utf-8").removeprefix("\ufeff"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"config: {p} is not valid TOML: {e}") from None
        base_dir = p.resolve().parent
    cfg: Config = _build(Config, table, env, "")
    cfg = dataclasses.replace(cfg, base_dir=str(base_dir))
    cfg = dataclasses.replace(cfg, secrets=_secrets(cfg.channels, env, cfg.data_dir))
    _validate(cfg)
    return cfg


# SQLite's primary result codes that mean its file cannot be written, whatever the statement:
# SQLITE_READONLY, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN.
_SQLITE_UNWRITABLE = frozenset({8, 10, 13, 14})


def database_unwritable(cfg: Config, e: BaseException, key: str = "cli.db_unwritable") -> str | None:
    """The catalog text `key` naming the SQLite file and what to check (permissions, the disk) when `e`, a
    store error caused by a sqlite3 error (or that error), means the file cannot be written; None for
    anything else, a lock held elsewhere and PostgreSQL included
    (QA: `staff add` on a read-only database said only "attempt to write a readonly database")."""
    from safetynet.console import say

    # sqlite3's errors carry their result code (only the store imports sqlite3: read by name here)
    cause = e if hasattr(e, "sqlite_errorcode") else e.__cause__
    code = getattr(cause, "sqlite_errorcode", None)
    if not isinstance(code, int) or code & 0xFF not in _SQLITE_UNWRITABLE:
        return None
    return say(key, path=str(cfg.db_path), reason=str(cause))


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def cannot_listen(e: OSError, host: str, port: int, section: str, flags: bool = True) -> ConfigError:
    """The one line (in the terminal's language) saying why a server cannot listen on host:port and what
    to change: `section` is the config section of its host and port, "[server]" or "[sandbox]"; without
    `flags`, a port no command-line flag sets (the sandbox's mail server: [channels.email])."""
    from safetynet.console import say

    if not flags:
        return ConfigError(say("cli.serve.cannot_listen_configured", address=_address(host, port), section=section,
                               reason=(e.strerror or str(e)).lower()))
    key = {errno.EADDRINUSE: "cli.serve.port_in_use", errno.EADDRNOTAVAIL: "cli.serve.address_unavailable",
           errno.EACCES: "cli.serve.port_denied"}.get(e.errno or 0, "cli.serve.cannot_listen")
    return ConfigError(say(key, address=_address(host, port), host=host, section=section,
                           reason=(e.strerror or str(e)).lower()))


def check_listen(host: str, port: int, section: str, bad_host: str | None = None) -> None:
    """ConfigError (`cannot_listen`) when a server could not listen on host:port, found by binding it as
    the server will (SO_REUSEADDR, every address the host names) and letting go at once: before
    anything starts, so nothing is left open (QA: a port in use was a 25-line traceback, and the
    sandbox's client session was left unclosed). As asyncio does, an address of a family this machine
    has not (EADDRNOTAVAIL) is passed over while another binds. Port 0 (any free port) cannot be taken.
    A host that names no address is the ConfigError of catalog key `bad_host` (with `host` and `reason`)
    when one is given, the host as given (an empty one names none), else left to the caller."""
    if port == 0 and bad_host is None:
        return
    try:
        found = socket.getaddrinfo(host if bad_host else host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as e:
        if bad_host is None:
            return
        from safetynet.console import say

        raise ConfigError(say(bad_host, host=repr(host), reason=str(e))) from None
    if port == 0:
        return
    unavailable: OSError | None = None
    bound = False
    for family, kind, proto, _, address in dict.fromkeys(found):
        with socket.socket(family, kind, proto) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                s.bind(address)
            except OSError as e:
                if e.errno != errno.EADDRNOTAVAIL:
                    raise cannot_listen(e, host, port, section) from None
                unavailable = unavailable or e
                continue
            bound = True
    if not bound and unavailable is not None:
        raise cannot_listen(unavailable, host, port, section)


def config_path_from(argv_value: str | None, env: Mapping[str, str] | None = None) -> str | None:
    """The config path: --config, else SAFETYNET_CONFIG, else ./config.toml if present."""
    env = os.environ if env is None else env
    if argv_value:
        return argv_value
    if env.get("SAFETYNET_CONFIG"):
        return env["SAFETYNET_CONFIG"]
    return DEFAULT_CONFIG if Path(DEFAULT_CONFIG).exists() else None

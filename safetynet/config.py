"""Configuration: `config.toml` into frozen dataclasses, overridable from the environment.

Every key `a.b.c` can be overridden by `SAFETYNET_A_B_C`. Secrets never live in the file;
they come from the environment (or, for the embedded default, from files `init` writes).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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


@dataclass(frozen=True)
class CityConfig:
    name: str = "さくら市"
    # Default language of messages when a household has none or one we have no text for.
    default_language: str = "ja"


@dataclass(frozen=True)
class WebPushConfig:
    enabled: bool = True
    max_per_second: float = 0.0
    concurrency: int = 64
    ttl_seconds: int = 86400
    subscriber: str = "mailto:bousai@example.jp"
    # Push-service hosts accepted at subscription time, besides the sandbox.
    allowed_hosts: tuple[str, ...] = (
        "fcm.googleapis.com",
        "updates.push.services.mozilla.com",
        "web.push.apple.com",
        "wns2-*.notify.windows.com",
    )
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class TelegramConfig:
    enabled: bool = True
    max_per_second: float = 25.0
    concurrency: int = 8
    api_base_url: str = "http://127.0.0.1:8090"
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class SmsConfig:
    enabled: bool = True
    max_per_second: float = 10.0
    concurrency: int = 32
    api_base_url: str = "http://127.0.0.1:8090"
    from_number: str = "+815000000000"
    timeout_seconds: float = 10.0
    price_per_segment_jpy: float = 10.0


@dataclass(frozen=True)
class VoiceConfig:
    enabled: bool = True
    max_per_second: float = 1.0
    concurrency: int = 16
    api_base_url: str = "http://127.0.0.1:8090"
    from_number: str = "+815000000000"
    timeout_seconds: float = 10.0
    price_per_call_jpy: float = 30.0


@dataclass(frozen=True)
class ChannelsConfig:
    webpush: WebPushConfig = field(default_factory=WebPushConfig)
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    sms: SmsConfig = field(default_factory=SmsConfig)
    voice: VoiceConfig = field(default_factory=VoiceConfig)


@dataclass(frozen=True)
class BroadcastConfig:
    batch_size: int = 500
    lease_seconds: float = 60.0
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


@dataclass(frozen=True)
class LoggingConfig:
    level: str = "info"
    # "auto": console renderer on a TTY, JSON otherwise.
    format: str = "auto"


@dataclass(frozen=True)
class Secrets:
    """Secrets from the environment; never read from config.toml."""

    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    telegram_bot_token: str = ""
    secret_key: str = ""


# Credentials the sandbox provider accepts; used only while every provider URL is loopback.
SANDBOX_SECRETS = Secrets(
    twilio_account_sid="AC" + "0" * 32,
    twilio_auth_token="sandbox-auth-token",  # noqa: S106 - the sandbox's public test credential
    telegram_bot_token="123456:sandbox-bot-token",  # noqa: S106 - the sandbox's public test credential
)


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


SQLITE_URL_PREFIX = "sqlite:///"


def check_store_url(url: str) -> str:
    """The store's kind ("sqlite") from `[store] url`; ConfigError for anything else.

    Empty means SQLite at `[store] path`; sqlite:///PATH is SQLite at PATH (relative to the config
    file's folder; sqlite:////abs/path for an absolute one). Only the scheme of another URL is
    repeated in the error: the rest may hold a password.
    """
    url = url.strip()
    if not url:
        return "sqlite"
    if url.startswith(SQLITE_URL_PREFIX):
        if not url[len(SQLITE_URL_PREFIX):].strip():
            raise ConfigError("config: store.url sqlite:/// needs a file path, e.g. sqlite:///var/safetynet.db")
        return "sqlite"
    scheme = urlsplit(url).scheme if "://" in url else ""
    shown = f"a {scheme}:// URL" if scheme.isascii() and scheme.replace("+", "").isalnum() else "that value"
    raise ConfigError(
        f"config: store.url must be empty or sqlite:///PATH, got {shown} (only SQLite is supported for now)"
    )


_NOT_FROM_FILE = {"secrets", "base_dir"}
_SECRET_ENV = {
    "twilio_account_sid": "SAFETYNET_TWILIO_ACCOUNT_SID",
    "twilio_auth_token": "SAFETYNET_TWILIO_AUTH_TOKEN",
    "telegram_bot_token": "SAFETYNET_TELEGRAM_BOT_TOKEN",
    "secret_key": "SAFETYNET_SECRET_KEY",
}


def twilio_webhook_token(cfg: Config, *channels: SmsConfig | VoiceConfig) -> str:
    """The auth token that verifies Twilio's webhooks for `channels`; "" when none may be taken.

    A disabled channel takes no webhook. The sandbox's public test credential verifies a webhook
    only while every channel concerned talks to the sandbox (its api_base_url on loopback): a real
    deployment never takes a request anyone could sign.
    """
    live = [ch for ch in channels if ch.enabled]
    token = cfg.secrets.twilio_auth_token
    if not live or not token:
        return ""
    if token == SANDBOX_SECRETS.twilio_auth_token and not all(is_loopback_url(ch.api_base_url) for ch in live):
        return ""
    return token


def is_loopback_url(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


def _type_name(tp: Any) -> str:
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
        tp, "a list of strings"
    )


def _coerce(key: str, tp: Any, value: Any, from_env: bool) -> Any:
    origin = typing.get_origin(tp)
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
    for name in ("webpush", "telegram", "sms", "voice"):
        ch = getattr(cfg.channels, name)
        if ch.max_per_second < 0:
            raise ConfigError(f"config: channels.{name}.max_per_second must be >= 0 (0 means no limit)")
        if ch.concurrency < 1:
            raise ConfigError(f"config: channels.{name}.concurrency must be >= 1")
    if cfg.triggers.jma.action not in ("propose", "start"):
        raise ConfigError('config: triggers.jma.action must be "propose" or "start"')
    if cfg.triggers.jma.min_intensity not in ("1", "2", "3", "4", "5-", "5+", "6-", "6+", "7"):
        raise ConfigError("config: triggers.jma.min_intensity must be one of 1 2 3 4 5- 5+ 6- 6+ 7")
    if cfg.triggers.jma.poll_seconds < 60:
        raise ConfigError("config: triggers.jma.poll_seconds must be at least 60 (be polite to JMA)")
    if cfg.triggers.cap.action not in ("propose", "start"):
        raise ConfigError('config: triggers.cap.action must be "propose" or "start"')
    if not cfg.server.public_url.startswith(("http://", "https://")):
        raise ConfigError("config: server.public_url must start with http:// or https://")
    for proxy in cfg.server.trusted_proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ConfigError(f"config: server.trusted_proxies: {proxy!r} is not an IP address or CIDR") from None
    if cfg.server.header_timeout_seconds <= 0 or cfg.server.body_timeout_seconds <= 0:
        raise ConfigError("config: server.header_timeout_seconds and body_timeout_seconds must be > 0")
    if cfg.privacy.retention_days < 1 or cfg.privacy.audit_retention_days < 1:
        raise ConfigError("config: privacy.retention_days and privacy.audit_retention_days must be at least 1")
    if cfg.replies.rate_limit_per_minute < 0 or cfg.replies.rate_limit_burst < 0:
        raise ConfigError("config: replies.rate_limit_per_minute and rate_limit_burst must be >= 0")
    s = cfg.secrets
    real_twilio = [n for n in ("sms", "voice") if getattr(cfg.channels, n).enabled
                   and not is_loopback_url(getattr(cfg.channels, n).api_base_url)]
    if real_twilio and s.twilio_auth_token == SANDBOX_SECRETS.twilio_auth_token:
        raise ConfigError(f"config: SAFETYNET_TWILIO_AUTH_TOKEN is the sandbox's public test credential; "
                          f"channels.{real_twilio[0]} (a real provider) needs the account's own")
    tw = cfg.channels.sms if cfg.channels.sms.enabled else None
    for ch_name, ch in (("sms", tw), ("voice", cfg.channels.voice if cfg.channels.voice.enabled else None)):
        if ch is not None and not is_loopback_url(ch.api_base_url):
            if not s.twilio_account_sid:
                raise ConfigError(
                    f"config: SAFETYNET_TWILIO_ACCOUNT_SID is required for channels.{ch_name} (a real provider)"
                )
            if not s.twilio_auth_token:
                raise ConfigError(
                    f"config: SAFETYNET_TWILIO_AUTH_TOKEN is required for channels.{ch_name} (a real provider)"
                )
    tg = cfg.channels.telegram
    if tg.enabled and not is_loopback_url(tg.api_base_url) and not s.telegram_bot_token:
        raise ConfigError("config: SAFETYNET_TELEGRAM_BOT_TOKEN is required for channels.telegram (a real provider)")


def _secrets(cfg_channels: ChannelsConfig, env: Mapping[str, str], data_dir: Path) -> Secrets:
    values = {name: env.get(var, "") for name, var in _SECRET_ENV.items()}
    sb = SANDBOX_SECRETS
    # sms and voice share one Twilio account: sandbox credentials only if one of them is on and
    # neither is real. With both off nothing is sent, and no webhook may take the public credential.
    enabled = [ch for ch in (cfg_channels.sms, cfg_channels.voice) if ch.enabled]
    twilio_sandbox = bool(enabled) and all(is_loopback_url(ch.api_base_url) for ch in enabled)
    if not values["twilio_account_sid"] and twilio_sandbox:
        values["twilio_account_sid"] = sb.twilio_account_sid
    if not values["twilio_auth_token"] and twilio_sandbox:
        values["twilio_auth_token"] = sb.twilio_auth_token
    if not values["telegram_bot_token"] and is_loopback_url(cfg_channels.telegram.api_base_url):
        values["telegram_bot_token"] = sb.telegram_bot_token
    if not values["secret_key"]:
        key_file = data_dir / "secret.key"
        if key_file.exists():
            values["secret_key"] = key_file.read_text().strip()
    return Secrets(**values)


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
        try:
            table = tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"config: {p} is not valid TOML: {e}") from None
        base_dir = p.resolve().parent
    cfg: Config = _build(Config, table, env, "")
    cfg = dataclasses.replace(cfg, base_dir=str(base_dir))
    cfg = dataclasses.replace(cfg, secrets=_secrets(cfg.channels, env, cfg.data_dir))
    _validate(cfg)
    return cfg


def config_path_from(argv_value: str | None, env: Mapping[str, str] | None = None) -> str | None:
    """The config path: --config, else SAFETYNET_CONFIG, else ./config.toml if present."""
    env = os.environ if env is None else env
    if argv_value:
        return argv_value
    if env.get("SAFETYNET_CONFIG"):
        return env["SAFETYNET_CONFIG"]
    return DEFAULT_CONFIG if Path(DEFAULT_CONFIG).exists() else None

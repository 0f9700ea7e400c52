"""structlog setup: JSON lines (console on a TTY), masked phone numbers and names."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# Keys whose values are personal data: shown only in masked form.
_NAME_KEYS = frozenset({"name", "household_name", "display_name", "staff_name", "address"})
_PHONE_KEYS = frozenset({"phone", "to", "from_", "from", "number", "landline", "mobile"})
_SECRET_KEYS = frozenset({"token", "auth_token", "password", "secret", "code", "authorization", "bot_token"})
_PHONE_RE = re.compile(r"(?<![\w/])(\+?\d[\d\- ]{7,}\d)(?!\w)")
_BOT_TOKEN_RE = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{10,}\b")
_REPLY_URL_RE = re.compile(r"(/r/|/join/)[A-Za-z0-9_\-]{6,}")


def mask_phone(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    if len(digits) < 4:
        return "***"
    return "*" * (len(digits) - 4) + digits[-4:]


def mask_name(value: str) -> str:
    return value[:1] + "＊" * min(len(value) - 1, 4) if value else value


def mask_text(text: str) -> str:
    """Masks phone numbers, bot tokens and reply/enrolment URL secrets in free text."""
    text = _BOT_TOKEN_RE.sub("<bot-token>", text)
    text = _REPLY_URL_RE.sub(lambda m: m.group(1) + "<token>", text)
    return _PHONE_RE.sub(lambda m: mask_phone(m.group(1)), text)


def mask_personal_data(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event_dict.items()):
        if not isinstance(value, str):
            continue
        k = key.lower()
        if k in _SECRET_KEYS:
            event_dict[key] = "<redacted>"
        elif k in _PHONE_KEYS:
            event_dict[key] = mask_phone(value)
        elif k in _NAME_KEYS:
            event_dict[key] = mask_name(value)
        else:
            # "event" too: for stdlib records (aiohttp, twilio, telegram) it is free text
            event_dict[key] = mask_text(value)
    return event_dict


def configure_logging(level: str = "info", fmt: str = "auto", stream: Any = None) -> None:
    stream = stream or sys.stderr
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        mask_personal_data,
    ]
    exc = structlog.processors.ExceptionRenderer(
        structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
    )
    use_console = fmt == "console" or (fmt == "auto" and hasattr(stream, "isatty") and stream.isatty())
    renderer: Any = structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer(
        ensure_ascii=False
    )
    lvl = getattr(logging, level.upper(), logging.INFO)
    structlog.configure(
        processors=[*shared, structlog.processors.StackInfoRenderer(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    final: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if not use_console:
        final.append(exc)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processors=[*final, renderer])
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(lvl)
    # PTB's httpx logs every request at INFO, aiohttp's access log every hit.
    for noisy in ("httpx", "httpcore", "aiohttp.access", "twilio.http_client", "telegram"):
        logging.getLogger(noisy).setLevel(max(lvl, logging.WARNING))

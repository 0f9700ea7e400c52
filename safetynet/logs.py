"""structlog setup: JSON lines (console on a TTY), masked phone numbers and names."""

from __future__ import annotations

import io
import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog
from structlog.typing import ExcInfo

# Keys whose values are personal data: shown only in masked form.
_NAME_KEYS = frozenset({"name", "household_name", "display_name", "staff_name", "address"})
_PHONE_KEYS = frozenset({"phone", "to", "from_", "from", "number", "landline", "mobile"})
_SECRET_KEYS = frozenset({"token", "auth_token", "password", "secret", "code", "authorization", "bot_token"})
# A phone number's separators as people type them in Japan: ASCII, full-width and dash-like marks
# (「０９０－１２３４－５６７８」, 「090ー1234ー5678」); `\d` takes full-width digits as well.
_SEP = "\\- \u3000\uff0d\u2010-\u2015\u2212\u30fc"
# Bounded by ASCII word characters only: Japanese text next to a number (「080-1234-5678に連絡」,
# 「電話090…」) is a word character to `\w` and let the whole number through (QA, privacy walk).
_PHONE_RE = re.compile(rf"(?<![0-9A-Za-z_/])([+＋]?\d[\d{_SEP}]{{7,}}\d)(?![0-9A-Za-z_])")
# An email address in free text (a mail server's refusal quotes it: 「550 5.1.1 <…@docomo.ne.jp>」);
# its domain stays readable, which is what tells an operator which carrier refused.
# Bounded and anchored (an address's local part is at most 64 characters): unanchored, a long run of
# word characters before an "@" was tried from every start, 4–5 s for 32,000 (review).
_EMAIL_RE = re.compile(r"(?<![\w.+\-])[\w.+\-]{1,64}@([\w\-]{1,63}(?:\.[\w\-]{1,63}){1,8})")
_BOT_TOKEN_RE = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{10,}\b")
_REPLY_URL_RE = re.compile(r"(/r/|/join/)[A-Za-z0-9_\-]{6,}")
# One search that any of the four above would also match: most values (ids, outcomes, event names)
# fail it and skip the three substitutions, which made masking a third of a log line's cost.
_SUSPECT_RE = re.compile(rf"\d[\d{_SEP}]{{7,}}\d|\d{{5,}}:|/r/|/join/|@")
# Fixed vocabularies: never personal data (level, logger and time are added after masking).
_PLAIN_KEYS = frozenset({"channel", "outcome", "reason", "error_class", "status"})


def mask_phone(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    if len(digits) < 4:
        return "***"
    return "*" * (len(digits) - 4) + digits[-4:]


def mask_email(value: str) -> str:
    """「s＊＊＊@docomo.ne.jp」: the carrier stays, the person goes."""
    local, at, domain = value.rpartition("@")
    return (local[:1] + "＊＊＊" + at + domain) if at else mask_phone(value)


def mask_address(value: str) -> str:
    """A delivery's address under a phone key (`to`, `from`): an email's as an email, a number's as a number."""
    return mask_email(value) if "@" in value else mask_phone(value)


def mask_name(value: str) -> str:
    return value[:1] + "＊" * min(len(value) - 1, 4) if value else value


def mask_text(text: str) -> str:
    """Masks phone numbers, email addresses, bot tokens and reply/enrolment URL secrets in free text."""
    if _SUSPECT_RE.search(text) is None:
        return text
    text = _BOT_TOKEN_RE.sub("<bot-token>", text)
    text = _REPLY_URL_RE.sub(lambda m: m.group(1) + "<token>", text)
    if "@" in text:
        text = _EMAIL_RE.sub(lambda m: mask_email(m.group(0)), text)
    return _PHONE_RE.sub(lambda m: mask_phone(m.group(1)), text)


def mask_personal_data(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event_dict.items()):
        if not isinstance(value, str) or key in _PLAIN_KEYS:
            continue
        k = key.lower()
        if k in _SECRET_KEYS:
            event_dict[key] = "<redacted>"
        elif k in _PHONE_KEYS:
            event_dict[key] = mask_address(value)
        elif k in _NAME_KEYS:
            event_dict[key] = mask_name(value)
        else:
            # "event" too: for stdlib records (aiohttp, twilio, telegram) it is free text
            event_dict[key] = mask_text(value)
    return event_dict


def mask_exception(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """The rendered exception's messages masked as free text: it is rendered after `mask_personal_data`
    ran (review: a driver's error quoting an address or a number went out in clear)."""
    if "exception" in event_dict:
        event_dict["exception"] = _masked(event_dict["exception"])
    return event_dict


def _masked(value: Any) -> Any:
    """Every string in a rendered exception (its messages, notes, an exception group's members) masked."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, list):
        return [_masked(v) for v in value]
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    return value


def _masked_traceback(sio: TextIO, exc_info: ExcInfo) -> None:
    """The console's traceback, plain and masked as free text: the default (rich's, when installed)
    prints each frame's locals, names and numbers with them, and neither was masked."""
    buf = io.StringIO()
    structlog.dev.plain_traceback(buf, exc_info)
    sio.write(mask_text(buf.getvalue()))


class _NamedWriteLogger(structlog.WriteLogger):
    """A WriteLogger that knows its name, so `add_logger_name` works without the stdlib detour."""

    def __init__(self, file: Any, name: str) -> None:
        super().__init__(file)
        self.name = name


def configure_logging(level: str = "info", fmt: str = "auto", stream: Any = None) -> None:
    """structlog events are rendered straight to `stream` (half the cost of going through stdlib
    logging, which matters on the send path); stdlib records (aiohttp, twilio, telegram) get the
    same processors and format through a handler on the root logger."""
    stream = stream or sys.stderr
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        mask_personal_data,  # before the level, name and time are added: nothing to mask in those
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    fmt = fmt.lower()  # config takes any case (`format = "Console"` is the console's, not JSON)
    use_console = fmt == "console" or (fmt == "auto" and hasattr(stream, "isatty") and stream.isatty())
    tail: list[Any]
    if use_console:
        tail = [structlog.dev.ConsoleRenderer(exception_formatter=_masked_traceback)]
    else:
        exc = structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        )
        tail = [exc, mask_exception, structlog.processors.JSONRenderer(ensure_ascii=False)]
    lvl = getattr(logging, level.upper(), logging.INFO)  # "warn" too: logging's WARN is WARNING
    structlog.configure(
        processors=[*shared, structlog.processors.StackInfoRenderer(), *tail],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=lambda *args: _NamedWriteLogger(stream, str(args[0]) if args else ""),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(lvl)
    # Libraries that log every request at INFO (PTB's httpx, twilio's async client, aiohttp's access log).
    for noisy in ("httpx", "httpcore", "aiohttp.access", "twilio", "telegram"):
        logging.getLogger(noisy).setLevel(max(lvl, logging.WARNING))

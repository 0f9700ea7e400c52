"""Reading untrusted XML: size limit, no DTD (so no entity bombs, no external entities), clear errors."""

from __future__ import annotations

import datetime as dt
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from safetynet.domain.japan_time import JST
from safetynet.domain.triggers import TriggerInputError

# The largest official JMA telegram in the sample set is ~400 KB (a VXSE53 with every city).
MAX_BODY_BYTES = 1024 * 1024


def parse_xml(body: bytes, what: str, limit: int = MAX_BODY_BYTES) -> Element:
    """The root element of `body`; TriggerInputError when it is too large, not XML, or has a DTD."""
    if not isinstance(body, bytes | bytearray):
        raise TriggerInputError(f"{what}: body must be bytes")
    if len(body) > limit:
        raise TriggerInputError(f"{what}: body is {len(body)} bytes, larger than the limit of {limit} bytes")
    if not body.strip():
        raise TriggerInputError(f"{what}: body is empty")
    try:
        # forbid_dtd refuses any DOCTYPE: JMA and CAP documents never carry one, while entity
        # bombs ("billion laughs") and external entities (XXE) need one.
        root: Element = SafeET.fromstring(bytes(body), forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as e:
        raise TriggerInputError(f"{what}: refused, the document declares a DTD or entities ({type(e).__name__})") from None
    except SafeET.ParseError as e:
        raise TriggerInputError(f"{what}: not well-formed XML ({e})") from None
    except (ValueError, LookupError, UnicodeError, RecursionError) as e:
        # an unknown encoding declaration, bytes that are not in it, absurd nesting
        raise TriggerInputError(f"{what}: unreadable XML ({type(e).__name__}: {e})") from None
    return root


def split_tag(tag: object) -> tuple[str, str]:
    """("namespace", "local") of an element tag; comments and processing instructions give ("", "")."""
    if not isinstance(tag, str):
        return "", ""
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


def text_of(parent: Element | None, path: str, ns: dict[str, str]) -> str:
    """Stripped text of the first element at `path`, "" when absent."""
    if parent is None:
        return ""
    el = parent.find(path, ns)
    return (el.text or "").strip() if el is not None else ""


def parse_time(text: str, what: str, naive_tz: dt.tzinfo = JST) -> float:
    """Epoch seconds of an ISO 8601 time; a time without offset is taken in `naive_tz`."""
    if not text:
        raise TriggerInputError(f"{what} is missing")
    try:
        t = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise TriggerInputError(f"{what} is not an ISO 8601 time: {text[:40]!r}") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=naive_tz)
    try:
        return t.timestamp()
    except (OverflowError, ValueError, OSError):
        raise TriggerInputError(f"{what} is out of range: {text[:40]!r}") from None

"""The one way handlers read request bodies: size-limited, time-limited, and never a 500.

A form or JSON document a client got wrong (a multipart body without its boundary, a charset no
codec knows, undecodable bytes, JSON nested past the parser's depth, a number of thousands of
digits) is the client's error: 400 (415 for a charset we cannot read), with a message, and
nothing logged at error level. A body that trickles in slower than `server.body_timeout_seconds`
gets 408, so a slow client cannot hold a handler (and its socket) open.
"""

from __future__ import annotations

import asyncio
import codecs
import json
from email.message import Message
from typing import Any
from urllib.parse import unquote_to_bytes

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDict, MultiDictProxy

from safetynet.web.app import SERVICES, wants_json

# Twilio adds params without notice (MediaUrl0…); no form of ours comes near this many fields.
MAX_FIELDS = 200
# No JSON document of ours carries an integer this long; Python refuses past 4,300 digits anyway.
MAX_NUMBER_DIGITS = 40

_UTF8_NAMES = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
_URLENCODED = "application/x-www-form-urlencoded"
_FORM_TYPES = frozenset({"", _URLENCODED, "multipart/form-data"})


class BodyError(web.HTTPBadRequest):
    """A body that cannot be read as what the route takes; the text says why."""


def refuse(request: web.Request, exc: type[web.HTTPClientError], message: str, **kwargs: Any) -> web.HTTPClientError:
    """`exc` saying `message`: as `{"error": …}` to API and webhook clients, as text to browsers."""
    if wants_json(request):
        return exc(text=json.dumps({"error": message}), content_type="application/json", **kwargs)
    return exc(text=message, **kwargs)


def too_large(request: web.Request, max_bytes: int) -> bool:
    length = request.content_length
    return length is not None and length > max_bytes


def _too_large(request: web.Request, max_bytes: int) -> web.HTTPClientError:
    return refuse(request, web.HTTPRequestEntityTooLarge, f"request body larger than {max_bytes} bytes",
                  max_size=max_bytes, actual_size=request.content_length or 0)


def _slow(request: web.Request) -> web.HTTPClientError:
    return refuse(request, web.HTTPRequestTimeout, "the request body did not arrive in time")


def _timeout(request: web.Request) -> float:
    return float(request.app[SERVICES].cfg.server.body_timeout_seconds)


def _reader(request: web.Request, max_bytes: int | None) -> web.Request:
    """`request`, or a clone of it allowed more than the app-wide body limit (trigger telegrams)."""
    if max_bytes is not None and max_bytes > request.app[SERVICES].cfg.server.max_body_bytes:
        return request.clone(client_max_size=max_bytes)
    return request


def _charset(request: web.Request) -> str:
    """The declared charset's codec name (utf-8 when none); 415 when no codec knows it, or when
    the codec is no text encoding (rot13, base64, hex: `bytes.decode` refuses them with a
    LookupError, which was a 500)."""
    declared = request.charset
    if not declared:
        return "utf-8"
    try:
        name = codecs.lookup(declared).name
        b"x".decode(name)  # not b"": an empty input skips the text-encoding check
    except LookupError:
        raise refuse(request, web.HTTPUnsupportedMediaType, f"unknown charset {declared[:40]!r}; send UTF-8") from None
    except ValueError:  # a text encoding that cannot decode "x" alone (utf-16): the body may still read
        pass
    return name


async def read_raw(request: web.Request, max_bytes: int | None = None) -> bytes:
    """The whole body: 413 past `max_bytes` (before reading when Content-Length says so), 408 when
    it does not arrive within the body timeout."""
    if max_bytes is not None and too_large(request, max_bytes):
        raise _too_large(request, max_bytes)
    try:
        if request.content.is_eof():
            # the whole body came with the headers (a one-tap answer): nothing to wait for
            raw = await _reader(request, max_bytes).read()
        else:
            async with asyncio.timeout(_timeout(request)):
                raw = await _reader(request, max_bytes).read()
    except TimeoutError:
        raise _slow(request) from None
    except web.HTTPRequestEntityTooLarge:
        raise _too_large(request, max_bytes or request.app[SERVICES].cfg.server.max_body_bytes) from None
    if max_bytes is not None and len(raw) > max_bytes:
        raise _too_large(request, max_bytes)
    return raw


async def read_form(request: web.Request, max_bytes: int | None = None) -> MultiDictProxy[str]:
    """The POSTed form fields (text only; repeated names kept, `.get` gives the first).

    No body at all is an empty form; a body of another type (JSON, text/plain) is refused (415).
    URL-encoded bodies are parsed here in one pass; aiohttp's general parser (and its
    Content-Type parsing) costs several times more on the reply hot path.
    """
    if request.headers.get("Content-Type") == _URLENCODED:  # what browsers send: no need to parse the header
        ctype, charset = _URLENCODED, "utf-8"
    else:
        ctype = request.content_type
        if ctype not in _FORM_TYPES:
            if request.body_exists and request.content_length != 0:
                raise refuse(request, web.HTTPUnsupportedMediaType,
                             f"expected a form ({_URLENCODED}), got {ctype[:60]}")
            return MultiDictProxy(MultiDict())
        charset = _charset(request)
        if ctype == "multipart/form-data":
            return await _multipart(request, max_bytes)
    raw = await read_raw(request, max_bytes)
    try:
        return MultiDictProxy(MultiDict(parse_urlencoded(raw, charset)))
    except ValueError as e:  # UnicodeDecodeError too
        raise _unreadable(request, e) from None


def _unreadable(request: web.Request, e: Exception) -> web.HTTPClientError:
    return refuse(request, BodyError, f"the form could not be read: {e}"[:200])


async def _multipart(request: web.Request, max_bytes: int | None) -> MultiDictProxy[str]:
    header = Message()
    header["Content-Type"] = request.headers.get("Content-Type", "")
    if not header.get_param("boundary"):
        raise refuse(request, BodyError, "multipart/form-data without a boundary")
    if max_bytes is not None and too_large(request, max_bytes):
        raise _too_large(request, max_bytes)
    try:
        async with asyncio.timeout(_timeout(request)):
            posted = await _reader(request, max_bytes).post()
    except TimeoutError:
        raise _slow(request) from None
    except web.HTTPRequestEntityTooLarge:
        raise _too_large(request, max_bytes or request.app[SERVICES].cfg.server.max_body_bytes) from None
    # What aiohttp's multipart reader raises for parts it cannot read: a bad boundary or a part
    # without a name (ValueError), an unknown charset (LookupError), an unknown transfer encoding
    # (RuntimeError), a part whose headers do not parse (aiohttp's InvalidHeader, an HttpProcessingError).
    except (ValueError, LookupError, RuntimeError, HttpProcessingError) as e:
        raise _unreadable(request, e) from None
    return MultiDictProxy(MultiDict((k, v) for k, v in posted.items() if isinstance(v, str)))


def parse_urlencoded(raw: bytes, charset: str = "utf-8") -> list[tuple[str, str]]:
    """`a=1&b=x+y` → [("a", "1"), ("b", "x y")], in order; ValueError past MAX_FIELDS fields."""
    pairs = raw.split(b"&")
    if len(pairs) > MAX_FIELDS:
        raise ValueError("too many fields")
    out = []
    for pair in pairs:
        if not pair:
            continue
        name, _, value = pair.partition(b"=")
        out.append((_unquote(name, charset), _unquote(value, charset)))
    return out


# Bytes searched for one byte by its value: `b"%" in raw` costs ten times `PERCENT in raw` on
# Python 3.11 (0.35 against 0.04 µs; a reply POST's form made four such tests, issue 18).
PERCENT, _PLUS = ord("%"), ord("+")


def _unquote(b: bytes, charset: str) -> str:
    if PERCENT in b or _PLUS in b:
        return unquote_to_bytes(b.replace(b"+", b" ")).decode(charset)
    return b.decode(charset)


def _int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise ValueError(f"a number of more than {MAX_NUMBER_DIGITS} digits")
    return int(digits)


def _float(text: str) -> float:
    if len(text) > 2 * MAX_NUMBER_DIGITS:
        raise ValueError(f"a number of more than {2 * MAX_NUMBER_DIGITS} characters")
    return float(text)


def loads(raw: bytes, charset: str = "utf-8") -> Any:
    """JSON from bytes; ValueError for anything that is not a JSON document we can hold."""
    try:
        text = raw.decode("utf-8-sig" if charset == "utf-8" else charset)
        return json.loads(text, parse_int=_int, parse_float=_float)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


async def read_json(request: web.Request, max_bytes: int | None = None, empty: Any = None) -> Any:
    """The JSON document of the body (`empty` when there is none): 400 when it is not JSON."""
    charset = _charset(request)
    raw = await read_raw(request, max_bytes)
    if not raw.strip():
        return empty
    try:
        return loads(raw, charset)
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise refuse(request, BodyError, f"request body is not valid JSON: {e}"[:200]) from None


async def read_json_object(request: web.Request, max_bytes: int | None = None) -> dict[str, Any]:
    """A JSON object (`{}` for an empty body); 400 for any other document."""
    doc = await read_json(request, max_bytes, empty={})
    if not isinstance(doc, dict):
        raise refuse(request, BodyError, "expected a JSON object")
    return doc

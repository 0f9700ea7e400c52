"""The front's pure parts: which requests the reply lane takes, and how an answer goes on the wire."""

from __future__ import annotations

import pytest

from safetynet.web.front import Answer, encode
from safetynet.web.reply_pages import lane_takes


@pytest.mark.parametrize(("method", "path", "taken"), [
    (b"GET", b"/r/AbC123_-xyz", True),
    (b"POST", b"/r/AbC123_-xyz", True),
    (b"POST", b"/r/AbC123_-xyz/answer", True),
    (b"POST", b"/r/AbC123_-xyz/seen", True),
    (b"GET", b"/r/AbC123_-xyz/answer", False),  # aiohttp's 405
    (b"POST", b"/r/AbC123_-xyz/other", False),
    (b"POST", b"/r/AbC123_-xyz/", False),
    (b"HEAD", b"/r/AbC123_-xyz", False),
    (b"GET", b"/r/", False),  # the dead end page
    (b"GET", b"/r/AbC%E3%80%82", False),  # an escaped 「。」: aiohttp decodes it and redirects
    (b"GET", b"/static/base.css", False),
    (b"GET", b"/rr/x", False),
])
def test_the_lane_takes_the_reply_routes_with_a_plain_token(method: bytes, path: bytes, taken: bool) -> None:
    assert lane_takes(method, path) is taken


def test_an_answer_is_one_buffer_with_its_length() -> None:
    wire = encode(Answer(200, {"Content-Type": "text/html; charset=utf-8"}, "無事".encode()), close=False)
    head, _, body = wire.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK" and b"Content-Type: text/html; charset=utf-8" in lines
    assert b"Content-Length: 6" in lines and body == "無事".encode()
    assert any(x.startswith(b"Date: ") for x in lines) and b"Connection: close" not in lines


def test_no_content_has_no_length_and_close_is_said() -> None:
    wire = encode(Answer(204, {}, b""), close=True)
    assert wire.startswith(b"HTTP/1.1 204 No Content\r\n") and wire.endswith(b"\r\n\r\n")
    assert b"Content-Length" not in wire and b"Connection: close\r\n" in wire


def test_a_header_with_a_line_break_is_refused() -> None:
    with pytest.raises(ValueError, match="line break"):
        encode(Answer(302, {"Location": "/r/x\r\nSet-Cookie: a=b"}, b""), close=False)

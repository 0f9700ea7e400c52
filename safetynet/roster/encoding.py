"""Which encoding a roster file is in: UTF-8 (with or without BOM) or CP932, found by decoding.

A file is tried whole, in 1 MiB chunks (no second copy of a 200k-row file in memory): UTF-8
first, since a CP932 file of Japanese text is practically never valid UTF-8, then CP932. Files
that are neither, and the usual wrong saves from Excel (UTF-16 "Unicode text", a workbook),
get their own message.
"""

from __future__ import annotations

import codecs
from typing import IO

from safetynet.i18n import t

_CHUNK_BYTES = 1 << 20
_UTF8_BOM = codecs.BOM_UTF8


class EncodingRefused(Exception):
    """The file is not text we can read: a catalog text (`roster.problem.*`) that says what it is and
    how to save it (naming Excel's file types as its Japanese save dialog shows them), and its values."""

    def __init__(self, key: str, /, **values: object) -> None:
        self.key = key
        self.values = values
        super().__init__(t("en", key, **values))


def _first_bad_line(stream: IO[bytes], encoding: str, start: int = 0) -> int | None:
    """The line of the first byte that `encoding` cannot decode, or None if all of it decodes."""
    stream.seek(start)
    decoder = codecs.getincrementaldecoder(encoding)()
    lines_before = 0
    while True:
        chunk = stream.read(_CHUNK_BYTES)
        try:
            decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as e:
            return lines_before + chunk[: max(e.start, 0)].count(b"\n") + 1
        if not chunk:
            return None
        lines_before += chunk.count(b"\n")


def detect_encoding(stream: IO[bytes]) -> str:
    """ "utf-8-sig", "utf-8" or "cp932"; raises `EncodingRefused` with the reason otherwise."""
    stream.seek(0)
    head = stream.read(8)
    if not head:
        raise EncodingRefused("roster.problem.file_empty")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise EncodingRefused("roster.problem.utf16")
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\xd0\xcf\x11\xe0"):
        raise EncodingRefused("roster.problem.workbook")
    if head.startswith(_UTF8_BOM):
        bad = _first_bad_line(stream, "utf-8", start=len(_UTF8_BOM))
        if bad is not None:
            raise EncodingRefused("roster.problem.bom_not_utf8", line=bad)
        return "utf-8-sig"
    bad_utf8 = _first_bad_line(stream, "utf-8")
    if bad_utf8 is None:
        return "utf-8"
    bad_cp932 = _first_bad_line(stream, "cp932")
    if bad_cp932 is None:
        return "cp932"
    raise EncodingRefused("roster.problem.not_utf8_or_cp932", utf8_line=bad_utf8, cp932_line=bad_cp932)

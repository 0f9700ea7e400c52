"""Every CSV file the project writes (roster export, enrolment letters, drill reports and their
household lists) goes through this module: one guard against formula injection, one writer.

A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a formula (`=HYPERLINK(…)`,
`@SUM(…)`, `+cmd|' /C calc'!A0`); Japanese Excel also takes the full-width `＝＋－＠`. Such a cell is
written with a leading apostrophe, which spreadsheets read as "this is text".

Plain numbers are left alone, so they stay readable: a negative number (`-3`, a Telegram group chat
id `-1001234567890`) or a phone number in E.164 (`+819012345678`) is a number to a spreadsheet,
never a formula that can call anything. Phone numbers in the national form (`090-1234-5678`) start
with a digit and need nothing.

`unguard_cell` undoes `guard_cell` exactly, so a file the project writes reads back to the same
values (the roster import uses it): a value that itself starts with apostrophes before a formula
character gets one more on the way out and loses one on the way in.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from typing import IO

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")
# First characters that may need a look: the writer passes every other text cell as it is.
_FIRST = frozenset("".join(FORMULA_START) + "'")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")

Cell = object  # str, int, float, bool or None: what `csv.writer` takes


def _risky(text: str) -> bool:
    return text.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text)


def _guarded(text: str) -> bool:
    """Apostrophes in front of what would be a formula: `guard_cell` put (one of) them there."""
    return text.startswith("'") and _risky(text.lstrip("'"))


def guard_cell(value: Cell) -> str:
    """The cell as written to a CSV file: a formula-like text gets a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if _risky(text) or _guarded(text) else text


def unguard_cell(text: str) -> str:
    """The value `guard_cell` was given (for cells read back from a file the project wrote)."""
    return text[1:] if _guarded(text) else text


class CsvWriter:
    """`csv.writer` with every cell guarded; `lineterminator` is CRLF (Excel) unless told."""

    def __init__(self, f: IO[str], lineterminator: str = "\r\n") -> None:
        self._w = csv.writer(f, lineterminator=lineterminator)

    def writerow(self, cells: Iterable[Cell]) -> None:
        # the test before the call keeps a 200k-row export from paying a call per cell
        self._w.writerow([c if type(c) is str and (not c or c[0] not in _FIRST) else guard_cell(c) for c in cells])

    def writerows(self, rows: Iterable[Iterable[Cell]]) -> None:
        for cells in rows:
            self.writerow(cells)


def csv_text(rows: Iterable[Iterable[Cell]], lineterminator: str = "\r\n") -> str:
    """Rows as CSV text (guarded), for output that is streamed in pieces."""
    out = io.StringIO()
    CsvWriter(out, lineterminator).writerows(rows)
    return out.getvalue()

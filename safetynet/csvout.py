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

Japanese Excel opens a CSV file as UTF-8 only when it starts with a byte order mark; without one it
reads Shift_JIS and shows mojibake. Every file is written UTF-8 with a BOM, or CP932 (Windows'
Shift_JIS, for older tools) when asked. CP932 cannot hold every character (𠮷, many symbols and
emoji): a cell it cannot hold stops the whole file with `Unwritable`, naming the character, and no
file is left behind. Nothing is ever replaced by "?": a name changed on its way to a paper list
is a person nobody can find.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import os
import re
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, cast

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")
# First characters that may need a look: the writer passes every other text cell as it is.
_FIRST = frozenset("".join(FORMULA_START) + "'")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")

Cell = object  # str, int, float, bool or None: what `csv.writer` takes

# The encodings a file may be asked in, by the names people type, to the codec written.
ENCODINGS = {"utf-8": "utf-8-sig", "utf-8-sig": "utf-8-sig", "cp932": "cp932", "shift_jis": "cp932", "sjis": "cp932"}
ENCODING_CHOICES = ("utf-8", "cp932")
BOM = "\ufeff"


class Unwritable(ValueError):
    """A cell the file's encoding cannot hold: the character, and the cell it is in."""

    def __init__(self, char: str, cell: str, encoding: str, row: int | None = None) -> None:
        where = f"row {row}: " if row is not None else ""
        super().__init__(f"{where}{char!r} in {cell!r} cannot be written in {encoding}; use UTF-8 instead")
        self.char, self.cell, self.encoding, self.row = char, cell, encoding, row


def excel_codec(encoding: str) -> str:
    """The codec to write a file asked for in `encoding` (utf-8 means UTF-8 with a BOM)."""
    codec = ENCODINGS.get(encoding.strip().lower())
    if codec is None:
        raise ValueError(f"unknown encoding {encoding!r}: use utf-8 or cp932")
    return codec


def check_encodable(text: str, codec: str, first_row: int | None = None) -> None:
    """Raises `Unwritable` if `codec` cannot hold `text` (for UTF-8 nothing is checked); with
    `first_row`, the file's line that `text` starts on, the error names the line of the cell."""
    if codec.startswith("utf-"):
        return
    try:
        text.encode(codec)
    except UnicodeEncodeError as e:
        start = text.rfind("\n", 0, e.start) + 1
        end = text.find("\n", e.end)
        line = text[start:] if end < 0 else text[start:end]
        cell = next((c for c in next(csv.reader([line]), []) if text[e.start:e.end] in c), line)
        row = None if first_row is None else first_row + text.count("\n", 0, e.start)
        raise Unwritable(text[e.start:e.end], cell, codec.upper(), row) from None


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


class BadOutput(OSError):
    """An output path the command will not write: it names something other than a plain file, or a
    folder that is not there. An `OSError`, so every command's "cannot write PATH: why" shows it."""


def check_output(path: str | os.PathLike[str]) -> Path:
    """`path` as an output every writer here can take: a regular file or nothing yet, in a folder that
    exists and may be written. Called before any work a failed write would waste or strand (issuing
    codes: QA's `--rotate` to a folder committed new codes, then failed to write them anywhere).

    A symbolic link, FIFO or device is refused, not written through: every output is written to a
    side file and renamed over the target, which is what keeps a failed write from leaving half a
    file; renaming over a link or a FIFO replaces it with a plain file, and writing through one sends
    codes and names wherever it points, past the owner-only mode. Naming a plain file is always possible."""
    text = os.fspath(path)
    if not text:
        raise BadOutput(errno.ENOENT, "no file name given", text)
    target = Path(text)
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        raise BadOutput(errno.EISDIR, "it is a folder; name a file in it", text)
    if mode is not None and not stat.S_ISREG(mode):
        raise BadOutput(errno.EEXIST, "it exists and is not a regular file (a symbolic link, FIFO or device); "
                        "name a regular file", text)
    folder = target.parent
    if not folder.is_dir():
        raise BadOutput(errno.ENOENT, f"the folder {folder} does not exist", text)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise BadOutput(errno.EACCES, f"the folder {folder} may not be written", text)
    return target


# Exports hold names, addresses, phones and answers: readable by their owner alone, whatever the
# umask (a shared server's other accounts must not read a roster export).
PRIVATE = 0o600


def private_fd(path: str | os.PathLike[str]) -> int:
    """A file opened for writing, truncated, that only its owner may read (whatever the umask, also
    a file that was there: O_CREAT keeps an existing file's mode)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
    try:
        os.fchmod(fd, PRIVATE)
    except OSError:
        os.close(fd)
        raise
    return fd


def private_text(path: str | os.PathLike[str], encoding: str = "utf-8", errors: str = "strict",
                 newline: str | None = None) -> IO[str]:
    """`private_fd` as a text file."""
    fd = private_fd(path)
    try:
        return open(fd, "w", encoding=encoding, errors=errors, newline=newline)
    except BaseException:
        os.close(fd)
        raise


@contextlib.contextmanager
def open_excel(path: str | os.PathLike[str], encoding: str = "utf-8") -> Iterator[IO[str]]:
    """A new private text file for Excel (`private_text`): UTF-8 with a BOM, or CP932, strict (a write
    holding a character CP932 lacks raises `Unwritable` with its line and cell). `newline=""`: the CSV
    writer's line ends."""
    codec = excel_codec(encoding)
    with private_text(path, codec, newline="") as f:
        yield cast(IO[str], _Checked(f, codec))  # what CsvWriter and the report need of a file: write


class _Checked(io.TextIOBase):
    """Writes through to `f`; a text its codec cannot hold raises `Unwritable` with the cell."""

    def __init__(self, f: IO[str], codec: str) -> None:
        self._f, self._codec, self._line = f, codec, 1

    def write(self, text: str) -> int:
        check_encodable(text, self._codec, self._line)
        self._line += text.count("\n")
        return self._f.write(text)

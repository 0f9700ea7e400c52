"""Roster CSV files: read (UTF-8 with or without BOM, or CP932; English or Japanese headers) and write.

Reading never stops at the first problem: every bad cell is reported as
`row N, column NAME: what is wrong`, with rows numbered as a spreadsheet shows them
(the header is row 1), plus file-level problems (encoding, empty file, missing or
repeated columns). A result with any error carries no records to import. Each problem is a
catalog text (`roster.problem.*`) with its values, shown in the reader's language by `text(lang)`.

No cell may hold a line break or an invisible control character (see `domain.roster.BAD_CHARACTER`),
in any column, known or not. CSV lets a quoted cell run over several lines, so one stray `"`
at the start of a cell swallows the rows below it into that cell; refusing line breaks turns
that into an error at the row and column where the quote opened, instead of missing households.

A cell Excel wrote as `="00123"`, its way to keep a number's leading zeros, is read as `00123` in
any column; only that whole-cell form is taken, anything more is a formula and stays text.

Required columns: district, association, household and name; every row needs a value in
each. The other columns may be left out; an empty cell takes the default (one member,
not vulnerable, Japanese, no phone). The contact columns (phone/携帯電話, landline/固定電話,
telegram/テレグラム…) are the channels' own: each channel's spec declares its column, its
kind of contact and how a cell is read and written.

A file without the consent (同意) column states nobody's consent, and an empty 同意 cell states its
household's no more: the import keeps what the roster records for households it has (a withdrawn
consent stays withdrawn); the record carries the default (`consent_stated` False) for a new one. The
check and the import say so (`consent_column`, and a count of the 要配慮 rows left empty).

A file without one of the other optional household columns (班, 住所, 人数, 要配慮, 言語, 備考) states
nothing of it either (`HouseholdRecord.unstated`): a household already in the roster keeps what it records
(its 要配慮 mark, and so the consent that follows it); a new one takes the default. The check and the
import say so once.

Every row has a cell for each column the header names, empty or not, as spreadsheets write them: a
row with fewer cells is refused (its missing cells, read as empty, would wipe what the city has for
the household), as is one with more non-empty cells. A blank row, of any length, is skipped.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import re
import string
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from safetynet.channels import registry
from safetynet.channels.spec import RosterColumn
from safetynet.csvout import ENCODINGS, CsvWriter, check_output, private_text, unguard_cell
from safetynet.domain.consent import default_consent
from safetynet.domain.phones import PhoneError, format_national
from safetynet.domain.roster import (
    BAD_CHARACTER,
    UNSTATED_FIELDS,
    HouseholdRecord,
    character_name,
    unstated_contact,
)
from safetynet.i18n import t, ui_language
from safetynet.roster.encoding import EncodingRefused, detect_encoding
from safetynet.roster.values import (
    CONSENT_WORDS_JA,
    EASY_JAPANESE,
    ValueProblem,
    fold,
    parse_consent,
    parse_language,
    parse_members,
    parse_vulnerable,
)


@dataclass(frozen=True)
class Column:
    field: str  # HouseholdRecord attribute, or a contact column's key
    en: str
    ja: str
    required: bool = False
    contact: RosterColumn | None = None  # a channel's contact column


_HOUSEHOLD_COLUMNS: tuple[Column, ...] = (
    Column("district", "district", "地区", required=True),
    Column("association", "association", "町会", required=True),
    Column("group", "group", "班"),
    Column("household_key", "household", "世帯番号", required=True),
    Column("name", "name", "世帯主", required=True),
    Column("address", "address", "住所"),
    Column("members", "members", "人数"),
    Column("vulnerable", "vulnerable", "要配慮"),
    Column("language", "language", "言語"),
)
# The channels' contact columns (registry order), then the notes.
COLUMNS: tuple[Column, ...] = (
    *_HOUSEHOLD_COLUMNS,
    *(Column(c.key, c.key, c.ja, contact=c) for c in registry.roster_columns()),
    Column("notes", "notes", "備考"),
    Column("consent", "consent", "同意"),
)
_BY_FIELD = {c.field: c for c in COLUMNS}


def contact_kinds() -> list[str]:
    """The contact kinds of the roster's contact columns, in column order (what an export reads)."""
    return [c.contact.kind for c in COLUMNS if c.contact is not None]
# A few spellings people use besides the two official names of each column.
_EXTRA_ALIASES = {
    "householdkey": "household_key",
    "町内会": "association",
    "自治会": "association",
    "校下": "district",
    "組": "group",
}


def _header_key(text: str) -> str:
    return "".join(fold(text).casefold().split()).replace("_", "").replace("-", "")


_ALIASES: dict[str, str] = {
    **{_header_key(c.en): c.field for c in COLUMNS},
    **{_header_key(c.ja): c.field for c in COLUMNS},
    **{_header_key(alias): c.field for c in COLUMNS if c.contact for alias in c.contact.aliases},
    **_EXTRA_ALIASES,
}


@dataclass(frozen=True)
class RosterIssue:
    """A problem of a roster file (or a warning): the catalog text `key` with its `values`, and where it is.

    `str()` is the English text (logs, tests); `text(lang)` is the text in `lang`, naming the row and column.
    """

    key: str
    values: Mapping[str, object] = field(default_factory=dict)
    row: int | None = None  # spreadsheet row: the header is row 1
    column: str | None = None  # the column's header as written in the file

    def problem(self, lang: str) -> str:
        """What is wrong, without where."""
        return t(lang, self.key, **self.values)

    @property
    def message(self) -> str:
        return self.problem("en")

    def text(self, lang: str) -> str:
        problem = self.problem(lang)
        if self.row is not None and self.column is not None:
            return t(lang, "roster.issue.row_column", row=self.row, column=self.column, problem=problem)
        if self.row is not None:
            return t(lang, "roster.issue.row", row=self.row, problem=problem)
        return problem

    def __str__(self) -> str:
        return self.text("en")


def _issue(key: str, row: int | None = None, column: str | None = None, /, **values: object) -> RosterIssue:
    return RosterIssue(key, values, row, column)


def _bad_character_issue(cell: str, row: int, column: str, key: str = "roster.problem.control_character") -> RosterIssue:
    """The first character of `cell` a roster refuses (domain.roster.BAD_CHARACTER), named, with its position."""
    m = BAD_CHARACTER.search(cell)
    assert m is not None
    return _issue(key, row, column, char=character_name(m.group()), position=m.start() + 1)


@dataclass
class ParseResult:
    records: list[HouseholdRecord] = field(default_factory=list)
    errors: list[RosterIssue] = field(default_factory=list)
    warnings: list[RosterIssue] = field(default_factory=list)
    encoding: str = ""
    # where each association first appears (its row) and the district column's header as written:
    # what a check against the city's roster (a district changed) names
    association_rows: dict[str, int] = field(default_factory=dict)
    district_column: str = ""
    # whether the file has a consent (同意) column: without one it states no household's consent, and the
    # import keeps the consent recorded for households already in the roster (its records carry the
    # default, for new households)
    consent_column: bool = True

    @property
    def ok(self) -> bool:
        return not self.errors


# -- reading -------------------------------------------------------------------


@dataclass
class _Header:
    index: dict[str, int]  # field -> column position
    shown: dict[str, str]  # field -> header text as written
    width: int  # cells in the header row, known or not
    labels: list[str]  # position -> header text as written, or the column's letter where it has none
    named: int  # cells up to the header's last non-empty one: what every row must have

    def label(self, pos: int) -> str:
        return self.labels[pos] if pos < len(self.labels) else column_letter(pos)


def column_letter(pos: int) -> str:
    """A, B, … Z, AA, AB…: how a spreadsheet names the column at `pos` (0-based)."""
    letters = ""
    n = pos + 1
    while n:
        n, r = divmod(n - 1, 26)
        letters = string.ascii_uppercase[r] + letters
    return letters


def _swallowed_rows(cell: str, width: int) -> bool:
    """Whether a cell holding line breaks holds rows of the file (a stray quote swallowed them): one of its
    lines carries a row's worth of delimiters. A line break typed in a cell (Excel's Alt+Enter) holds at most
    a few, as a note's own commas (「耳が遠い, 呼び鈴が…」)."""
    enough = max(3, width // 2)
    return any(line.count(",") >= enough or line.count("\t") >= enough for line in cell.splitlines())


def _bad_cells(row: int, cells: list[str], lines: tuple[int, int], label: Callable[[int], str],
               width: int = 0) -> tuple[list[RosterIssue], bool]:
    """The cells holding a line break or a control character, and whether one held a line break
    (then what follows it in the row is not what the file meant, and only that cell is named)."""
    issues: list[RosterIssue] = []
    for pos, cell in enumerate(cells):
        if BAD_CHARACTER.search(cell) is None:
            continue
        if "\n" in cell or "\r" in cell:
            # a cell that swallowed rows holds their delimiters; one with a few at most is a line break typed
            # in the cell (Excel's Alt+Enter in an address or a note), whose quote closed where it should:
            # told to close a quote that is closed, the clerk had no way on (review; the day's reread: a note
            # with a comma of its own was still told so)
            typed = not _swallowed_rows(cell, width)
            issues.append(_issue("roster.problem.line_break_in_cell" if typed else "roster.problem.line_break",
                                 row, label(pos), first=lines[0], last=lines[1]))
            return issues, True
        issues.append(_bad_character_issue(cell, row, label(pos)))
    return issues, False


def _read_header(cells: list[str], result: ParseResult, lines: tuple[int, int]) -> _Header | None:
    if BAD_CHARACTER.search("".join(cells)) is not None:
        issues, _ = _bad_cells(1, cells, lines, column_letter)
        result.errors.extend(issues)
        return None
    index: dict[str, int] = {}
    shown: dict[str, str] = {}
    for pos, raw in enumerate(cells):
        text = raw.strip().lstrip("\ufeff")
        if not text:
            continue
        fld = _ALIASES.get(_header_key(text))
        if fld is None:
            result.warnings.append(_issue("roster.warning.unknown_column", column=text))
        elif fld in index:
            result.errors.append(_issue("roster.problem.same_column", first=shown[fld], second=text, field=fld))
        else:
            index[fld] = pos
            shown[fld] = text
    missing = [c for c in COLUMNS if c.required and c.field not in index]
    for c in missing:
        result.errors.append(_issue("roster.problem.missing_column", en=c.en, ja=c.ja))
    if missing or result.errors:
        return None
    texts = [raw.strip().lstrip("\ufeff") for raw in cells]
    labels = [text or column_letter(pos) for pos, text in enumerate(texts)]
    named = max(pos for pos, text in enumerate(texts) if text) + 1
    return _Header(index, shown, len(cells), labels, named)


# Excel's way to keep a number's text (leading zeros) in a CSV cell: ="00123", the whole cell.
_EXCEL_TEXT = re.compile(r'="([^"]*)"')


def _excel_text(cell: str) -> str:
    """The text of a cell Excel wrote as ="00123" (a household number, a phone kept as text);
    any other cell as it is (one with more than that one string is a formula, not a number's text)."""
    m = _EXCEL_TEXT.fullmatch(cell)
    return m.group(1) if m else cell


def _text(required: bool, key: bool) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        # keys are compared after NFKC, so "１班" and "1班" are the same group
        text = fold(raw) if key else raw.strip()
        if text.startswith("'"):
            text = unguard_cell(text)
        if required and not text:
            raise ValueProblem("roster.problem.empty_required")
        return text

    return parse


def _contact_cell(column: RosterColumn, shown: dict[str, str]) -> Callable[[str], str]:
    """An optional contact cell: "" when empty, else the channel's parse; its ValueError is the cell's problem."""

    def run(raw: str) -> str:
        text = raw.strip() if raw else raw
        if not text:
            return ""
        if text.startswith("'"):
            text = unguard_cell(text)  # as other cells: the export guarded '-taro@docomo.ne.jp
        try:
            return column.parse(text, shown)
        except ValueProblem:
            raise
        except PhoneError as e:  # the phone columns: a catalog text for each reason (QA: English in a Japanese frame)
            if not e.code:
                raise ValueProblem("roster.problem.contact", problem=str(e)) from None
            raise ValueProblem(f"roster.problem.phone_{e.code}", **e.values) from None
        except ValueError as e:  # another channel's own text, in English
            raise ValueProblem("roster.problem.contact", problem=str(e)) from None

    return run


# Fields whose values repeat across rows: their parsed values are cached by raw cell text,
# which also makes the repeated strings one object (200k rows, a few hundred distinct values).
_CACHED = frozenset(
    {"district", "association", "group", "household_key", "members", "vulnerable", "language", "consent"}
)
_CACHE_LIMIT = 20_000
_MISSING: Any = object()


class _RowReader:
    """Turns rows into records, collecting every problem and checking cross-row rules."""

    def __init__(self, header: _Header, result: ParseResult, default_language: str) -> None:
        self.h = header
        self.result = result
        self.width = header.width
        self.seen_keys: dict[tuple[str, str], int] = {}
        self.unstated_vulnerable = 0  # 要配慮 rows with an empty 同意 cell: 不同意 if new to the roster
        self.district_of: dict[str, tuple[str, int]] = {}
        shown = header.shown
        parsers: dict[str, Callable[[str], Any]] = {
            "members": parse_members,
            "vulnerable": parse_vulnerable,
            "language": lambda t: parse_language(t, default_language),
            "consent": parse_consent,
        }
        # each contact column's parse may name another column as the file writes it
        shown_keys = {c.field: shown.get(c.field, c.en) for c in COLUMNS}
        self.contact_columns = [c for c in COLUMNS if c.contact is not None]
        for c in self.contact_columns:
            assert c.contact is not None
            parsers[c.field] = _contact_cell(c.contact, shown_keys)
        for c in COLUMNS:
            if c.field not in parsers:
                parsers[c.field] = _text(
                    c.required, c.field in ("district", "association", "group", "household_key")
                )
        # the one optional column without a default in HouseholdRecord
        self.absent: dict[str, Any] = {} if "group" in header.index else {"group": ""}
        # a column left out states nothing: a household already in the roster keeps what it records
        unstated = frozenset([*(f for f in UNSTATED_FIELDS if f not in header.index),
                              *(unstated_contact(c.contact.kind) for c in self.contact_columns
                                if c.contact is not None and c.field not in header.index)])
        if unstated:
            self.absent["unstated"] = unstated
        if "language" not in header.index:
            # a new household's language, as an empty cell's: the city's (review: HouseholdRecord's "ja")
            self.absent["language"] = default_language
        self.plan: list[tuple[str, int, dict[str, Any] | None, Callable[[str], Any]]] = [
            (fld, pos, {} if fld in _CACHED else None, parsers[fld]) for fld, pos in header.index.items()
        ]

    def read(self, row: int, cells: list[str], lines: tuple[int, int]) -> None:
        """Checks row `row` (on `lines` of the file, first and last) and keeps its record if it is good."""
        bad: set[int] = set()
        if BAD_CHARACTER.search("".join(cells)) is not None:
            issues, broken = _bad_cells(row, cells, lines, self.h.label, self.h.named)
            self.result.errors.extend(issues)
            if broken:
                return
            bad = {pos for pos, cell in enumerate(cells) if BAD_CHARACTER.search(cell)}
        if not any(c.strip() for c in cells):
            return  # a blank row (an empty line, a spreadsheet's row of empty cells, one left at the end): skipped
        given = len(cells)
        if given < self.h.named:
            # A row cut short (a lost delimiter, a row split by a stray line break, a hand-typed row): refused, said
            # once for the row. Read as empty, its missing cells would wipe a household's address, members,
            # 要配慮 and phones on update (QA). Excel, LibreOffice and Google Sheets write every delimiter.
            self._error(row, None, "roster.problem.too_few_cells", cells=given, width=self.h.named,
                        column=self.h.label(given))
            return
        if given < self.width:
            # only the cells under the header's own trailing empty cells are missing: no column is lost
            cells = cells + [""] * (self.width - given)
        elif given > self.width and any(c.strip() for c in cells[self.width :]):
            self._error(row, None, "roster.problem.too_many_cells", cells=given, width=self.width)
            return
        values: dict[str, Any] = dict(self.absent)
        ok = not bad
        for fld, pos, cache, parse in self.plan:
            if pos in bad:
                continue
            text = cells[pos]
            if text.startswith('="'):
                text = _excel_text(text)
            value = _MISSING if cache is None else cache.get(text, _MISSING)
            if value is _MISSING:
                try:
                    value = parse(text)
                except ValueProblem as e:
                    self._error(row, fld, e.key, **e.values)
                    ok = False
                    continue
                if cache is not None and len(cache) < _CACHE_LIMIT:
                    cache[text] = value
            values[fld] = value
        if "association" in values and "district" in values and "household_key" in values:
            ok = self._cross_row(row, values) and ok
        if ok:
            if not values.get("consent"):
                # an empty cell states nothing, as a missing column: the default is for a household new to
                # the roster (QA, privacy: a clerk's blank undid a recorded withdrawal)
                vulnerable = bool(values.get("vulnerable"))
                values["consent"] = str(default_consent(vulnerable))
                values["consent_stated"] = False
                # counted for an empty cell; a file without the column is said once (no_consent_column_stated)
                self.unstated_vulnerable += vulnerable and "consent" in self.h.index
            contacts = []
            for c in self.contact_columns:
                address = values.pop(c.field, "")
                if address and c.contact is not None:
                    contacts.append((c.contact.kind, address))
            self.result.records.append(HouseholdRecord(**values, contacts=tuple(contacts)))

    def _cross_row(self, row: int, values: dict[str, Any]) -> bool:
        assoc, district = values["association"], values["district"]
        first = self.district_of.setdefault(assoc, (district, row))
        ok = True
        if first[0] != district:
            self._error(row, "district", "roster.problem.other_district", association=assoc, district=first[0],
                        other=first[1])
            ok = False
        key = (assoc, values["household_key"])
        other = self.seen_keys.setdefault(key, row)
        if other != row:
            self._error(row, "household_key", "roster.problem.duplicate_household", household=key[1],
                        association=assoc, other=other)
            ok = False
        return ok

    def _error(self, row: int, fld: str | None, key: str, /, **values: object) -> None:
        self.result.errors.append(RosterIssue(key, values, row, self.h.shown[fld] if fld else None))


def _delimiter(first_line: str) -> str:
    # Excel's "text (tab delimited)" export is accepted too
    return "\t" if "\t" in first_line and "," not in first_line else ","


def parse_stream(stream: IO[bytes], default_language: str = "ja") -> ParseResult:
    result = ParseResult()
    try:
        result.encoding = detect_encoding(stream)
    except EncodingRefused as e:
        result.errors.append(RosterIssue(e.key, e.values))
        return result
    stream.seek(0)
    text = io.TextIOWrapper(stream, encoding=result.encoding, newline="")
    try:
        _parse_text(text, result, default_language)
    finally:
        text.detach()  # the caller owns `stream`
    if result.errors:
        result.records = []
    return result


def _parse_text(text: IO[str], result: ParseResult, default_language: str) -> None:
    first = text.readline()
    if not first.strip():
        rest_blank = all(not line.strip() for line in text)
        result.errors.append(_issue("roster.problem.file_empty" if rest_blank else "roster.problem.row1_empty"))
        return
    delimiter = _delimiter(first)
    raw: list[str] = []  # the file's lines of the row being read (csv.reader pulls one line at a time)

    def lines() -> Iterator[str]:
        for line in itertools.chain([first], text):
            raw.append(line)
            yield line

    reader = csv.reader(lines(), delimiter=delimiter)
    row = 1
    try:
        header_cells = next(reader)
        header = _read_header(header_cells, result, (1, reader.line_num))
        if header is None:
            _header_further_down(reader, result)
            return
        rows = _RowReader(header, result, default_language)
        last_line = reader.line_num
        raw.clear()
        for row, cells in enumerate(reader, start=2):
            # a cell over several lines is named by the line-break check, which says where its quote opened
            if ('"' in (record := "".join(raw)) and len(raw) == 1
                    and (pos := broken_quote(record, delimiter)) is not None):
                result.errors.append(_issue("roster.problem.broken_quotes", row, header.label(pos)))
            else:
                rows.read(row, cells, (last_line + 1, reader.line_num))
            raw.clear()
            last_line = reader.line_num
    except csv.Error as e:
        result.errors.append(_issue("roster.problem.not_csv", row + 1, None, error=e))
        return
    result.association_rows = {assoc: first for assoc, (_, first) in rows.district_of.items()}
    result.district_column = header.shown["district"]
    result.consent_column = "consent" in header.index
    if not result.consent_column and not result.errors:
        result.warnings.append(_issue("roster.warning.no_consent_column_stated"))
    if not result.errors:
        result.warnings.extend(_absent_columns(header.index))
    if rows.unstated_vulnerable and not result.errors:
        result.warnings.append(_consent_warning(rows.unstated_vulnerable))
    if not result.errors:
        result.warnings.extend(_untranslated(result.records))
        result.warnings.extend(_shared_mobiles(result.records))
    if not result.records and not result.errors:
        result.errors.append(_issue("roster.problem.no_households"))


def broken_quote(record: str, delimiter: str) -> int | None:
    """The position of the first cell of `record` (a row's text as in the file) whose quotes are
    broken: a quoted cell with more after its closing quote (`"山田 "太郎`, `"a""b"x`). Python's csv
    reader keeps such a cell, quietly joined (`山田 太郎`, `a"bx`): a name that is not what the file
    says. A quote inside an unquoted cell (`山田"太郎`) is plain text, as in Excel, and spaces after
    a closing quote are what the reader strips anyway."""
    cell, i = 0, 0
    while True:
        if record.startswith('"', i):
            i += 1
            while True:
                j = record.find('"', i)
                if j < 0:
                    return None  # a quote left open: the line-break check names it
                if not record.startswith('""', j):
                    break
                i = j + 2
            i = j + 1
            while record.startswith(" ", i):
                i += 1
            if i >= len(record) or record[i] in "\r\n":
                return None
            if record[i] != delimiter:
                return cell
        else:  # an unquoted cell ends at the next delimiter (a line break ends the row)
            i = record.find(delimiter, i)
            if i < 0:
                return None
        i, cell = i + 1, cell + 1


# How far below row 1 the header is looked for when row 1 is not it (an Excel sheet's title rows).
_HEADER_SEARCH_ROWS = 5


def _header_further_down(reader: Iterator[list[str]], result: ParseResult) -> None:
    """Row 1 lacks required columns but a row just below has them all (an Excel sheet with a title
    above its table: QA got four 「必須の列がありません」 and no hint): that row is named instead."""
    if any(e.key != "roster.problem.missing_column" for e in result.errors):
        return
    for row, cells in enumerate(itertools.islice(reader, _HEADER_SEARCH_ROWS), start=2):
        found = {_ALIASES.get(_header_key(c.strip().lstrip("\ufeff"))) for c in cells}
        if all(c.field in found for c in COLUMNS if c.required):
            result.errors[:] = [_issue("roster.problem.header_below", row, None)]
            result.warnings.clear()  # row 1's cells, read as column names, were no columns
            return


# Shared mobiles named one by one up to this many; the rest are counted.
_SHARED_SHOWN = 20


def _shared_mobiles(records: Sequence[HouseholdRecord]) -> list[RosterIssue]:
    """A mobile number on several households: a family's phone (then fine: "safe" by SMS asks which
    household) or a copy-and-paste slip (QA: no word of it). Said, not refused."""
    by_phone: dict[str, list[HouseholdRecord]] = {}
    for r in records:
        phone = r.contact("mobile")
        if phone:
            by_phone.setdefault(phone, []).append(r)
    shared = [(phone, rs) for phone, rs in by_phone.items() if len(rs) > 1]
    out = [_issue("roster.warning.shared_mobile", phone=format_national(phone), count=len(rs),
                  households=", ".join(f"{r.association} {r.household_key}" for r in rs[:5]))
           for phone, rs in shared[:_SHARED_SHOWN]]
    if len(shared) > _SHARED_SHOWN:
        out.append(_issue("roster.warning.shared_mobile_more", count=len(shared) - _SHARED_SHOWN))
    return out


def _untranslated(records: Sequence[HouseholdRecord]) -> list[RosterIssue]:
    """A household language with no page texts of its own (a valid code such as "th"): such households
    read やさしい日本語, which the person importing should know, not find out on the night."""
    missing = Counter(r.language for r in records if ui_language(r.language) == EASY_JAPANESE
                      and r.language != EASY_JAPANESE)
    return [_issue("roster.warning.untranslated", language=code, count=n) for code, n in sorted(missing.items())]


def _absent_columns(index: Mapping[str, int]) -> list[RosterIssue]:
    """The optional household columns the file lacks, said once: households already in the roster keep
    what is recorded for them (the 要配慮 mark on its own: a new household is then not vulnerable)."""
    out = []
    if "vulnerable" not in index:
        out.append(_issue("roster.warning.no_vulnerable_column"))
    others = [c for c in COLUMNS if c.field in UNSTATED_FIELDS and c.field != "vulnerable" and c.field not in index]
    if others:
        # the names of both header languages: the file's may be either
        out.append(_issue("roster.warning.absent_columns", columns=", ".join(f"{c.ja} ({c.en})" for c in others)))
    return out


def _consent_warning(n: int) -> RosterIssue:
    return _issue("roster.warning.consent_empty_one" if n == 1 else "roster.warning.consent_empty", count=n)


def parse_bytes(data: bytes, default_language: str = "ja") -> ParseResult:
    return parse_stream(io.BytesIO(data), default_language)


def read_roster(path: str | os.PathLike[str], default_language: str = "ja") -> ParseResult:
    """Reads and checks a roster file; raises OSError only if the file cannot be opened."""
    with open(path, "rb") as f:
        return parse_stream(f, default_language)


# -- writing -------------------------------------------------------------------


class RosterWriteError(Exception):
    def __init__(self, issues: list[RosterIssue]) -> None:
        super().__init__(f"{len(issues)} cells cannot be written")
        self.issues = issues


def header_row(language: str = "ja") -> list[str]:
    return [c.ja if language == "ja" else c.en for c in COLUMNS]


def record_cells(r: HouseholdRecord, language: str = "ja") -> list[str]:
    """The cells of one record in file form (before the writer's formula guard); reading them
    back gives the same record."""
    yes, no = ("○", "") if language == "ja" else ("yes", "no")
    consent = CONSENT_WORDS_JA.get(r.consent, r.consent) if language == "ja" else r.consent
    if not r.consent_stated:
        consent = ""  # stated by nobody: an empty cell, which reads back the same
    contacts = [c.contact.format(a) if c.contact and (a := r.contact(c.contact.kind)) else ""
                for c in COLUMNS if c.contact is not None]
    return [
        r.district,
        r.association,
        r.group,
        r.household_key,
        r.name,
        r.address,
        str(r.members),
        yes if r.vulnerable else no,
        r.language,
        *contacts,
        r.notes,
        consent,
    ]


def _unwritable(cells: list[str], encoding: str, row: int, shown: list[str]) -> list[RosterIssue]:
    """Cells the file could not hold: a character the encoding lacks, or writes as another (CP932 has
    U+2212 「−」 and U+301C 「〜」 only as 「－」 and 「～」, which the import then folds to "-" and "~": an
    association 緑町1−2町会 read back as a new one, its households twice), or one the import refuses
    (a roster stored before the import refused them): the file would not read back as it was."""
    issues = []
    for cell, col in zip(cells, shown, strict=True):
        if BAD_CHARACTER.search(cell) is not None:
            issues.append(_bad_character_issue(cell, row, col, "roster.problem.control_character_stored"))
            continue
        if encoding == "utf-8-sig":
            continue
        try:
            same = cell.encode(encoding).decode(encoding) == cell
        except UnicodeEncodeError as e:
            ch = cell[e.start : e.end]
            issues.append(_issue("roster.problem.cannot_encode", row, col, char=ch, encoding=encoding))
            continue
        if not same:
            ch = next(c for c in cell if c.encode(encoding).decode(encoding) != c)
            issues.append(_issue("roster.problem.cannot_encode", row, col, char=ch, encoding=encoding))
    return issues


def write_roster(
    path: str | os.PathLike[str],
    records: Iterable[HouseholdRecord],
    encoding: str = "utf-8",
    headers: str = "ja",
    before_publish: Callable[[int], None] | None = None,
) -> int:
    """Writes a roster file (UTF-8 with a BOM so Excel opens it, or CP932); returns the rows written.
    `before_publish(rows)` runs once the file is complete, before it takes its name (the export's
    audit entry: if it raises, no file).

    The file appears only when complete; if a cell cannot be encoded, or holds a character the
    import refuses, nothing is written and `RosterWriteError` lists every such cell.
    """
    codec = ENCODINGS.get(encoding.lower())
    if codec is None:
        raise ValueError(f"unknown encoding {encoding!r}: use utf-8 or cp932")
    target = check_output(path)
    tmp = target.with_name(f".{target.name}.partial")
    issues: list[RosterIssue] = []
    written = 0
    try:
        with private_text(tmp, codec, errors="replace", newline="") as f:
            w = CsvWriter(f)
            shown = header_row(headers)
            w.writerow(shown)
            for row, record in enumerate(records, start=2):
                cells = record_cells(record, headers)
                if codec != "utf-8-sig" or BAD_CHARACTER.search("".join(cells)) is not None:
                    issues.extend(_unwritable(cells, codec, row, shown))
                w.writerow(cells)
                written += 1
        if issues:
            raise RosterWriteError(issues)
        check_output(target)  # still a plain file (or none): the rename replaces what is there now
        if before_publish is not None:
            before_publish(written)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return written

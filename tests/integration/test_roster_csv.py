"""Reading and writing roster files: headers, encodings, every error with its row and column."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from roster_helpers import EN, JA, csv_bytes, household, row

from safetynet.channels import registry
from safetynet.domain.roster import UNSTATED_FIELDS, HouseholdRecord, unstated_contact
from safetynet.roster.csvio import COLUMNS, RosterWriteError, parse_bytes, read_roster, write_roster
from safetynet.roster.generate import generate_roster

EXPECTED = household(
    district="北地区",
    association="東町会",
    group="1班",
    household_key="1",
    name="佐藤 一郎",
    address="さくら市東町1-2-3",
    members=2,
    vulnerable=False,
    language="ja",
    phone="+819012345678",
    consent_stated=False,  # the row's 同意 cell is empty
)


def errors_of(data: bytes) -> list[str]:
    result = parse_bytes(data)
    assert result.records == [], "a file with errors gives no records"
    return [str(e) for e in result.errors]


# -- headers ---------------------------------------------------------------------


def _decorated(name: str) -> list[str]:
    """The spellings a spreadsheet user might produce for one header name."""
    full_width = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in name)
    return [name, f"  {name} ", name.upper(), name.title(), full_width, f"\u3000{name}\u3000"]


# the columns of the EN header (optional channel columns, like line, are checked on their own)
ALIASES = [(c.field, EN.index(c.field), spelled) for c in COLUMNS if c.field in EN for n in (c.en, c.ja)
           for spelled in _decorated(n)]


@pytest.mark.parametrize(("field", "index", "spelled"), ALIASES)
def test_every_header_alias_is_recognised(field: str, index: int, spelled: str) -> None:
    header = list(EN)
    header[index] = spelled
    cells = row(group="2班", household="7", name="鈴木 花子", address="西町1", members="3", vulnerable="1",
                language="en", phone="080-1111-2222", landline="03-1234-5678", telegram="12345",
                notes="メモ")  # fmt: skip
    result = parse_bytes(csv_bytes(header, [cells]))
    assert result.ok, result.errors
    expected = {
        "district": "北地区", "association": "東町会", "group": "2班", "household_key": "7",
        "name": "鈴木 花子", "address": "西町1", "members": 3, "vulnerable": True, "language": "en",
        "phone": "+818011112222", "landline": "+81312345678", "telegram": "12345", "notes": "メモ",
        "consent": "no",  # vulnerable, consent left empty
    }  # fmt: skip
    kinds = {"phone": "mobile", "landline": "landline", "telegram": "telegram"}
    # the channels' other contact columns, left empty: no contact of their kind
    kinds.update({c.key: c.kind for c in registry.roster_columns() if c.key not in kinds})
    expected.update({c.key: "" for c in registry.roster_columns() if c.key not in expected})
    got = result.records[0]
    assert (got.contact(kinds[field]) if field in kinds else getattr(got, field)) == expected[field]


def test_english_and_japanese_headers_read_the_same() -> None:
    rows = [row(), row(household="2", phone="", landline="(03) 1234-5678")]
    en = parse_bytes(csv_bytes(EN, rows))
    ja = parse_bytes(csv_bytes(JA, rows))
    assert en.ok and ja.ok
    assert en.records == ja.records
    assert en.records[0] == EXPECTED


def test_columns_may_come_in_any_order_and_optional_ones_may_be_missing() -> None:
    header = ["世帯主", "household", "町会", "district"]
    result = parse_bytes(csv_bytes(header, [["佐藤 一郎", "1", "東町会", "北地区"]]))
    assert result.ok
    assert result.records == [
        HouseholdRecord(district="北地区", association="東町会", group="", household_key="1", name="佐藤 一郎",
                        consent_stated=False,  # no 同意 column: it states no consent
                        # nor anything of the others, contacts included
                        unstated=frozenset([*UNSTATED_FIELDS,
                                            *(unstated_contact(c.contact.kind) for c in COLUMNS if c.contact)]))
    ]
    assert [w.key for w in result.warnings] == ["roster.warning.no_consent_column_stated",
                                                "roster.warning.no_vulnerable_column", "roster.warning.absent_columns"]


def test_unknown_column_is_a_warning_not_an_error() -> None:
    result = parse_bytes(csv_bytes([*EN, "生年月日"], [[*row(), "1950-01-01"]]))
    assert result.ok
    assert [str(w) for w in result.warnings] == ["column '生年月日' is not a roster column and was ignored"]


def test_missing_required_columns_are_each_named() -> None:
    header = [h for h in EN if h not in ("district", "name")]
    cells = [c for h, c in zip(EN, row(), strict=True) if h not in ("district", "name")]
    assert errors_of(csv_bytes(header, [cells])) == [
        "missing required column district (地区)",
        "missing required column name (世帯主)",
    ]


def test_the_same_column_twice_is_an_error() -> None:
    assert errors_of(csv_bytes([*EN, "携帯電話"], [[*row(), "090-1111-2222"]])) == [
        "columns 'phone' and '携帯電話' are the same column (phone)"
    ]


# -- encodings -------------------------------------------------------------------

# 髙 and ① exist in CP932 (Excel's "Shift_JIS") but not in JIS X 0208 Shift_JIS.
CP932_ROW = row(name="髙橋 ①郎", address="さくら市東町１－２")


@pytest.mark.parametrize(
    ("encoding", "bom", "detected"),
    [("utf-8", False, "utf-8"), ("utf-8", True, "utf-8-sig"), ("cp932", False, "cp932")],
)
def test_utf8_with_and_without_bom_and_cp932_are_detected(encoding: str, bom: bool, detected: str) -> None:
    result = parse_bytes(csv_bytes(JA, [CP932_ROW], encoding=encoding, bom=bom))
    assert result.ok, result.errors
    assert result.encoding == detected
    assert result.records[0].name == "髙橋 ①郎"
    assert result.records[0].address == "さくら市東町１－２"  # free text is kept as written


def test_cp932_file_from_disk(tmp_path: Path) -> None:
    path = tmp_path / "sjis.csv"
    path.write_bytes(csv_bytes(JA, [CP932_ROW, row(household="2")], encoding="cp932"))
    result = read_roster(path)
    assert result.ok and result.encoding == "cp932" and len(result.records) == 2


def test_a_file_that_is_neither_utf8_nor_cp932_gets_its_own_message() -> None:
    data = csv_bytes(EN, [row()]) + b"\xff\xfe\xfd,\x80\x80\r\n"  # not UTF-8, and 0xFD-0xFF never start CP932
    assert errors_of(data) == [
        "the file is neither UTF-8 (line 3 is not) nor Shift_JIS/CP932 (line 2 is not): "
        "save it from Excel as 「CSV UTF-8 (コンマ区切り)」 or 「CSV (コンマ区切り)」"
    ]


def test_a_utf8_bom_with_bad_bytes_after_it() -> None:
    data = csv_bytes(EN, [row()], bom=True) + "佐藤".encode("cp932") + b"\r\n"
    (message,) = errors_of(data)
    assert message.startswith("the file starts with a UTF-8 mark but line 3 is not UTF-8")


def test_utf16_and_excel_workbooks_are_named() -> None:
    utf16 = codecs.BOM_UTF16_LE + "\t".join(EN).encode("utf-16-le")
    assert errors_of(utf16)[0].startswith("the file is UTF-16")
    assert errors_of(b"PK\x03\x04\x14\x00\x06\x00")[0].startswith("the file is an Excel workbook")


@pytest.mark.parametrize("data", [b"", b"\r\n\r\n  \r\n", codecs.BOM_UTF8, codecs.BOM_UTF8 + b"\r\n"])
def test_empty_file(data: bytes) -> None:
    assert errors_of(data) == ["the file is empty"]


def test_header_without_households() -> None:
    assert errors_of(csv_bytes(EN, [])) == ["the file has a header but no households"]
    assert errors_of(csv_bytes(EN, [[""] * 13, [""] * 13])) == ["the file has a header but no households"]


def test_header_not_on_row_one() -> None:
    assert errors_of(b"\r\n" + csv_bytes(EN, [row()])) == ["row 1 is empty: the column names must be on row 1"]


def test_tab_separated_file_is_read_too() -> None:
    result = parse_bytes(csv_bytes(JA, [row()], delimiter="\t"))
    assert result.ok and result.records == [EXPECTED]


# -- cells -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [("", False), ("1", True), ("0", False), ("yes", True), ("No", False), ("TRUE", True), ("false", False),
     ("はい", True), ("いいえ", False), ("○", True), ("◯", True), ("×", False), ("有", True), ("無", False),
     ("１", True), (" Yes ", True), ("あり", True), ("なし", False)],
)  # fmt: skip
def test_vulnerable_accepts_the_usual_yes_and_no(text: str, value: bool) -> None:
    result = parse_bytes(csv_bytes(EN, [row(vulnerable=text)]))
    assert result.ok and result.records[0].vulnerable is value


@pytest.mark.parametrize(
    ("text", "code"),
    [("", "ja"), ("ja", "ja"), ("JA", "ja"), ("日本語", "ja"), ("en", "en"), ("English", "en"),
     ("ja-easy", "ja-easy"), ("やさしい日本語", "ja-easy"), ("zh", "zh"), ("中国語", "zh"), ("ko", "ko"),
     ("韓国語", "ko"), ("vi", "vi"), ("ベトナム語", "vi"), ("pt", "pt"), ("ポルトガル語", "pt"),
     ("pt-br", "pt-BR"), ("pt_BR", "pt-BR"), ("zh-hant-tw", "zh-Hant-TW"), ("tl", "tl"), ("ｅｎ", "en"),
     ("es-419", "es-419")],
)  # fmt: skip
def test_language_codes(text: str, code: str) -> None:
    result = parse_bytes(csv_bytes(EN, [row(language=text)]))
    assert result.ok, result.errors
    assert result.records[0].language == code


@pytest.mark.parametrize(("text", "members"), [("", 1), ("1", 1), ("３", 3), ("4人", 4), (" 12 ", 12), ("999", 999)])
def test_members(text: str, members: int) -> None:
    result = parse_bytes(csv_bytes(EN, [row(members=text)]))
    assert result.ok and result.records[0].members == members


@pytest.mark.parametrize(("text", "chat"), [("12345", "12345"), ("4503599627370495", "4503599627370495"),
                                             ("１２３", "123")])
def test_telegram_chat_ids(text: str, chat: str) -> None:
    result = parse_bytes(csv_bytes(EN, [row(telegram=text)]))
    assert result.ok and result.records[0].contact("telegram") == chat


def test_keys_are_compared_after_width_folding() -> None:
    result = parse_bytes(csv_bytes(EN, [row(group="１班", household="００１")]))
    assert result.records[0].group == "1班" and result.records[0].household_key == "001"
    dup = errors_of(csv_bytes(EN, [row(household="００１"), row(household="001")]))
    assert dup == ["row 3, column household: household 001 of association 東町会 is also on row 2"]


# -- errors ----------------------------------------------------------------------

ROW_ERRORS = [
    # (cells, the error for row 2)
    ({"district": ""}, "row 2, column district: is empty, but every household needs it"),
    ({"association": " "}, "row 2, column association: is empty, but every household needs it"),
    ({"household": ""}, "row 2, column household: is empty, but every household needs it"),
    ({"name": ""}, "row 2, column name: is empty, but every household needs it"),
    ({"members": "two"}, "row 2, column members: 'two' is not a whole number of people"),
    ({"members": "0"}, "row 2, column members: 0 is out of range: a household has 1 to 999 members"),
    ({"members": "1000"}, "row 2, column members: 1000 is out of range: a household has 1 to 999 members"),
    ({"members": "2.5"}, "row 2, column members: '2.5' is not a whole number of people"),
    ({"vulnerable": "maybe"}, "row 2, column vulnerable: 'maybe' is not yes or no "
     "(use 1/0, yes/no, はい/いいえ, ○/×, 有/無 or leave empty)"),
    ({"language": "english!"}, "row 2, column language: 'english!' is not a language code "
     "(use ja, ja-easy for やさしい日本語, en, zh, ko, vi, pt or another BCP 47 tag such as pt-BR)"),
    ({"language": "japan"}, "row 2, column language: 'japan' is not a language code"),
    ({"phone": "090-1234-567"}, "row 2, column phone: '090-1234-567' is too short: "
     "11 digits expected, this one has 10"),
    ({"phone": "9011112222"}, "row 2, column phone: '9011112222' must start with 0 or +81 (if Excel dropped"),
    ({"phone": "03-1234-5678"}, "row 2, column phone: '03-1234-5678' is a landline number, "
     "which cannot receive SMS: put it in column landline"),
    ({"phone": "050-1234-5678"}, "row 2, column phone: '050-1234-5678' is an 050 IP-phone number, "
     "which cannot receive SMS: put it in column landline"),
    ({"phone": "0120-123-456"}, "row 2, column phone: '0120-123-456' is a service number, not a household phone"),
    ({"phone": "080-0123-4567"}, "row 2, column phone: '080-0123-4567' is a service number"),  # digits of 0800
    ({"phone": "+1 415 555 0100"}, "row 2, column phone: '+1 415 555 0100' is not a Japanese number"),
    ({"landline": "090-1111-2222"}, "row 2, column landline: '090-1111-2222' is a mobile number: "
     "put it in column phone"),
    ({"landline": "03-123"}, "row 2, column landline: '03-123' is too short"),
    ({"landline": "020-1234-5678"}, "row 2, column landline: '020-1234-5678' is an 020 pager/M2M number, "
     "not a household phone"),
    ({"telegram": "@sato"}, "row 2, column telegram: '@sato' is not a numeric Telegram chat id "
     "(a @username cannot be used: the bot needs the numeric chat id)"),
    ({"telegram": "5.6E+09"}, "row 2, column telegram: '5.6E+09' is not a numeric Telegram chat id "
     "(Excel turned it into scientific notation: format the column as text)"),
    ({"telegram": "0123"}, "row 2, column telegram: '0123' is not a numeric Telegram chat id"),
    # a group's or channel's chat is no household's contact: a person's private chat only (QA)
    ({"telegram": "-1001234567890"}, "row 2, column telegram: -1001234567890 is a group or channel chat: "
     "the Telegram contact must be a person's private chat"),
    ({"telegram": "-5"}, "row 2, column telegram: -5 is a group or channel chat"),
    ({"telegram": "4503599627370496"}, "row 2, column telegram: 4503599627370496 is not a Telegram private chat id "
     "(those are below 4503599627370496)"),
]  # fmt: skip


@pytest.mark.parametrize(("cells", "message"), ROW_ERRORS)
def test_each_error_names_its_row_and_column(cells: dict[str, str], message: str) -> None:
    (error,) = errors_of(csv_bytes(EN, [row(**cells)]))
    assert error.startswith(message)


def test_a_phone_cells_problem_reads_in_japanese_under_japanese() -> None:
    """QA: 「7行目・列「携帯電話」: '03-1234-5678' is a landline number…」 (English in a Japanese frame)."""
    from safetynet.roster.csvio import parse_bytes

    result = parse_bytes(csv_bytes(JA, [row(phone="03-1234-5678"), row(household="2", phone="9011110001")]))
    texts = [e.text("ja") for e in result.errors]
    assert texts[0] == ("2行目・列「携帯電話」: 「03-1234-5678」は固定電話の番号で、SMS を受け取れません。"
                        "列「固定電話」に入れてください")
    assert texts[1].startswith("3行目・列「携帯電話」: 「9011110001」は 0 か +81 で始まる番号にしてください")
    assert "Excel で先頭の 0 が消えたとき" in texts[1] and "must" not in texts[1]


def test_column_is_named_as_the_file_names_it() -> None:
    (error,) = errors_of(csv_bytes(JA, [row(phone="03-1234-5678")]))
    assert error == (
        "row 2, column 携帯電話: '03-1234-5678' is a landline number, which cannot receive SMS: put it in column 固定電話"
    )


def test_too_many_cells() -> None:
    n = len(EN)
    assert errors_of(csv_bytes(EN, [[*row(), "extra"]])) == [f"row 2: has {n + 1} cells but the header has {n} columns"]


def test_a_row_cut_short_says_so_once() -> None:
    n = len(EN)
    full = row()
    assert errors_of(csv_bytes(EN, [full[:4]])) == [
        f"row 2: has only 4 cells but the header has {n} columns (no {EN[4]} and after)"]


def test_a_row_without_its_empty_cells_at_the_end_is_refused_as_a_longer_one_is() -> None:
    """QA: a row of 5 cells under a 16-column header was imported, its missing cells read as empty: on update
    the household lost its address, members, 要配慮, consent, notes and mobile. Spreadsheets write every
    delimiter; a row that does not is not what the file meant, and the whole file is refused."""
    n = len(EN)
    full = row(household="2")
    last_filled = max(i for i, v in enumerate(full) if v) + 1
    assert last_filled < n - 1  # the row's last cells are empty
    data = csv_bytes(EN, [row(household="1"), full[:last_filled], row(household="3")[: n - 1]])
    result = parse_bytes(data)
    assert [str(e) for e in result.errors] == [
        f"row 3: has only {last_filled} cells but the header has {n} columns (no {EN[last_filled]} and after)",
        f"row 4: has only {n - 1} cells but the header has {n} columns (no {EN[n - 1]} and after)"]
    assert result.records == []
    assert result.errors[0].text("ja") == (
        f"3行目: セルが {last_filled} 個しかありませんが、見出しは {n} 列です（{EN[last_filled]} から先がありません）")


def test_blank_rows_of_any_length_are_skipped_and_a_header_s_own_empty_cells_need_none() -> None:
    """An empty line (the one a file often ends with, or between rows) and a spreadsheet's row of empty cells
    hold no household: skipped, as before. A header that ends in empty cells names no column there, so a row
    may stop at the header's last named column."""
    lines = [",".join(EN), ",".join(row(household="1")), "", ",,,", "," * (len(EN) - 1), " ",
             ",".join(row(household="2")), "", ""]
    result = parse_bytes("\r\n".join(lines).encode())
    assert result.errors == [] and [r.household_key for r in result.records] == ["1", "2"]
    result = parse_bytes(csv_bytes([*EN, "", ""], [row(household="1"), [*row(household="2"), ""]]))
    assert result.errors == [] and [r.household_key for r in result.records] == ["1", "2"]
    assert errors_of(csv_bytes([*EN, "メモ", ""], [row(household="1")])) == [
        f"row 2: has only {len(EN)} cells but the header has {len(EN) + 1} columns (no メモ and after)"]


def test_duplicated_household_names_both_rows() -> None:
    rows = [row(household="1"), row(household="2"), row(household="1", name="別人")]
    assert errors_of(csv_bytes(EN, rows)) == [
        "row 4, column household: household 1 of association 東町会 is also on row 2"
    ]


def test_an_association_in_two_districts() -> None:
    rows = [row(household="1"), row(household="2", district="南地区")]
    assert errors_of(csv_bytes(EN, rows)) == [
        "row 3, column district: association 東町会 is in district 北地区 on row 2"
    ]


def test_every_error_is_listed_in_row_order_not_just_the_first() -> None:
    rows = [
        row(household="1"),
        row(household="2", phone="090", members="x"),  # row 3: two errors in one row
        row(household="3"),
        [""] * 13,  # row 5: blank, skipped but still counted
        row(household="4", name="", vulnerable="?"),  # row 6
        row(household="2"),  # row 7: duplicate of row 3 (which has other errors)
        row(household="5", telegram="abc"),  # row 8
    ]
    errors = errors_of(csv_bytes(EN, rows))
    assert [e.split(":")[0] for e in errors] == [
        "row 3, column members",
        "row 3, column phone",
        "row 6, column name",
        "row 6, column vulnerable",
        "row 7, column household",
        "row 8, column telegram",
    ]


# -- line breaks and stray quotes -------------------------------------------------

SIX = [row(household=str(i), notes="要介護" if i == 3 else "") for i in range(1, 7)]  # rows 2 to 7


def _stray_quote(data: bytes, cell: bytes) -> bytes:
    """`data` with an unclosed quote put in front of the first `cell` (as a typing slip does)."""
    assert data.count(cell) == 1
    return data.replace(cell, b'"' + cell)


def test_a_stray_quote_in_the_last_column_is_refused_where_it_opened_not_read_as_fewer_rows() -> None:
    data = _stray_quote(csv_bytes(JA, SIX), "要介護".encode())
    # Read as CSV allows, the quote would take rows 5 to 7 into row 4's 備考 and leave 3 households.
    assert errors_of(data) == [
        'row 4, column 備考: its quote (") opens on line 4 of the file and is not closed on that line, so lines 4 '
        "to 7 became this one cell; a roster cell cannot hold a line break: close the quote on line 4 or remove it"
    ]


def test_a_stray_quote_closed_by_another_one_further_down_is_refused_too() -> None:
    rows = [row(household=str(i), name=f"名前{i}") for i in range(1, 7)]
    data = _stray_quote(_stray_quote(csv_bytes(EN, rows), "名前2".encode()), "名前5".encode())
    errors = errors_of(data)
    assert errors[0].startswith('row 3, column name: its quote (") opens on line 3 of the file and is not '
                                "closed on that line, so lines 3 to 6 became this one cell")


def test_a_line_break_inside_a_quoted_cell_is_refused_in_any_column_known_or_not() -> None:
    rows = [[*row(household="1"), ""], [*row(household="2", address="東町\n1-2"), ""], [*row(household="3"), "a\r\nb"]]
    assert [e.split(":")[0] for e in errors_of(csv_bytes([*EN, "生年月日"], rows))] == [
        "row 3, column address",
        "row 4, column 生年月日",  # an ignored column can swallow rows just the same
    ]


def test_a_cell_past_the_last_named_column_is_named_by_its_letter() -> None:
    (error,) = errors_of(csv_bytes(EN, [[*row(), "", "x\ny"]]))
    letter = chr(ord("A") + len(EN) + 1)  # the second cell past the header's last column
    assert error.startswith(f"row 2, column {letter}: the cell holds a line break")


def test_a_stray_quote_in_the_header_row() -> None:
    data = b'district,association,"household,name\r\n' + csv_bytes(EN, [row()])
    (error,) = errors_of(data)
    assert error.startswith('row 1, column C: its quote (") opens on line 1 of the file')


def test_rows_after_a_refused_cell_are_still_checked() -> None:
    rows = [row(household="1", notes="一行目\n二行目"), row(household="2", phone="bad")]
    errors = errors_of(csv_bytes(EN, rows))
    assert [e.split(":")[0] for e in errors] == ["row 2, column notes", "row 3, column phone"]
    assert "lines 2 to 3 of the file" in errors[0]


def test_a_line_break_typed_in_a_cell_is_told_as_such_not_as_a_stray_quote() -> None:
    """Review: Excel's Alt+Enter in an address, its quotes closed as they should be, was refused with "close
    the quote on line 3", a quote that is closed: the clerk had no way on."""
    rows = [row(household="1"), row(household="2", address="東町1-2\nさくら荘101"),
            row(household="3", notes="耳が遠い, 呼び鈴が\n聞こえない")]  # a comma of its own: still typed
    assert errors_of(csv_bytes(EN, rows)) == [
        "row 3, column address: the cell holds a line break (lines 3 to 4 of the file: Excel's Alt+Enter, for "
        "one); a roster cell cannot hold a line break: delete it or replace it with a space",
        "row 4, column notes: the cell holds a line break (lines 5 to 6 of the file: Excel's Alt+Enter, for "
        "one); a roster cell cannot hold a line break: delete it or replace it with a space"]


# -- invisible control characters ---------------------------------------------------

BAD_CHARACTERS = [
    ("\x00", "U+0000 (NUL)"), ("\t", "U+0009 (TAB)"), ("\x1b", "U+001B (ESC)"), ("\x7f", "U+007F (DEL)"),
    ("\x85", "U+0085 (control character)"), ("\u202e", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
    ("\u202a", "U+202A (LEFT-TO-RIGHT EMBEDDING)"), ("\u2067", "U+2067 (RIGHT-TO-LEFT ISOLATE)"),
    ("\u2028", "U+2028 (LINE SEPARATOR)"),
]  # fmt: skip


@pytest.mark.parametrize("column", EN)
@pytest.mark.parametrize(("char", "named"), BAD_CHARACTERS)
def test_control_characters_and_bidi_overrides_are_refused_in_every_column(column: str, char: str,
                                                                          named: str) -> None:
    value = dict(zip(EN, row(), strict=True))[column] or "1"
    cells = row(**{column: value[:1] + char + value[1:]})
    (error,) = errors_of(csv_bytes(EN, [row(household="9"), cells]))
    assert error == (f"row 3, column {column}: contains {named} at character 2, an invisible control character "
                     "a roster cannot hold: delete it")


def test_every_bad_cell_of_a_row_is_named_and_the_other_cells_still_checked() -> None:
    cells = row(name="佐藤\u202e一郎", address="東町\x00", members="x")
    assert [e.split(":")[0] for e in errors_of(csv_bytes(EN, [cells]))] == [
        "row 2, column name", "row 2, column address", "row 2, column members"]


def test_a_control_character_in_an_ignored_column_refuses_the_file_too() -> None:
    (error,) = errors_of(csv_bytes([*EN, "メモ2"], [[*row(), "\x00"]]))
    assert error.startswith("row 2, column メモ2: contains U+0000 (NUL)")


def test_visible_and_joining_characters_are_kept_as_written() -> None:
    # only what the refusal names is refused: ideographic spaces, marks and joiners are text
    name = "Nguyễn\u3000Văn\u200dAn \u200f👨\u200d👩\u200d👧"
    result = parse_bytes(csv_bytes(EN, [row(name=name, address="東町\u30001-2")]))
    assert result.ok, result.errors
    assert result.records[0].name == name and result.records[0].address == "東町\u30001-2"


# -- writing ---------------------------------------------------------------------

TRICKY = [
    EXPECTED,
    household("北地区", "東町会", "", "2", "=HYPERLINK(\"x\")", "+1 street", 1, True, "ja-easy",
              landline="+81312345678", telegram="4503599627370495", notes="@note, \"quoted\", 2行目"),
    household("南地区", "西町会", "3班", "A-7", "Nguyen Van An", "", 5, False, "vi",
              phone="+818011112222", landline="+815012345678"),
    # what a guard must give back exactly: an apostrophe the value had, and plain numbers
    HouseholdRecord("南地区", "西町会", "-1", "'=A1", "''@x", "-2+3", 1, notes="'-5"),
]  # fmt: skip


def test_a_contact_the_export_guarded_reads_back_as_it_was(tmp_path: Path) -> None:
    """The export puts an apostrophe before a contact starting with - = + @ (formula guard); the import
    kept it in the address ('-taro@docomo.ne.jp), as it did not for the other columns."""
    records = [HouseholdRecord("北地区", "東町会", "", str(n), "佐藤 一郎", contacts=(("email", address),))
               for n, address in enumerate(["-taro@docomo.ne.jp", "=hana@ezweb.ne.jp", "'+jiro@i.softbank.jp"])]
    path = tmp_path / "out.csv"
    write_roster(path, records)
    assert "'-taro@docomo.ne.jp" in path.read_text("utf-8-sig")
    result = read_roster(path)
    assert result.ok, result.errors
    assert result.records == records


@pytest.mark.parametrize(("encoding", "headers"), [("utf-8", "ja"), ("cp932", "ja"), ("utf-8", "en")])
def test_write_then_read_gives_the_same_records(tmp_path: Path, encoding: str, headers: str) -> None:
    path = tmp_path / "out.csv"
    assert write_roster(path, TRICKY, encoding=encoding, headers=headers) == 4
    raw = path.read_bytes()
    assert raw.startswith(codecs.BOM_UTF8) == (encoding == "utf-8")  # the BOM makes Excel read UTF-8
    result = read_roster(path)
    assert result.ok, result.errors
    assert result.records == TRICKY
    assert "'=HYPERLINK" in raw.decode("utf-8-sig" if encoding == "utf-8" else "cp932")  # no live formula


def test_cp932_export_lists_every_cell_it_cannot_encode_and_writes_nothing(tmp_path: Path) -> None:
    records = [EXPECTED, HouseholdRecord("北地区", "東町会", "", "2", "𠮷田 太郎", "🏠", 1)]
    path = tmp_path / "out.csv"
    with pytest.raises(RosterWriteError) as e:
        write_roster(path, records, encoding="cp932")
    assert [str(i) for i in e.value.issues] == [
        "row 3, column 世帯主: '𠮷' cannot be written in cp932; export as UTF-8",
        "row 3, column 住所: '🏠' cannot be written in cp932; export as UTF-8",
    ]
    assert list(tmp_path.iterdir()) == []


def test_cp932_export_refuses_a_character_it_would_write_as_another(tmp_path: Path) -> None:
    """Review: U+2212 「−」 and U+301C 「〜」 go into CP932 as 「－」 and 「～」, which the import folds to "-" and
    "~": 緑町1−2町会 read back as a new association and its households came twice."""
    records = [EXPECTED, HouseholdRecord("北地区", "緑町1\u22122町会", "", "3\u221212", "佐藤 一郎", "緑町1\u301c2", 1)]
    with pytest.raises(RosterWriteError) as e:
        write_roster(tmp_path / "out.csv", records, encoding="cp932")
    assert [str(i) for i in e.value.issues] == [
        f"row 3, column {col}: '{ch}' cannot be written in cp932; export as UTF-8"
        for col, ch in (("町会", "\u2212"), ("世帯番号", "\u2212"), ("住所", "\u301c"))]
    assert list(tmp_path.iterdir()) == []
    assert write_roster(tmp_path / "out.csv", records) == 2  # UTF-8 keeps them
    assert read_roster(tmp_path / "out.csv").records == records


def test_export_refuses_a_stored_cell_the_import_would_refuse(tmp_path: Path) -> None:
    """A roster stored before the import refused control characters cannot make a file that does not read back."""
    records = [EXPECTED, HouseholdRecord("北地区", "東町会", "", "2", "佐藤\u202e一郎", "東町", 1, notes="a\nb")]
    with pytest.raises(RosterWriteError) as e:
        write_roster(tmp_path / "out.csv", records)
    assert [str(i) for i in e.value.issues] == [
        "row 3, column 世帯主: contains U+202E (RIGHT-TO-LEFT OVERRIDE) at character 3, an invisible control "
        "character a roster cannot hold: delete it, then import the roster again",
        "row 3, column 備考: contains U+000A (LF) at character 2, an invisible control "
        "character a roster cannot hold: delete it, then import the roster again",
    ]
    assert list(tmp_path.iterdir()) == []


def test_generated_roster_round_trips_and_is_deterministic(tmp_path: Path) -> None:
    records = list(generate_roster(400, seed=3, households_per_association=100, associations_per_district=2))
    assert records == list(generate_roster(400, seed=3, households_per_association=100, associations_per_district=2))
    assert len({r.association for r in records}) == 4 and len({r.district for r in records}) == 2
    path = tmp_path / "gen.csv"
    write_roster(path, records)
    result = read_roster(path)
    assert result.ok, result.errors[:3]
    assert result.records == records


def test_the_committed_sample_is_a_valid_small_city() -> None:
    sample = Path(__file__).resolve().parents[2] / "examples" / "roster-sample.csv"
    result = read_roster(sample)
    assert result.ok, result.errors[:3]
    records = result.records
    assert len({r.district for r in records}) == 3
    assert len({r.association for r in records}) == 12
    assert 550 <= len(records) <= 650
    assert any(r.vulnerable for r in records)
    assert any(r.contact("landline") and not r.contact("mobile") for r in records)
    assert any(r.contact("telegram") for r in records)
    assert {"en", "vi", "pt"} <= {r.language for r in records}


def test_country_codes_read_as_their_language_and_untranslated_languages_are_said() -> None:
    """QA2: "vn" passed the check as a language of its own and meant Japanese on the night; a valid code
    with no texts (th) is imported, with a warning that those households read やさしい日本語."""
    data = ("世帯番号,町会,地区,世帯主,住所,言語\n1,A町会,北地区,山田,住所1,vn\n2,A町会,北地区,田中,住所2,CN\n"
            "3,A町会,北地区,佐藤,住所3,kr\n4,A町会,北地区,鈴木,住所4,th\n5,A町会,北地区,高橋,住所5,th\n")
    result = parse_bytes(data.encode())
    assert result.errors == []
    assert [r.language for r in result.records] == ["vi", "zh", "ko", "th", "th"]
    no_consent, _, _, warning = result.warnings  # no 同意 column: said first (then 要配慮, 班・人数・備考)
    assert no_consent.key == "roster.warning.no_consent_column_stated" and not result.consent_column
    assert warning.text("ja") == "言語「th」の文面はありません（2 世帯）。これらの世帯には、やさしい日本語で届きます。"


def test_a_title_row_above_the_header_is_named_not_four_missing_columns() -> None:
    """QA: an Excel sheet with a title above its table gave four 「必須の列…がありません」 and no hint."""
    data = ("さくら市 世帯名簿（2026年12月）\n\n" + csv_bytes(JA, [row()]).decode("utf-8-sig")).encode("utf-8")
    result = parse_bytes(data)
    assert [(e.key, e.row) for e in result.errors] == [("roster.problem.header_below", 3)] and result.records == []
    assert result.errors[0].text("ja").startswith("3行目: 見出しの行がこの行にあります。1行目を見出しの行にしてください")
    assert result.warnings == []
    # a file with no header anywhere still names its missing columns
    assert len(errors_of(b"a,b,c\n1,2,3\n")) == 4


def test_a_mobile_on_several_households_is_said_not_refused() -> None:
    """QA: the same mobile on two households passed without a word (a family's phone, or a slip)."""
    result = parse_bytes(csv_bytes(EN, [row(household="1", phone="090-1111-2222"),
                                        row(household="2", phone="09011112222"), row(household="3")]))
    assert result.errors == [] and len(result.records) == 3
    (warning,) = [w for w in result.warnings if w.key == "roster.warning.shared_mobile"]
    assert warning.text("ja") == ("携帯電話 090-1111-2222 が 2 世帯にあります（東町会 1, 東町会 2）。家族で共有している番号なら、"
                                  "このままで構いません。写し間違いなら直してください。")


@pytest.mark.parametrize(("cell", "column"), [('"山田 "太郎', "name"), ('"a""b"x', "name"), ('"中央地区"x', "district")])
def test_a_cell_with_broken_quotes_is_refused_at_its_row_and_column(cell: str, column: str) -> None:
    """QA: `"山田 "太郎` was stored as `山田 太郎` and `"a""b"x` as `a"bx`, exit 0."""
    cells = {"district": "中央地区", "name": "山田"} | {column: cell}
    data = ("district,association,household,name\n"
            "中央地区,花園町,1,鈴木\n"
            f"{cells['district']},花園町,2,{cells['name']}\n").encode()
    result = parse_bytes(data)
    assert not result.records
    assert [str(e) for e in result.errors] == [
        f"row 3, column {column}: the cell's quotes are broken: text follows its closing quote "
        '(a quote inside a quoted cell is written twice, "")']


def test_quotes_read_as_a_spreadsheet_writes_them() -> None:
    data = ('district,association,household,name\n"中央地区" ,花園町,1,"a""b"\n中央地区,花園町,2,山田"太郎\n').encode()
    assert [r.name for r in parse_bytes(data).records] == ['a"b', '山田"太郎']


def test_a_cell_excel_kept_as_text_is_read_as_its_text_in_any_column() -> None:
    """Excel writes a number kept as text (leading zeros) as ="00123": the household key was stored with
    its = and quotes, and a phone refused for containing '='. Only the whole-cell form is unwrapped."""
    formula = '="1"&"2"'
    result = parse_bytes(csv_bytes(EN, [row(household='="00123"', phone='="09012345678"', name=formula)]))
    assert result.ok, result.errors
    record = result.records[0]
    assert record.household_key == "00123"
    assert record.contact("mobile") == "+819012345678"
    assert record.name == formula
    # the same key written plainly on another row is the same household
    twice = parse_bytes(csv_bytes(EN, [row(household='="00123"'), row(household="00123")]))
    assert [e.key for e in twice.errors] == ["roster.problem.duplicate_household"]


def test_a_file_without_a_contact_column_states_nothing_of_that_kind() -> None:
    """The reader names each contact column the file lacks (`contact:KIND`), so the import keeps those
    contacts (review: a file without 携帯電話 deleted every roster mobile); a column there, empty, states none."""
    header = [c for c in JA if c != "携帯電話"]
    cells = row(phone="")
    del cells[JA.index("携帯電話")]
    without = parse_bytes(csv_bytes(header, [cells]))
    assert without.ok, without.errors
    assert {"contact:mobile"} <= without.records[0].unstated and "contact:landline" not in without.records[0].unstated
    with_column = parse_bytes(csv_bytes(JA, [row(phone="")]))
    assert not any(u.startswith("contact:") for u in with_column.records[0].unstated)

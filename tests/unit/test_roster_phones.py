"""Japanese phone numbers in every written form → E.164, and every kind of bad number."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safetynet.domain.phones import (
    PhoneError,
    PhoneKind,
    classify_phone,
    format_national,
    parse_landline,
    parse_mobile,
    parse_phone,
    to_e164,
)

GOOD = [
    # (as written, E.164, kind)
    ("090-1234-5678", "+819012345678", PhoneKind.MOBILE),
    ("09012345678", "+819012345678", PhoneKind.MOBILE),
    ("０９０－１２３４－５６７８", "+819012345678", PhoneKind.MOBILE),  # full-width digits and hyphen
    ("０９０１２３４５６７８", "+819012345678", PhoneKind.MOBILE),
    ("090-１２３４-５６７８", "+819012345678", PhoneKind.MOBILE),  # half full-width: not the ASCII fast path
    ("090１２３４５６７８", "+819012345678", PhoneKind.MOBILE),
    ("090 1234 5678", "+819012345678", PhoneKind.MOBILE),
    ("090\u30001234\u30005678", "+819012345678", PhoneKind.MOBILE),  # ideographic spaces
    ("090ー1234ー5678", "+819012345678", PhoneKind.MOBILE),  # katakana long mark typed as a hyphen
    ("090−1234−5678", "+819012345678", PhoneKind.MOBILE),  # U+2212 minus
    ("090.1234.5678", "+819012345678", PhoneKind.MOBILE),
    (" 090-1234-5678 ", "+819012345678", PhoneKind.MOBILE),
    ("+81 90 1234 5678", "+819012345678", PhoneKind.MOBILE),
    ("+81-90-1234-5678", "+819012345678", PhoneKind.MOBILE),
    ("+819012345678", "+819012345678", PhoneKind.MOBILE),
    ("＋８１　９０　１２３４　５６７８", "+819012345678", PhoneKind.MOBILE),
    ("+81 (0)90-1234-5678", "+819012345678", PhoneKind.MOBILE),  # trunk 0 in brackets
    ("81-90-1234-5678", "+819012345678", PhoneKind.MOBILE),
    ("819012345678", "+819012345678", PhoneKind.MOBILE),
    ("0081-90-1234-5678", "+819012345678", PhoneKind.MOBILE),
    ("010-81-90-1234-5678", "+819012345678", PhoneKind.MOBILE),  # international prefix from Japan
    ("080-1234-5678", "+818012345678", PhoneKind.MOBILE),
    ("070-1234-5678", "+817012345678", PhoneKind.MOBILE),
    ("060-1234-5678", "+816012345678", PhoneKind.MOBILE),
    ("(03) 1234-5678", "+81312345678", PhoneKind.LANDLINE),
    ("03-1234-5678", "+81312345678", PhoneKind.LANDLINE),
    ("（０３）１２３４－５６７８", "+81312345678", PhoneKind.LANDLINE),
    ("03-１２３４-５６７８", "+81312345678", PhoneKind.LANDLINE),
    ("+81 3 1234 5678", "+81312345678", PhoneKind.LANDLINE),
    ("076-123-4567", "+81761234567", PhoneKind.LANDLINE),
    ("0766-12-3456", "+81766123456", PhoneKind.LANDLINE),
    ("01267-2-3456", "+81126723456", PhoneKind.LANDLINE),
    ("050-1234-5678", "+815012345678", PhoneKind.IP),
    ("0120-123-456", "+81120123456", PhoneKind.SERVICE),
    ("0800-123-4567", "+818001234567", PhoneKind.SERVICE),
    ("0570-123-456", "+81570123456", PhoneKind.SERVICE),
    ("020-1234-5678", "+812012345678", PhoneKind.M2M),
]


@pytest.mark.parametrize(("written", "e164", "kind"), GOOD)
def test_every_written_form_becomes_e164(written: str, e164: str, kind: PhoneKind) -> None:
    phone = parse_phone(written)
    assert phone.e164 == e164
    assert phone.kind is kind
    assert to_e164(written) == e164


BAD = [
    # (as written, words the message must contain)
    ("", "empty"),
    ("   ", "empty"),
    ("090-1234-567", "too short: a mobile number (090…) has 11 digits, this one has 10"),
    ("090-1234-56789", "too long: a mobile number (090…) has 11 digits, this one has 12"),
    ("080-123-4567", "too short"),
    ("03-1234-567", "too short: a landline number has 10 digits, this one has 9"),
    ("03-1234-56789", "too long: a landline number has 10 digits, this one has 11"),
    ("050-1234-567", "050 IP-phone number (050…) has 11 digits"),
    ("0120-123-4567", "service number (0120…) has 10 digits"),
    ("0800-123-456", "service number (0800…) has 11 digits"),
    ("+1 555 123 4567", "not a Japanese number (country code +81 expected)"),
    ("+44 20 7946 0958", "not a Japanese number"),
    ("90-1234-5678", "must start with 0 or +81"),
    ("1234", "must start with 0 or +81"),
    ("010-1234-5678", "starts with 010, which is not a Japanese number prefix"),
    ("030-1234-5678", "starts with 030"),
    ("040-1234-5678", "starts with 040"),
    ("00-1234-5678", "starts with 00"),
    ("090-ABCD-5678", "contains 'A'"),
    ("tel:090-1234-5678", "contains 't'"),
    ("090-1234-5678 内線12", "contains '内'"),
    ("+81 90 1234 567", "too short"),
    ("+81", "too short"),
    # a plus sign alone or out of place (the SMS webhook's From field answered 500 for "+")
    ("+", "a + comes only before the digits"),
    ("+81+90-1234-5678", "a + comes only before the digits"),
    ("090-1234-5678+", "a + comes only before the digits"),
]


@pytest.mark.parametrize(("written", "message"), BAD)
def test_a_number_that_cannot_be_one_is_refused_with_the_reason(written: str, message: str) -> None:
    with pytest.raises(PhoneError) as e:
        parse_phone(written)
    assert message in str(e.value)
    if written.strip():
        assert repr(written.strip()) in str(e.value)  # the message shows what was written


@pytest.mark.parametrize(
    ("e164", "national"),
    [
        ("+819012345678", "090-1234-5678"),
        ("+81312345678", "03-1234-5678"),
        ("+81612345678", "06-1234-5678"),
        ("+81761234567", "076-123-4567"),
        ("+815012345678", "050-1234-5678"),
        ("+81120123456", "0120-123-456"),
        ("+818001234567", "0800-123-4567"),
    ],
)
def test_national_format_reads_back_to_the_same_number(e164: str, national: str) -> None:
    assert format_national(e164) == national
    assert to_e164(national) == e164


@pytest.mark.parametrize(
    ("written", "e164"),
    [("090-１２３４-５６７８", "+819012345678"), ("080１２３４５６７８", "+818012345678")],
)
def test_mobile_column_folds_full_width_digits_mixed_with_ascii(written: str, e164: str) -> None:
    # the column's fast path took `\d` for ASCII and stored the full-width digits as they were
    assert parse_mobile(written) == e164


@pytest.mark.parametrize(
    ("written", "e164"),
    [("03-１２３４-５６７８", "+81312345678"), ("0766-１２-３４５６", "+81766123456")],
)
def test_landline_column_folds_full_width_digits_mixed_with_ascii(written: str, e164: str) -> None:
    assert parse_landline(written) == e164


def test_national_property() -> None:
    assert parse_phone("+81 90 1234 5678").national == "09012345678"


@given(
    prefix=st.sampled_from(["060", "070", "080", "090", "050", "0800", "03", "0766", "0120", "020", "010"]),
    rest=st.text(alphabet="0123456789", min_size=5, max_size=9),
    cuts=st.lists(st.integers(min_value=1, max_value=12), max_size=2),
)
def test_mobile_column_fast_path_agrees_with_the_general_parser(prefix: str, rest: str, cuts: list[int]) -> None:
    digits = prefix + rest
    written = digits
    for cut in sorted(set(cuts), reverse=True):
        if cut < len(written):
            written = written[:cut] + "-" + written[cut:]
    try:
        e164, kind = classify_phone(written)
        expected: str | None = e164 if kind is PhoneKind.MOBILE else None
    except PhoneError:
        expected = None
    try:
        got: str | None = parse_mobile(written)
    except PhoneError:
        got = None
    assert got == expected

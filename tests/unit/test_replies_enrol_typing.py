"""What residents type during enrolment, read as they meant it: the SMS confirmation code and the
letter's code, in full width (a phone's Japanese IME), with spaces or hyphens."""

from __future__ import annotations

import pytest

from safetynet.replies.enrol import typed_digits
from safetynet.roster.codes import normalize_code


@pytest.mark.parametrize(
    ("typed", "digits"),
    [("566510", "566510"), ("５６６５１０", "566510"), ("５６６ ５１０", "566510"), ("566-510", "566510"),
     ("５６６－５１０", "566510"), ("\u3000５６６５１０\u3000", "566510"), ("٥٦٦٥١٠", "566510"), ("", ""),
     ("abc", "")],
)
def test_typed_digits_are_ascii_digits(typed: str, digits: str) -> None:
    assert typed_digits(typed) == digits


def test_the_letters_code_typed_in_full_width_is_the_same_code() -> None:
    assert normalize_code("ｋ７ｑｍ－４ｘｐａ　９３ｔｆーｒ２ｄｎ") == normalize_code("K7QM-4XPA-93TF-R2DN")

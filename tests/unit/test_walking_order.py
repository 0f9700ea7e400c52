"""The door-knock list's walking order: a pure sort key (safetynet.domain.walking)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from safetynet.domain.walking import natural_key, walking_key


def _sorted(items: list[str]) -> list[str]:
    return sorted(items, key=natural_key)


def test_numbers_in_addresses_compare_as_numbers() -> None:
    assert _sorted(["桜町12-4", "桜町3-22", "桜町3-3", "桜町12-10", "桜町1"]) == [
        "桜町1", "桜町3-3", "桜町3-22", "桜町12-4", "桜町12-10"]


def test_full_width_digits_and_dashes_are_the_same_as_ascii() -> None:
    assert natural_key("桜町３－２２") == natural_key("桜町3-22")
    assert natural_key("桜町3ー22") == natural_key("桜町3-22")
    assert _sorted(["桜町１２－４", "桜町3-22"]) == ["桜町3-22", "桜町１２－４"]


def test_groups_in_number_order_and_an_empty_group_last() -> None:
    rows = [("10班", "a"), ("2班", "b"), ("", "c"), ("1班", "d")]
    assert [g for g, a in sorted(rows, key=lambda r: walking_key(*r))] == ["1班", "2班", "10班", ""]


def test_order_by_group_then_address_then_household() -> None:
    rows = [("2班", "桜町3-22", "H-2"), ("1班", "桜町12-4", "H-1"), ("1班", "桜町3-22", "H-10"),
            ("1班", "桜町3-22", "H-9")]
    assert sorted(rows, key=lambda r: walking_key(*r)) == [
        ("1班", "桜町3-22", "H-9"), ("1班", "桜町3-22", "H-10"), ("1班", "桜町12-4", "H-1"), ("2班", "桜町3-22", "H-2")]


def test_shorter_prefix_first_and_numbers_before_words() -> None:
    assert _sorted(["3-1", "3", "A", "3A"]) == ["3", "3-1", "3A", "A"]


@given(st.lists(st.text(max_size=12), max_size=20))
def test_the_key_orders_any_text_without_error(items: list[str]) -> None:
    keys = [natural_key(x) for x in _sorted(items)]
    assert keys == sorted(keys)  # a total order: no TypeError between numbers and words

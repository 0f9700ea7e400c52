"""The answer to "safe" from a phone several households share: each link under its household's 班 and 世帯番号."""

from __future__ import annotations

from safetynet.domain.roster import Household
from safetynet.replies.texts import many_households


def _household(hid: int, association_id: int, association: str, group: str, key: str) -> Household:
    return Household(hid, association_id, association, "桜地区", group, key, "山田 花子", "桜町1-1-1", 2, False, "en")


def test_in_english_and_without_a_group_or_a_household_gone() -> None:
    a = _household(1, 1, "桜町一丁目町会", "1班", "A-001")
    b = _household(2, 1, "桜町一丁目町会", "", "A-002")  # no 班 in the roster
    text = many_households("en", [(a, "https://x/r/1"), (b, "https://x/r/2"), (None, "https://x/r/3")])
    assert text.split("\n") == [
        "This number belongs to several households. Please answer from each household's link.",
        "1班 household A-001", "https://x/r/1", "household A-002", "https://x/r/2", "https://x/r/3"]
    assert "山田" not in text and "桜町1-1-1" not in text


def test_the_association_named_only_when_they_differ() -> None:
    a = _household(1, 1, "桜町一丁目町会", "1班", "A-001")
    b = _household(2, 2, "梅町町会", "1班", "B-001")
    assert many_households("ja", [(a, "L1"), (b, "L2")]).split("\n")[1:] == [
        "桜町一丁目町会 1班 世帯番号 A-001", "L1", "梅町町会 1班 世帯番号 B-001", "L2"]

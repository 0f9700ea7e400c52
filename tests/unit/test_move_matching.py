"""domain.moves: which removed household and added row are one household that moved (pure)."""

from __future__ import annotations

from safetynet.domain.moves import MovePlan, MoveSide, is_phone, match_moves, name_key

MOBILE, LANDLINE = "+819011110002", "+81311110002"


def side(ref: int, association: int, name: str, *phones: str) -> MoveSide:
    return MoveSide(ref, association, name, frozenset(phones))


def test_the_name_is_compared_as_the_roster_folds_it() -> None:
    assert name_key("佐藤　花子") == name_key("佐藤 花子") == name_key("佐藤花子") == name_key("佐藤・花子")
    assert name_key("SMITH John") == name_key("ｓｍｉｔｈ　ｊｏｈｎ")
    assert name_key("佐藤 花子") != name_key("佐藤 花")


def test_only_e164_addresses_are_phones() -> None:
    assert is_phone(MOBILE) and is_phone(LANDLINE)
    assert not any(is_phone(a) for a in ("5550003", "taro@docomo.ne.jp", "U" + "0" * 32, '{"endpoint":"x"}'))


def test_same_name_and_a_shared_phone_in_another_association_is_a_move() -> None:
    plan = match_moves([side(10, 1, "佐藤 花子", MOBILE, LANDLINE)], [side(3, 2, "佐藤　花子", LANDLINE)])
    assert plan == MovePlan(((10, 3),), 0)


def test_no_move_without_a_shared_phone_or_within_one_association() -> None:
    assert match_moves([side(10, 1, "佐藤 花子", MOBILE)], [side(3, 2, "佐藤 花子", "+819099998888")]) == MovePlan()
    assert match_moves([side(10, 1, "佐藤 花子", MOBILE)], [side(3, 1, "佐藤 花子", MOBILE)]) == MovePlan()
    assert match_moves([side(10, 1, "佐藤 花子", MOBILE)], [side(3, 2, "佐藤 花", MOBILE)]) == MovePlan()


def test_two_candidates_either_way_make_no_move_and_are_counted() -> None:
    two_new = match_moves([side(10, 1, "佐藤 花子", MOBILE)],
                          [side(3, 2, "佐藤 花子", MOBILE), side(4, 3, "佐藤 花子", MOBILE)])
    assert two_new == MovePlan((), 1)
    two_old = match_moves([side(10, 1, "佐藤 花子", MOBILE), side(11, 4, "佐藤 花子", MOBILE)],
                          [side(3, 2, "佐藤 花子", MOBILE)])
    assert two_old == MovePlan((), 2)
    # a clear pair beside an ambiguous one still moves
    mixed = match_moves([side(10, 1, "佐藤 花子", MOBILE), side(12, 1, "高橋 誠", "+819022220002")],
                        [side(3, 2, "佐藤 花子", MOBILE), side(4, 3, "佐藤 花子", MOBILE),
                         side(5, 2, "高橋 誠", "+819022220002")])
    assert mixed == MovePlan(((12, 5),), 1)

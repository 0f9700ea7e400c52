"""「訪問済み 12」: the words of a staff member's text confirming a household seen (keywords.staff_visited)."""

from __future__ import annotations

from safetynet.replies.keywords import (
    is_household_number,
    parse_keyword,
    staff_handled,
    staff_visit_undone,
    staff_visited,
)


def test_visited_and_confirmed_name_the_household_by_its_number() -> None:
    for text in ("訪問済み 12", "確認済み　１２", "ホウモンズミ 12番", "12 訪問済みです", "世帯番号12 かくにんずみ", "visited 12"):
        assert staff_visited(text) == ("12",), text
    assert staff_visited("訪問済み") == ()
    assert staff_visited("訪問済み 12 桜町一丁目町会") == ("12", "桜町一丁目町会")
    assert staff_visited("12 訪問済み まだ会えていない") == ("12", "まだ会えていない")  # other words: the caller refuses


def test_other_texts_are_no_visit() -> None:
    for text in ("対応済み 12", "1", "無事です", "12", "訪問します"):
        assert staff_visited(text) is None, text
    assert staff_handled("対応済み 12") == ("12",)  # 対応済み stays 対応済み


def test_several_numbers_are_told_from_an_associations_name() -> None:
    assert staff_visited("訪問済み 12、13") == ("12", "13") and staff_handled("対応済み 12 13") == ("12", "13")
    assert is_household_number("13") and is_household_number("Ａ－００２") and is_household_number("12番")
    assert not is_household_number("桜町一丁目町会") and not is_household_number("桜町1丁目町会")


def test_undo_names_the_household_as_visited_does() -> None:
    """「訪問取消 12」: a 訪問済み taken back (keywords.staff_visit_undone), in the words a phone types it."""
    for text in ("訪問取消 12", "訪問取り消し　１２", "訪問取消 12番", "12 訪問取消", "ホウモントリケシ 12", "ほうもんとりけし 世帯番号12",
                 "undo 12", "訪問取消 12 お願いします"):
        assert staff_visit_undone(text) == ("12",), text
    assert staff_visit_undone("訪問取消") == () and staff_visit_undone("訪問取り消し") == ()
    assert staff_visit_undone("訪問取消 12 桜町一丁目町会") == ("12", "桜町一丁目町会")
    # a resident's words are no undo (「取消 2」 corrects her own answer), nor is any other staff text
    for text in ("取消 2", "1 取消", "取り消し", "取り消してください", "キャンセル", "1", "無事です", "訪問済み 12", "対応済み 12",
                 "予約を取り消した"):
        assert staff_visit_undone(text) is None, text
    assert staff_visited("訪問取消 12") is None and staff_handled("訪問取消 12") is None
    assert parse_keyword("取消 2") is not None  # the resident's answer it is

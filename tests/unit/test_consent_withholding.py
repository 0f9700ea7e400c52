"""What a withheld household's help card and help list row keep: nothing it wrote (domain.consent)."""

from __future__ import annotations

from safetynet.domain.consent import withhold_help_item, withhold_help_row
from safetynet.domain.replies import HelpItem, HelpRow, Status


def test_a_withheld_household_keeps_none_of_its_words_the_earlier_ones_included() -> None:
    item = HelpItem(1, 2, "1班", "山田 太郎", "桜台1-2-3", 3, True, "もう送らないで", "home", 1, 0.0, "S-1", "no",
                    earlier_notes=("足を骨折", "配信停止"))
    row = HelpRow(1, 1, 2, "桜台町内会", "中央", "1班", "山田 太郎", "桜台1-2-3", 3, True, "ja", Status.NEED_HELP,
                  0.0, None, None, "もう送らないで", 1, "home", "S-1", "no", earlier_notes=("足を骨折", "配信停止"))
    hidden_item, hidden_row = withhold_help_item(item), withhold_help_row(row)
    assert hidden_item.withheld and (hidden_item.note, hidden_item.earlier_notes) == ("", ())
    assert hidden_row.withheld and (hidden_row.note, hidden_row.earlier_notes) == (None, ())
    assert "足を骨折" not in repr(hidden_row.as_json()) and "足を骨折" not in repr(hidden_item)

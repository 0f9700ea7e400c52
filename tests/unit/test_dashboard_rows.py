"""Household rows of the dashboard and the door-knock list come from stamps (the row macro rendered
once per language and shape, filled per row): each must be exactly what the macro makes of the row."""

from __future__ import annotations

import dataclasses
import itertools
import re

import pytest

from safetynet.domain.replies import InPersonMark
from safetynet.domain.roster import HouseholdLine
from safetynet.templating import ENV, Markup, Stamp, call_macro, mark
from safetynet.web.dash_views import (
    HouseholdFilter,
    doorknock_rows,
    household_rows,
    national,
    numbers_whole,
    phone_first,
    status_labels,
)

# texts a row must escape, and texts that must not pose as format fields or marks
NASTY = ('<b>"山田" & \'太郎\'</b>', "{name} {0} {{x}}", "\x00name\x00", "桜町3-22 {address}")


def _line(i: int, *, withheld: bool, vulnerable: bool, landline: str, status: str, text: str) -> HouseholdLine:
    # every third line with a mobile too (a landline, a mobile, both or neither)
    mobile = "+819011110003" if i % 3 == 0 else ""
    return HouseholdLine(id=100 + i, association_id=1, group=f"{i}班 {text}", household_key=f"K-{i}{text}",
                         name=f"名前{text}", address=f"住所{text}", members=i, vulnerable=vulnerable, status=status,
                         status_at=None, landline=landline, has_channel=True, withheld=withheld, mobile=mobile)


def _lines() -> list[HouseholdLine]:
    shapes = itertools.product((False, True), (False, True), ("", "+81311110002", "bad<number>"),
                               ("safe", "need_help", "pending", "weird<st>", "confirmed_in_person"))
    return [_line(i, withheld=w, vulnerable=v, landline=tel, status=st, text=NASTY[i % len(NASTY)])
            for i, (w, v, tel, st) in enumerate(shapes)]


def _label(lang: str, status: str) -> str:
    return status_labels(lang).get(status) or f"? {status}"


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("kind", ["all", "noanswer", "help", "vulnerable"])
def test_dashboard_rows_are_what_the_macro_renders(lang: str, kind: str) -> None:
    filt = HouseholdFilter(kind, "")
    lines = _lines()
    # a household confirmed in person: by whom, when, how, staff's note (not a withheld one's), and the undo
    # of one's own (every other one is "head"'s)
    marks = [InPersonMark(h.id, 900 + h.id, 1_700_000_000.0 + h.id, ("visit", "phone", "weird<m>")[h.id % 3],
                          "head" if h.id % 2 else "other", NASTY[h.id % len(NASTY)], NASTY[(h.id + 1) % len(NASTY)],
                          h.id % 4 != 1)
             for h in lines if h.status == "confirmed_in_person"]
    by_hh = {m.household_id: m for m in marks}

    def done(h: HouseholdLine) -> Markup:
        m = by_hh.get(h.id)
        if m is None:
            return Markup()
        name = ENV.globals["d"](lang, "withheld_name", number=h.household_key) if h.withheld else h.name
        return call_macro("dash_parts.html", "in_person_mark", lang, m, name, m.undoable and m.actor == "head",
                          h.withheld)
    expected = "".join(call_macro("dash_parts.html", "household_row", lang, h, not filt.keeps(h), _label(lang, h.status),
                                  done(h)) for h in lines)
    got = household_rows(lang, lines, filt, marks, "head")
    assert marks and any('data-undo="' in done(h) for h in lines) and any(
        "data-done" in done(h) and "data-undo=" not in done(h) for h in lines)
    assert isinstance(got, Markup)
    assert got == expected
    assert "<b>" not in got and "\x00" not in got.replace("\x00name\x00", "")  # the only NUL: a name's own


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_doorknock_rows_are_what_the_macro_renders(lang: str) -> None:
    lines = _lines()
    # the address's numbers are marked before the stamp is filled (a mark in the macro cannot be changed)
    expected = "".join(call_macro("dash_parts.html", "doorknock_row", lang,
                                  dataclasses.replace(h, address=numbers_whole(h.address)),
                                  national(h.landline), national(h.mobile), _label(lang, h.status)) for h in lines)
    assert doorknock_rows(lang, lines) == expected


def test_an_address_keeps_its_numbers_whole_on_paper() -> None:
    """QA (heads' walk): the printed list cut 「千代田一丁目10-」 / 「25」; print.css keeps a .nb whole."""
    assert numbers_whole("千代田一丁目10-25 コーポ 1205号室") == (
        '千代田一丁目<span class="nb">10-25</span> コーポ <span class="nb">1205</span>号室')
    assert numbers_whole("桜町３－２２") == '桜町<span class="nb">３－２２</span>'
    assert numbers_whole("<b>1</b> & 2-") == '&lt;b&gt;<span class="nb">1</span>&lt;/b&gt; &amp; <span class="nb">2</span>-'
    assert numbers_whole("緑町1の2") == '緑町<span class="nb">1の2</span>'
    assert numbers_whole("") == ""


def test_a_stamp_refuses_a_value_the_template_changed() -> None:
    module = ENV.from_string("{% macro row(h) %}<td>{{ h|upper }}</td>{% endmacro %}").module
    with pytest.raises(ValueError, match="mark"):
        Stamp.of(module.row(mark("name")), ["name"])


def test_phone_first_keeps_walking_order_within_each_rank() -> None:
    def line(i: int, group: str, address: str, status: str) -> HouseholdLine:
        return HouseholdLine(id=i, association_id=1, group=group, household_key=str(i), name="", address=address,
                             members=1, vulnerable=False, status=status, status_at=None, landline="",
                             has_channel=True)
    lines = [line(1, "10班", "桜町1", "pending"), line(2, "2班", "桜町12-4", "safe"), line(3, "2班", "桜町3-22", "safe"),
             line(4, "2班", "桜町3-22", "need_help"), line(5, "", "桜町1", "pending"), line(6, "2班", "桜町3-3", "pending")]
    for _ in range(2):  # computed, then from the cache
        assert [h.id for h in phone_first(lines)] == [4, 6, 1, 5, 3, 2]


def test_a_split_door_knock_list_offers_the_households_with_no_group() -> None:
    """Review: with the list split by 班, a household whose row names no 班 had no box to tick and was on
    nobody's list (every 班 ticked listed 6 of 7). It is one more choice, 「班なし」."""
    from safetynet.domain.campaigns import CampaignInfo
    from safetynet.domain.roster import Association
    from safetynet.web.dash_views import NO_GROUP, doorknock_context

    def line(i: int, group: str) -> HouseholdLine:
        return HouseholdLine(id=i, association_id=1, group=group, household_key=f"K-{i}", name=f"名前{i}",
                             address="桜町1-2", members=1, vulnerable=False, status="pending", status_at=None,
                             landline="", has_channel=True)

    lines = [line(1, "1班"), line(2, "2班"), line(3, "")]
    assoc = Association(1, "桜町一丁目町会", "中央")
    campaign = CampaignInfo(1, "drill", "訓練", "running", ("city",), 0.0, 0.0, None, 3)

    def listed(chosen: tuple[str, ...]) -> list[int]:
        ctx = doorknock_context("ja", assoc, campaign, lines, 0.0, chosen)
        return sorted(int(i) for _, _, rows in ctx["groups"] for i in re.findall(r'data-hh="(\d+)"', str(rows)))

    ctx = doorknock_context("ja", assoc, campaign, lines, 0.0)
    assert ctx["every_group"] == [("1班", "1班"), ("2班", "2班"), (NO_GROUP, "班なし")]
    assert listed(("1班", "2班")) == [1, 2] and listed(("1班", "2班", NO_GROUP)) == [1, 2, 3]
    assert listed((NO_GROUP,)) == [3]
    assert doorknock_context("ja", assoc, campaign, lines, 0.0, (NO_GROUP,))["heading"] == "班なしの戸別訪問リスト"

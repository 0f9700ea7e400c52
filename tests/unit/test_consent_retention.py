"""The real-event exception of the consent rule (domain.consent) ends with retention."""

from __future__ import annotations

from safetynet.domain.consent import Disclosure, listed
from safetynet.domain.replies import HelpItem


def item() -> HelpItem:
    return HelpItem(7, 1, "1班", "佐藤 花子", "桜町1-1", 2, True, "台所", "home", 1, 0.0, "A-7", "no",
                    landline="+81311110002", mobile="+819011110002")


def test_a_real_event_shows_who_asked_it_for_help_whole_until_it_is_purged() -> None:
    """QA (privacy walk): a 不同意 household that asked a real event for help was named to its head for ever."""
    heads = Disclosure(False)  # no real event runs now
    (closed,) = heads.asking_in("real", None).help_items([item()], "桜地区", "桜町")
    assert not closed.withheld and closed.name == "佐藤 花子"  # after the close, before retention
    (purged,) = heads.asking_in("real", 1000.0).help_items([item()], "桜地区", "桜町")
    assert purged.withheld and (purged.name, purged.address, purged.landline, purged.mobile) == ("", "", "", "")
    (drill,) = heads.asking_in("drill", None).help_items([item()], "桜地区", "桜町")
    assert drill.withheld
    assert Disclosure.everything().asking_in("real", 1000.0).help_items([item()], "桜地区", "桜町") == [item()]


def test_a_purged_campaign_lists_no_help_request() -> None:
    assert listed(None, [item()]) == [item()]
    assert listed(1000.0, [item()]) == []

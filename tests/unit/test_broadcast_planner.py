"""The planner is pure: tables of households in, deliveries out."""

from __future__ import annotations

import pytest

from safetynet.broadcast.planner import count_channels, plan_step
from safetynet.channels import registry
from safetynet.domain import ChannelName
from safetynet.domain.campaigns import (
    PRIORITY_DEFAULT,
    PRIORITY_VULNERABLE,
    ChannelRoutes,
    LadderStep,
    channel_order,
    next_channel,
)
from safetynet.domain.roster import Contact, TargetHousehold

W, T, S, V = "webpush", "telegram", "sms", "voice"
KINDS = {"w": "webpush", "t": "telegram", "m": "mobile", "l": "landline"}


def hh(hid: int, contacts: str, vulnerable: bool = False, dead: str = "") -> TargetHousehold:
    """`contacts` like "wtm": one contact per letter, in that order; `dead` letters are not working."""
    cs = tuple(
        Contact(id=hid * 10 + i, household_id=hid, kind=KINDS[k], address="x", working=k not in dead)
        for i, k in enumerate(contacts)
    )
    return TargetHousehold(hid, 1, None, vulnerable, "ja", cs)


ROUTES = registry.routes()
STEP0, SMS_STEP, VOICE_STEP, KNOCK = registry.default_ladder()


@pytest.mark.parametrize(
    ("contacts", "dead", "step", "expected"),
    [
        ("w", "", STEP0, [W]),
        ("t", "", STEP0, [T]),
        ("wt", "", STEP0, [W, T]),
        ("tw", "", STEP0, [T, W]),  # the household's own order of contacts
        ("m", "", STEP0, [S, V]),  # no app channel: SMS at once, then a call as fallback
        ("l", "", STEP0, [V]),  # landline only: a call at once
        ("ml", "", STEP0, [S, V]),
        ("wm", "", STEP0, [W, S, V]),  # app first, SMS and voice kept as fallbacks
        ("wm", "w", STEP0, [S, V]),  # dead push subscription: as if it had none
        ("w", "", SMS_STEP, []),  # the SMS step only reaches households with a mobile
        ("wm", "", SMS_STEP, [S]),
        ("l", "", SMS_STEP, []),
        ("ml", "", VOICE_STEP, [V]),
        ("l", "", VOICE_STEP, [V]),
        ("", "", STEP0, []),
    ],
)
def test_channel_order(contacts: str, dead: str, step: LadderStep, expected: list[ChannelName]) -> None:
    assert [ch for ch, _ in channel_order(hh(1, contacts, dead=dead), step, ROUTES)] == expected


@pytest.mark.parametrize(
    ("contacts", "step", "expected"),
    [
        # The roster lists the landline first: still an SMS at once, the call only as the fallback.
        ("lm", STEP0, [S, V]),
        ("lmw", STEP0, [W, S, V]),
        # A scenario that puts SMS before the app is followed as written.
        ("wm", LadderStep(0, (S, W)), [S, W]),
        ("mw", LadderStep(0, (W, T, S), (V,)), [W, S, V]),
        # Among the app channels the household's order still counts, wherever the scenario puts them.
        ("mtw", LadderStep(0, (W, S, T)), [T, S, W]),
        ("lm", LadderStep(0, (V, S)), [V, S]),
    ],
)
def test_channels_follow_the_scenarios_order_not_the_rosters(contacts: str, step: LadderStep,
                                                              expected: list[ChannelName]) -> None:
    assert [ch for ch, _ in channel_order(hh(1, contacts), step, ROUTES)] == expected


def test_a_household_with_a_landline_and_a_mobile_is_texted_first_not_called() -> None:
    # Roster rows with 固定電話 before 携帯電話 (369 of 3,000 households in a drill) were called at step 0.
    plan = plan_step([hh(1, "lm"), hh(2, "ml"), hh(3, "l")], 0, STEP0)
    assert [(d.household_id, d.channel, d.contact_id) for d in plan.deliveries] == [(1, S, 11), (2, S, 20), (3, V, 30)]
    # the call of the fallback goes to the first number that takes calls: the landline of household 1
    assert channel_order(hh(1, "lm"), STEP0, ROUTES) == [(S, 11), (V, 10)]
    nxt = next_channel(hh(1, "lm"), 0, STEP0, [S], ROUTES)
    assert nxt is not None and (nxt.channel, nxt.contact_id, nxt.fallback_rank) == (V, 10, 1)


def test_channel_order_uses_the_contact_of_each_channel() -> None:
    h = hh(3, "mlw")
    assert channel_order(h, STEP0, ROUTES) == [(W, 32), (S, 30), (V, 31)]
    assert channel_order(h, VOICE_STEP, ROUTES) == [(V, 31)]


def test_a_landline_listed_after_the_mobile_is_the_one_called() -> None:
    """Review: the mobile texted at step 0 was the one called too, at its fallback and at the call step;
    the landline at home never rang. Calls go to a number the texts do not reach, when there is one."""
    for contacts, texted, called in [("ml", 10, 11), ("lm", 11, 10), ("m", 10, 10), ("l", None, 10),
                                     ("mm", 10, 10), ("mml", 10, 12)]:
        h = hh(1, contacts)
        assert dict(channel_order(h, STEP0, ROUTES)).get(S) == texted, contacts
        assert channel_order(h, VOICE_STEP, ROUTES) == [(V, called)], contacts
    # a dead landline: the mobile is called again
    assert channel_order(hh(1, "ml", dead="l"), VOICE_STEP, ROUTES) == [(V, 10)]
    nxt = next_channel(hh(1, "ml"), 0, STEP0, [S], ROUTES)
    assert nxt is not None and (nxt.channel, nxt.contact_id) == (V, 11)


def test_plan_puts_vulnerable_households_first_one_channel_each() -> None:
    plan = plan_step([hh(1, "wm"), hh(2, "t", vulnerable=True), hh(3, "m")], 0, STEP0)
    rows = [(d.household_id, d.channel, d.priority, d.fallback_rank) for d in plan.deliveries]
    assert rows == [
        (2, T, PRIORITY_VULNERABLE, 0),
        (1, W, PRIORITY_DEFAULT, 0),
        (3, S, PRIORITY_DEFAULT, 0),
    ]
    assert count_channels(plan) == {W: 1, T: 1, S: 1}


@pytest.mark.parametrize(
    ("contacts", "dead", "tried", "expected"),
    [
        ("wm", "", [W], (S, 1)),  # push gone: SMS in the same step
        ("wm", "", [W, S], (V, 2)),  # then a call
        ("wm", "", [W, S, V], None),  # nothing left
        ("wtm", "", [W], (T, 1)),  # the other app channel first
        ("wm", "m", [W], None),  # the number is dead too: no SMS, no call
        ("wml", "m", [W, S], (V, 2)),  # the landline still rings
    ],
)
def test_next_channel_after_failures(contacts: str, dead: str, tried: list[ChannelName],
                                     expected: tuple[ChannelName, int] | None) -> None:
    nxt = next_channel(hh(1, contacts, dead=dead), 0, STEP0, tried, ROUTES)
    assert (None if nxt is None else (nxt.channel, nxt.fallback_rank)) == expected


def test_households_without_a_working_contact_go_to_the_door_knock_list() -> None:
    plan = plan_step([hh(1, ""), hh(2, "m", dead="m"), hh(3, "w")], 0, STEP0)
    assert plan.no_contact == (1, 2)
    assert [d.household_id for d in plan.deliveries] == [3]


def test_a_later_step_skips_households_without_its_channels() -> None:
    plan = plan_step([hh(1, "w"), hh(2, "wm")], 1, SMS_STEP)
    assert [(d.household_id, d.channel, d.step) for d in plan.deliveries] == [(2, S, 1)]
    assert plan.not_covered == (1,)


def test_a_channel_still_queued_from_an_earlier_step_is_not_planned_again() -> None:
    plan = plan_step([hh(1, "m"), hh(2, "m")], 1, SMS_STEP, busy={1: frozenset({S})})
    assert [d.household_id for d in plan.deliveries] == [2]


def test_door_knock_step_plans_no_delivery() -> None:
    plan = plan_step([hh(1, "w"), hh(2, "")], 3, KNOCK)
    assert plan.deliveries == ()
    assert plan.no_contact == (2,)


def test_the_order_follows_the_routes_it_is_given_not_a_list_of_channels_of_its_own() -> None:
    """The domain names no channel: a channel added to the registry (a LINE account, free) takes part
    in the household's own order among the free channels, and a priced one (a pager) keeps the
    scenario's place."""
    routes = ChannelRoutes({**ROUTES.of_kind, "line": ("line",), "pager": ("pager",)},
                           ROUTES.preferred | {"line"})
    kinds = {**KINDS, "n": "line", "p": "pager"}
    h = TargetHousehold(1, 1, None, False, "ja", tuple(
        Contact(id=10 + i, household_id=1, kind=kinds[k], address="x") for i, k in enumerate("pnw")))
    step = LadderStep(0, (W, "line", "pager"))
    assert [ch for ch, _ in channel_order(h, step, routes)] == ["line", W, "pager"]
    # routes without them (as before LINE was registered): kinds no channel takes are not reached
    bare = ChannelRoutes({k: v for k, v in ROUTES.of_kind.items() if k != "line"}, ROUTES.preferred - {"line"})
    assert [ch for ch, _ in channel_order(h, step, bare)] == [W]
    nxt = next_channel(h, 0, step, ["line"], routes)
    assert nxt is not None and (nxt.channel, nxt.contact_id) == (W, 12)

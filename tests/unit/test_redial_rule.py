"""When a call that rang out is placed again (`domain.redial`): pure, table-tested."""

from __future__ import annotations

import pytest

from safetynet.channels import registry
from safetynet.domain.campaigns import LadderStep
from safetynet.domain.redial import RedialRule, redial_at, replaced, replacing_step, replacing_step_due

RULE = RedialRule(300.0, 2)
LADDER = registry.default_ladder()  # step 0 apps (SMS, voice as fallbacks), 1 SMS, 2 voice, 3 door knock


@pytest.mark.parametrize(
    ("state", "done", "answered", "running", "replaced_at", "expected"),
    [
        ("undelivered", 0, False, True, None, 1300.0),  # busy or no-answer: 5 minutes on
        ("undelivered", 1, False, True, 2000.0, 1300.0),  # the second redial
        ("undelivered", 2, False, True, None, None),  # two placed: no third
        ("failed", 0, False, True, None, None),  # a number that does not work rings no better later
        ("delivered", 0, False, True, None, None),  # picked up (a key pressed or not)
        ("undelivered", 0, True, True, None, None),  # answered by another channel meanwhile
        ("undelivered", 0, False, False, None, None),  # closed or cancelled
        ("undelivered", 0, False, True, 1300.0, None),  # the step whose own call replaces it is due then
        ("undelivered", 0, False, True, 1299.0, None),
        ("undelivered", 0, False, True, 1301.0, 1300.0),
    ],
)
def test_redial_at(state: str, done: int, answered: bool, running: bool, replaced_at: float | None,
                   expected: float | None) -> None:
    assert redial_at(RULE, state=state, redials_done=done, now=1000.0, answered=answered, running=running,
                     replaced_at=replaced_at) == expected


def test_no_rule_or_no_redials_never_redials() -> None:
    kw = {"state": "undelivered", "redials_done": 0, "now": 0.0, "answered": False, "running": True,
          "replaced_at": None}
    assert redial_at(None, **kw) is None  # type: ignore[arg-type]
    assert redial_at(RedialRule(300.0, 0), **kw) is None  # type: ignore[arg-type]


def test_the_step_that_replaces_a_redial_is_the_next_that_calls_or_the_door_knock() -> None:
    assert [s.door_knock for s in LADDER] == [False, False, False, True] and LADDER[2].channels == ("voice",)
    assert replacing_step(LADDER, 0, "voice") == 2  # step 1 texts: no call replaces the step-0 call's redials
    assert replacing_step(LADDER, 2, "voice") == 3  # the door-knock list
    assert replacing_step(LADDER, 3, "voice") is None
    fallback = (LadderStep(0, ("sms",), ("voice",)), LadderStep(600, ("webpush",)), LadderStep(900, ("sms",), ("voice",)))
    assert replacing_step(fallback, 0, "voice") == 2  # a fallback call counts
    assert replacing_step(fallback, 2, "voice") is None  # no later step: only the campaign's end stops it


def test_the_replacing_steps_time_counts_as_the_ladder_does() -> None:
    assert replacing_step_due(LADDER, 0, "voice", 100.0) == 100.0 + LADDER[2].after_seconds
    assert replacing_step_due(LADDER, 0, "voice", 100.0, paused_seconds=50.0) == 150.0 + LADDER[2].after_seconds
    assert replacing_step_due(LADDER, 3, "voice", 100.0) is None


@pytest.mark.parametrize(("next_step", "expected"), [(1, False), (2, False), (3, True), (4, True)])
def test_a_queued_redial_is_replaced_once_its_replacing_step_is_planned(next_step: int, expected: bool) -> None:
    assert replaced(LADDER, 0, "voice", next_step) is expected

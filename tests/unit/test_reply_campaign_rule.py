"""Which campaign an answer belongs to (`domain.replies.answering_campaign`): pure, no store."""

from __future__ import annotations

from safetynet.domain import CampaignKind, CampaignState, Status
from safetynet.domain.replies import (
    ReplyTarget,
    RunningTarget,
    answering_campaign,
    first_running,
    follows_on,
    may_share,
    shared_key,
    shared_with,
)

HH = 7


def target(campaign_id: int, kind: CampaignKind = CampaignKind.DRILL, state: CampaignState = CampaignState.RUNNING,
           household_id: int = HH) -> ReplyTarget:
    closed_at = None if state == CampaignState.RUNNING else 1000.0
    return ReplyTarget(campaign_id, household_id, 3, Status.NOTIFIED, state, kind, closed_at, "ja")


def running(campaign_id: int, started_at: float, kind: CampaignKind = CampaignKind.DRILL,
            household_id: int = HH) -> RunningTarget:
    return RunningTarget(target(campaign_id, kind, household_id=household_id), started_at)


CLOSED_DRILL = target(1, state=CampaignState.CLOSED)


def test_a_running_campaign_s_link_answers_its_own_campaign_and_asks_for_nothing_more() -> None:
    own = target(1)
    assert not follows_on(own)  # the hot path: no lookup of other campaigns
    assert answering_campaign(own, [running(2, 2000.0, CampaignKind.REAL)]) is own


def test_a_closed_campaign_s_link_answers_the_household_s_running_campaign() -> None:
    assert follows_on(CLOSED_DRILL)
    got = answering_campaign(CLOSED_DRILL, [running(2, 2000.0, CampaignKind.REAL)])
    assert (got.campaign_id, got.household_id, got.campaign_state) == (2, HH, CampaignState.RUNNING)


def test_with_no_running_campaign_the_closed_one_keeps_its_late_answers() -> None:
    assert answering_campaign(CLOSED_DRILL, []) is CLOSED_DRILL
    # a campaign of another household, or one no longer running, is no answer's home
    closed_too = RunningTarget(target(3, state=CampaignState.CLOSED), 3000.0)
    assert answering_campaign(CLOSED_DRILL, [running(2, 2000.0, household_id=8), closed_too]) is CLOSED_DRILL


def test_a_cancelled_campaign_keeps_its_own_page() -> None:
    cancelled = target(1, state=CampaignState.CANCELLED)
    assert not follows_on(cancelled)
    assert answering_campaign(cancelled, [running(2, 2000.0)]) is cancelled


def test_a_real_event_comes_before_a_drill_started_after_it() -> None:
    got = answering_campaign(CLOSED_DRILL, [running(3, 3000.0), running(2, 2000.0, CampaignKind.REAL)])
    assert got.campaign_id == 2


def test_among_the_same_kind_the_latest_started_then_the_latest_created() -> None:
    assert answering_campaign(CLOSED_DRILL, [running(2, 2000.0), running(3, 3000.0)]).campaign_id == 3
    assert answering_campaign(CLOSED_DRILL, [running(4, 3000.0), running(5, 3000.0)]).campaign_id == 5
    real = [running(2, 2000.0, CampaignKind.REAL), running(3, 2500.0, CampaignKind.REAL)]
    assert answering_campaign(CLOSED_DRILL, real).campaign_id == 3


def test_a_contact_check_is_no_answer_s_home() -> None:
    check = running(9, 5000.0, CampaignKind.CHECK)
    assert answering_campaign(CLOSED_DRILL, [check]) is CLOSED_DRILL
    assert answering_campaign(CLOSED_DRILL, [check, running(2, 2000.0)]).campaign_id == 2


def test_a_phone_s_households_each_in_the_campaign_its_answers_belong_to() -> None:
    found = [running(2, 2000.0, household_id=8), running(3, 3000.0, household_id=8),
             running(2, 2000.0), running(1, 1000.0, CampaignKind.REAL), running(9, 9000.0, CampaignKind.CHECK)]
    assert [(t.campaign_id, t.household_id) for t in first_running(found)] == [(1, HH), (3, 8)]


def test_a_closed_real_event_s_link_keeps_its_answers_from_a_running_drill() -> None:
    # a late 助けが必要 to the event is the event's: in a drill the head would see the number alone
    closed_real = target(1, CampaignKind.REAL, CampaignState.CLOSED)
    assert answering_campaign(closed_real, [running(2, 2000.0)]) is closed_real
    got = answering_campaign(closed_real, [running(2, 2000.0), running(3, 3000.0, CampaignKind.REAL)])
    assert got.campaign_id == 3  # another real event running: the question asked now


# -- an answer shared with the household's other running campaigns of its kind (`shared_with`) --


def test_an_answer_goes_to_every_other_running_campaign_of_its_kind_over_the_household() -> None:
    city, association = target(2, CampaignKind.REAL), target(3, CampaignKind.REAL)
    running_now = [running(2, 1000.0, CampaignKind.REAL), running(3, 2000.0, CampaignKind.REAL),
                   running(1, 500.0), running(4, 800.0, CampaignKind.CHECK), running(5, 900.0, CampaignKind.REAL, 8)]
    assert [t.campaign_id for t in shared_with(association, running_now)] == [2]
    assert [t.campaign_id for t in shared_with(city, running_now)] == [3]
    # never across kinds: the drill's answer is the drill's, and no check takes one
    assert shared_with(target(1), running_now) == []
    assert shared_with(target(4, CampaignKind.CHECK), running_now) == []


def test_a_drill_s_answer_goes_to_the_other_running_drills_only() -> None:
    running_now = [running(1, 500.0), running(6, 700.0), running(2, 1000.0, CampaignKind.REAL)]
    assert [t.campaign_id for t in shared_with(target(1), running_now)] == [6]


def test_a_tap_kept_since_before_a_campaign_began_is_not_its_answer() -> None:
    running_now = [running(2, 1000.0, CampaignKind.REAL), running(3, 2000.0, CampaignKind.REAL)]
    assert [t.campaign_id for t in shared_with(target(2, CampaignKind.REAL), running_now, made_at=1500.0)] == []
    assert [t.campaign_id for t in shared_with(target(3, CampaignKind.REAL), running_now, made_at=2500.0)] == [2]


def test_a_cancelled_campaign_s_answer_stays_its_own() -> None:
    cancelled = target(2, CampaignKind.REAL, CampaignState.CANCELLED)
    assert not may_share(cancelled, {3})
    assert shared_with(cancelled, [running(3, 2000.0, CampaignKind.REAL)]) == []


def test_the_household_s_campaigns_are_read_only_when_another_of_the_kind_runs() -> None:
    assert not may_share(target(2, CampaignKind.REAL), {2})  # the only one: no read
    assert not may_share(target(2, CampaignKind.REAL), set())
    assert may_share(target(2, CampaignKind.REAL), {2, 3})
    assert may_share(target(2, CampaignKind.REAL, CampaignState.CLOSED), {3})
    assert not may_share(target(4, CampaignKind.CHECK), {4, 5})


def test_each_copy_has_a_key_of_its_own_derived_from_the_answer_s() -> None:
    assert shared_key("sms:SM1:7", 2) != shared_key("sms:SM1:7", 3)
    assert shared_key("sms:SM1:7", 2) == shared_key("sms:SM1:7", 2)
    assert shared_key("sms:SM1:7", 2) != "sms:SM1:7"

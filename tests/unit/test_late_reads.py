"""`domain.late_reads`: which reads of a batch come after their household's own answer."""

from __future__ import annotations

from safetynet.domain.replies import ReplyItem, late_reads


def reply(household_id: int, status: str, key: str, campaign_id: int = 1) -> ReplyItem:
    return ReplyItem(campaign_id, household_id, 1, status, "web", key, 0.0)


def test_a_read_after_an_answer_in_the_batch_or_before_it_is_late() -> None:
    batch = [reply(1, "read", "r1"), reply(1, "safe", "a1"), reply(1, "read", "r1b"),
             reply(2, "read", "r2"), reply(3, "need_help", "a3"), reply(3, "read", "r3")]
    assert late_reads(batch, [(1, 2)]) == {2, 3, 5}


def test_a_household_s_reads_share_a_key_but_only_the_one_after_the_answer_is_late() -> None:
    batch = [reply(1, "read", "read:1:1"), reply(1, "safe", "a1"), reply(1, "read", "read:1:1")]
    assert late_reads(batch, []) == {2}


def test_a_read_after_an_in_person_confirmation_is_kept() -> None:
    # an undone visit looks at reads since it, so they stay, even when the resident had answered before
    batch = [reply(1, "confirmed_in_person", "c1"), reply(1, "read", "r1"),
             reply(2, "safe", "a2"), reply(2, "confirmed_in_person", "c2"), reply(2, "read", "r2")]
    assert late_reads(batch, [(1, 1)]) == set()


def test_notes_change_nothing_and_campaigns_are_apart() -> None:
    batch = [reply(1, "note", "n1"), reply(1, "read", "r1"), reply(1, "read", "r1c2", campaign_id=2)]
    assert late_reads(batch, []) == set()
    assert late_reads(batch, [(2, 1)]) == {2}

"""Every reason a send fails is said in words on /admin and the association page (`web.staff_reach`)."""

from __future__ import annotations

from safetynet.channels.base import Reason
from safetynet.i18n import t
from safetynet.web.staff_reach import OTHER, OWN_WORDS, SERVICE, UNREACHED_REASONS, reason_of


def test_every_send_failure_reason_is_in_one_group() -> None:
    """A `Reason` added to the channels and to none of the groups would be said only as 「送れませんでした」."""
    grouped = [*OWN_WORDS, *SERVICE, *OTHER]
    assert sorted(str(r) for r in Reason) == sorted(x for x in grouped if x != "channel_down")
    assert len(grouped) == len(set(grouped))


def test_each_reason_has_its_words_in_japanese_and_english() -> None:
    for reason in UNREACHED_REASONS:
        for lang in ("ja", "en"):
            assert t(lang, f"dash.unreached_reason.{reason}")  # a missing text raises KeyError
    assert reason_of("provider_undelivered:30003") == "carrier" and reason_of("channel_down") == "service"
    assert reason_of(str(Reason.BAD_REQUEST)) == "other" and reason_of(None) == "other"

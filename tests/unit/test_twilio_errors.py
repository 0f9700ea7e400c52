"""How a Twilio refusal is classified: what marks a number dead, what fails one text only."""

from __future__ import annotations

import pytest
from twilio.base.exceptions import TwilioRestException

from safetynet.channels.base import PermanentSendError, Redactor
from safetynet.channels.twilio.http import classify


def _refused(code: int) -> PermanentSendError:
    err = classify(TwilioRestException(400, "/Messages.json", msg="refused", code=code), Redactor())
    assert isinstance(err, PermanentSendError)
    return err


@pytest.mark.parametrize(("code", "reason"), [(21610, "unsubscribed"), (21614, "not_mobile")])
def test_a_refusal_of_texts_only_fails_the_text_and_keeps_the_number(code: int, reason: str) -> None:
    """Review: a STOP sent to our SMS sender (21610), or a landline in the mobile column (21614), marked the
    contact dead: the number was never called again and its 「2 助けて」 matched no household."""
    err = _refused(code)
    assert (err.reason, err.contact_dead, err.retryable) == (reason, False, False)


@pytest.mark.parametrize("code", [21211, 21214, 21217, 21612])
def test_a_number_that_cannot_work_is_dead(code: int) -> None:
    err = _refused(code)
    assert (err.reason, err.contact_dead) == ("invalid_number", True)

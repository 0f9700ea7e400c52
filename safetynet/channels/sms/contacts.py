"""The mobile contact kind and the roster's phone/携帯電話 column (pure)."""

from __future__ import annotations

from collections.abc import Mapping

from safetynet.channels.spec import ContactKindSpec, RosterColumn
from safetynet.domain.phones import (
    PhoneError,
    PhoneKind,
    format_national,
    mask_phone,
    parse_mobile,
    parse_phone,
    to_e164,
)

# A number that takes SMS and calls; stored as E.164.
MOBILE = ContactKindSpec("mobile", mask=mask_phone, normalise=to_e164)


def _phone_cell(text: str, shown: Mapping[str, str]) -> str:
    return parse_mobile(text, shown.get("landline", "landline"))


PHONE_COLUMN = RosterColumn("phone", "携帯電話", MOBILE.name, _phone_cell, format_national, aliases=("mobile", "携帯"),
                            position=10)


def parse_enrol_phone(text: str) -> str:
    """A mobile number typed on the enrolment page → E.164; PhoneError when it is none."""
    number = parse_phone(text)
    if number.kind != PhoneKind.MOBILE:
        raise PhoneError("not a mobile number")
    return number.e164

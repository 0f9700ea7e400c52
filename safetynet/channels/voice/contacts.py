"""The landline contact kind and the roster's landline/固定電話 column (pure)."""

from __future__ import annotations

from collections.abc import Mapping

from safetynet.channels.spec import ContactKindSpec, RosterColumn
from safetynet.domain.phones import format_national, mask_phone, parse_landline, to_e164

# A voice-only number (a fixed line, an 050 IP phone); stored as E.164.
LANDLINE = ContactKindSpec("landline", mask=mask_phone, normalise=to_e164)


def _landline_cell(text: str, shown: Mapping[str, str]) -> str:
    return parse_landline(text, shown.get("phone", "phone"))


LANDLINE_COLUMN = RosterColumn("landline", "固定電話", LANDLINE.name, _landline_cell, format_national,
                               aliases=("固定",), position=20)

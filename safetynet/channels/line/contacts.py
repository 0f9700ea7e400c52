"""The line contact kind (a LINE user id, `U` and 32 hex digits) and the roster's line/LINE column (pure)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from safetynet.channels.spec import ContactKindSpec, RosterColumn

_USER_ID = re.compile(r"U[0-9a-f]{32}")


def mask_user(user_id: str) -> str:
    return "LINE …" + user_id[-4:]


def parse_user_id(text: str) -> str:
    """A LINE user id as the Messaging API gives it in webhooks; ValueError otherwise.

    Hex digits are taken in either case (spreadsheets upper-case them) and stored in lower case,
    the form LINE sends, so a webhook's `source.userId` finds the contact."""
    v = unicodedata.normalize("NFKC", text).strip()
    if len(v) == 33 and v[0] in "Uu":
        v = "U" + v[1:].lower()
    if _USER_ID.fullmatch(v):
        return v
    hint = ""
    if v.startswith("@") or (v and not v.startswith(("U", "u"))):
        hint = " (a LINE ID from the app cannot be used: the bot needs the user id from a webhook)"
    raise ValueError(f"{text.strip()!r} is not a LINE user id (U and 32 hex digits){hint}")


def is_user_id(text: str) -> bool:
    return _USER_ID.fullmatch(text) is not None


def _line_cell(text: str, shown: Mapping[str, str]) -> str:
    return parse_user_id(text)


LINE = ContactKindSpec("line", mask=mask_user, normalise=parse_user_id)
LINE_COLUMN = RosterColumn("line", "LINE", LINE.name, _line_cell, aliases=("lineuserid", "lineid"), position=35)

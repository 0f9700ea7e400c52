"""The telegram contact kind (a numeric chat id) and the roster's telegram/テレグラム column (pure)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from safetynet.channels.spec import ContactKindSpec, RosterColumn

_CHAT_ID = re.compile(r"-?[1-9]\d{0,19}")


def mask_chat(chat_id: str) -> str:
    return "chat …" + chat_id[-3:]


def parse_chat_id(text: str) -> str:
    """A numeric chat id: positive for a person, negative for a (family) group chat; ValueError otherwise."""
    v = unicodedata.normalize("NFKC", text).strip()
    if _CHAT_ID.fullmatch(v):
        return v
    hint = ""
    if re.fullmatch(r"[\d.]+[eE]\+?\d+", v):
        hint = " (Excel turned it into scientific notation: format the column as text)"
    elif v.startswith("@"):
        hint = " (a @username cannot be used: the bot needs the numeric chat id)"
    raise ValueError(f"{text.strip()!r} is not a numeric Telegram chat id{hint}")


def _chat_cell(text: str, shown: Mapping[str, str]) -> str:
    return parse_chat_id(text)


TELEGRAM = ContactKindSpec("telegram", mask=mask_chat, normalise=parse_chat_id)
TELEGRAM_COLUMN = RosterColumn("telegram", "テレグラム", TELEGRAM.name, _chat_cell, aliases=("telegramchatid",),
                               position=30)

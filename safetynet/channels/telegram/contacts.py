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


# Telegram's user ids (a private chat's id is its user's) have at most 52 significant bits; groups and
# channels are negative (-100… for a supergroup or channel).
PRIVATE_CHAT_LIMIT = 2**52


def parse_private_chat_id(text: str) -> str:
    """A person's private chat id (1 to 2**52-1); ValueError for a group's or channel's or another.
    A household's (and a staff member's) Telegram contact is a person: a group chat would show every
    member's reply link to the whole group, and the bot links a household only from a private chat."""
    chat = parse_chat_id(text)
    if chat.startswith("-"):
        raise ValueError(f"{chat} is a group or channel chat: the Telegram contact must be a person's private "
                         "chat (a positive id; send /start to the bot to find it)")
    if int(chat) >= PRIVATE_CHAT_LIMIT:
        raise ValueError(f"{chat} is not a Telegram private chat id (those are below {PRIVATE_CHAT_LIMIT})")
    return chat


def _chat_cell(text: str, shown: Mapping[str, str]) -> str:
    return parse_private_chat_id(text)


TELEGRAM = ContactKindSpec("telegram", mask=mask_chat, normalise=parse_chat_id)
TELEGRAM_COLUMN = RosterColumn("telegram", "テレグラム", TELEGRAM.name, _chat_cell, aliases=("telegramchatid",),
                               position=30)

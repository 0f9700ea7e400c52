"""Button and confirmation words of the app channels (Telegram keyboards, push actions), from `safetynet.i18n`."""

from __future__ import annotations

from safetynet.i18n import t

ANSWERS = ("safe", "need_help")

_BUTTON = {"safe": "reply.safe_button", "need_help": "reply.need_help_button"}
_RECORDED = {"safe": "reply.safe_recorded", "need_help": "reply.need_help_recorded"}
_PENDING = {"safe": "reply.pending_safe", "need_help": "reply.pending_help"}


def answer_label(answer: str, language: str) -> str:
    return t(language, _BUTTON[answer])


def recorded_text(answer: str, language: str) -> str:
    return t(language, _RECORDED[answer])


def pending_text(answer: str, language: str) -> str:
    """What a phone shows for an answer it could not send yet (offline) and keeps to send later."""
    return t(language, _PENDING[answer])


def recorded_message(answer: str, language: str) -> str:
    """What a chat says once an answer is recorded: after 助けが必要, also to call 119 when a life is
    at stake (the reply page says so; the association is told, but it is no ambulance)."""
    text = recorded_text(answer, language)
    return f"{text}\n{t(language, 'reply.help_note')}" if answer == "need_help" else text


def open_label(language: str) -> str:
    """The button of a message that asks nothing (a staff alert, a cancel's notice): opens its link."""
    return t(language, "channel.open_button")


def change_label(to_answer: str, language: str) -> str:
    return t(language, "reply.change_to", label=answer_label(to_answer, language))


def other_answer(answer: str) -> str:
    return "need_help" if answer == "safe" else "safe"

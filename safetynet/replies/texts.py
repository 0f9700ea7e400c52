"""Words residents read (reply pages, SMS answers, the enrolment page), and the staff words the
alerts and the pages share: thin helpers over `safetynet.i18n`.

Households with another language get やさしい日本語, the form Japanese municipalities use for
residents of every language in a disaster; the page always offers the switch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from safetynet.channels import labels
from safetynet.domain.replies import Location
from safetynet.domain.roster import Household
from safetynet.i18n import LANGUAGES, t, ui_language

__all__ = ["LANGUAGES", "answer_label", "change_label", "location_words", "many_households", "recorded", "sentences",
           "sms_confirmation", "status_label", "t", "ui_language"]

_STATUS_WORDS = {
    "read": "reply.status.read",
    "confirmed_in_person": "reply.status.confirmed_in_person",
    "note": "reply.status.note",
    "undo": "reply.status.undo",
}


def answer_label(status: str, lang: str) -> str:
    """The button words for safe / need_help (the same words Telegram and push show)."""
    return labels.answer_label(status, ui_language(lang))


def recorded(status: str, lang: str) -> str:
    return labels.recorded_text(status, ui_language(lang))


def change_label(to_status: str, lang: str) -> str:
    return labels.change_label(to_status, ui_language(lang))


def status_label(status: str, lang: str) -> str:
    """Any status in words (history lines): answers use the button words."""
    if status in labels.ANSWERS:
        return answer_label(status, lang)
    key = _STATUS_WORDS.get(status)
    return t(ui_language(lang), key) if key else status


def sentences(lang: str, parts: Iterable[str]) -> str:
    """Sentences on one line: Japanese ones end in 。 and join without a space, others with one;
    empty parts are left out."""
    sep = "" if ui_language(lang) in ("ja", "ja-easy") else " "
    return sep.join(p for p in parts if p)


def sms_confirmation(status: str, lang: str) -> str:
    """What was recorded (after 助けが必要 also 119, as every channel: one more SMS segment, on the
    message that matters most) and how to change it, on one line."""
    ui = ui_language(lang)
    return sentences(ui, [*labels.recorded_message(status, ui).split("\n"), t(ui, "sms.change")])


def many_households(lang: str, households: Sequence[tuple[Household | None, str]], by_number: bool = True) -> str:
    """"Safe" from an address several households share: answer from each household's link, each
    under what tells them apart, `(household, link)` in order. The label is what the household's
    enrolment letter printed and what its row shows even without consent (DESIGN §9): its 班 and
    世帯番号, and the association's name when they are not all of one; never a name or an address,
    which would go by SMS to whoever holds the number (a number changes hands). A household gone
    from the store (None) gets its link alone. `by_number`: the address is a phone number, not a chat
    account (LINE, Telegram), which is told of 「このアカウント」."""
    ui = ui_language(lang)
    several = len({h.association_id for h, _ in households if h is not None}) > 1
    lines = [t(ui, "sms.many" if by_number else "sms.many_chat")]
    for h, link in households:
        if h is not None:
            where = [h.association if several else "", h.group, t(ui, "sms.many_household", household=h.household_key)]
            lines.append(" ".join(w for w in where if w))
        lines.append(link)
    return "\n".join(lines)


_LOCATIONS = frozenset(str(x) for x in Location)


def location_words(language: str, location: str) -> str:
    """Where a household said it is, in staff words (`staff.location.*`: the alerts and the dashboard's
    help cards say it alike); an unknown code is shown as stored."""
    return t(language, "staff.location." + location) if location in _LOCATIONS else location

"""Words of the data inside a catalog text (`i18n.Term`): in English as the data spells them (what
logs, the API and scripts read), in another language as the pages say them."""

from __future__ import annotations

from collections.abc import Sequence

from safetynet.i18n import LANGUAGES, Term, t
from safetynet.i18n.scopes import scope_label

_LANGUAGE_NAMES = dict(LANGUAGES)


def state_word(state: str) -> Term:
    """A campaign's state: `closed` in English, 「終了」 in Japanese."""
    return Term(str(state), lambda lang: t(lang, f"dash.state_{state}"))


def kind_word(kind: str) -> Term:
    """A campaign's kind: `drill` in English, 「訓練」 in Japanese (the console's word)."""
    return Term(str(kind), lambda lang: t(lang, "dash." + (str(kind) if kind in ("real", "check") else "drill")))


def role_word(role: str) -> Term:
    """A staff member's role: `association_head` in English, 「町会長」 in Japanese."""
    return Term(str(role), lambda lang: t(lang, f"cli.role.{role}"))


def contact_kind_word(kind: str) -> Term:
    """A contact's kind: `mobile` in English, 「携帯電話…」 in Japanese."""
    return Term(str(kind), lambda lang: t(lang, f"contact.kind.{kind}"))


def scope_word(scope: str) -> Term:
    """One scope: `association:東町会` in English, 「町会: 東町会」 in Japanese."""
    return Term(str(scope), lambda lang: scope_label(lang, str(scope)))


def scope_words(scope: Sequence[str]) -> Term:
    """A campaign's scopes, joined as each language joins a list."""
    return Term(", ".join(scope), lambda lang: "、".join(scope_label(lang, s) for s in scope))


def language_word(code: str) -> Term:
    """A message's language: `en` in English (as the API and scenario files write `messages.en`), its
    own name elsewhere (the language switch's: English, 日本語)."""
    return Term(code, lambda lang: _LANGUAGE_NAMES.get(code, code))

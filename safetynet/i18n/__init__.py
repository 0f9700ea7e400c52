"""Every text a person reads: one gettext catalog per language, `locale/<lang>/LC_MESSAGES/messages.po`.

Message ids are symbolic keys namespaced by area (`reply.safe_button`, `sms.help`, `staff.need_help.title`,
`dash.logout`); texts take `str.format` placeholders (`{association}`). `ja` is the source catalog and has
every key. A text missing from another catalog falls back: ja-easy → ja, en → ja, zh/ko/vi/pt → ja-easy → ja
(easy Japanese is what Japanese municipalities give residents of every language in a disaster).

The .po files are read once at import with Babel (no compiled .mo, no build step) into plain dicts.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

__all__ = [
    "CATALOGS", "FALLBACK", "LANGUAGES", "PAGE_LANGUAGES", "SOURCE",
    "SaidError", "Sayable", "Term", "Text", "catalog", "catalog_language", "fallback_chain", "t", "translations", "ui_language",
]

SOURCE = "ja"
CATALOGS = ("ja", "ja-easy", "en", "zh", "ko", "vi", "pt")
FALLBACK: Mapping[str, str] = MappingProxyType(
    {"ja-easy": "ja", "en": "ja", "zh": "ja-easy", "ko": "ja-easy", "vi": "ja-easy", "pt": "ja-easy"}
)
# The languages a resident's page is offered in: the catalogs complete for those pages (the reply
# and enrolment pages, their dead ends, the messages; tests/unit/test_i18n.py checks RESIDENT_PREFIXES).
PAGE_LANGUAGES = ("ja", "ja-easy", "en", "zh", "ko", "vi", "pt")


def _po(lang: str) -> Catalog:
    path = resources.files(__package__) / "locale" / lang / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as f:
        # abort_invalid: a broken catalog stops the import instead of losing texts quietly
        return read_po(f, ignore_obsolete=True, abort_invalid=True)


def _entries(po: Catalog) -> dict[str, str]:
    """The usable texts: fuzzy and empty entries are left out (their key falls back)."""
    return {m.id: m.string for m in po
            if m.id and isinstance(m.id, str) and isinstance(m.string, str) and m.string and not m.fuzzy}


def fallback_chain(lang: str) -> Iterator[str]:
    """`lang`, then the catalogs it falls back on, ending with the source."""
    yield lang
    while lang in FALLBACK:
        lang = FALLBACK[lang]
        yield lang


def _with_fallbacks(lang: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for step in reversed(list(fallback_chain(lang))):
        merged.update(_OWN[step])
    return merged


_OWN: dict[str, dict[str, str]] = {lang: _entries(_po(lang)) for lang in CATALOGS}
# Each language's texts with its fallbacks merged in: one dict lookup per text.
_TEXTS: dict[str, dict[str, str]] = {lang: _with_fallbacks(lang) for lang in CATALOGS}


def catalog_language(language: str) -> str:
    """The catalog for any language code: its own, else English for en-*, Japanese for ja-*,
    the base language (pt-BR → pt), and やさしい日本語 for the rest."""
    code = language.strip()
    if code in _TEXTS:
        return code
    low = code.lower().replace("_", "-")
    if low in _TEXTS:
        return low
    if low.startswith("en"):
        return "en"
    base = low.split("-", 1)[0]
    if base == "ja":
        return "ja"
    return base if base in _TEXTS else "ja-easy"


def ui_language(language: str | None) -> str:
    """One of PAGE_LANGUAGES for any household language (the reply and enrolment pages)."""
    if language in PAGE_LANGUAGES:  # the usual case, on every text of a page
        return language
    lang = catalog_language(language or "")
    return lang if lang in PAGE_LANGUAGES else "ja-easy"


def t(lang: str, key: str, /, **values: object) -> str:
    """The text `key` in `lang` (with fallback), its `{placeholders}` filled from `values`."""
    texts = _TEXTS.get(lang)
    if texts is None:
        texts = _TEXTS[catalog_language(lang)]
    try:
        text = texts[key]
    except KeyError:
        raise KeyError(f"no text {key!r} in the {SOURCE} catalog") from None
    return text.format(**values) if values else text


@runtime_checkable
class Sayable(Protocol):
    """Anything that says itself in a reader's language (a Text, a Term, an error that carries a Text)."""

    def text(self, lang: str, /) -> str: ...


class Text:
    """A catalog text said later, in its reader's language: made where the reader is not known (the
    broadcast service refusing a campaign), said by whoever shows it (the console in the page's
    language, the CLI in the terminal's). A value that is itself Sayable is said in the same language.
    `str()` is the English (logs, tests, the API's JSON)."""

    __slots__ = ("key", "values")

    def __init__(self, key: str, /, **values: object) -> None:
        self.key = key
        self.values = values

    def text(self, lang: str, /) -> str:
        return t(lang, self.key, **{k: v.text(lang) if isinstance(v, Sayable) else v for k, v in self.values.items()})

    def __str__(self) -> str:
        return self.text("en")

    def __repr__(self) -> str:
        return f"Text({self.key!r}, {self.values!r})"


class SaidError(Exception):
    """An error whose words are a catalog text and its values: `str()` is the English (logs, tests, the
    JSON APIs), `text(lang)` says it to the person who reads it (a console page, the CLI)."""

    def __init__(self, key: str, /, **values: object) -> None:
        self.said = Text(key, **values)
        super().__init__(str(self.said))

    def text(self, lang: str, /) -> str:
        return self.said.text(lang)


class Term:
    """A word of the data inside a Text (a campaign's state, a scope, a language code): in English as
    the data spells it (`pending_approval`, `association:…`: what logs, the API and scripts have
    always read), in any other language `words(lang)`."""

    __slots__ = ("word", "words")

    def __init__(self, word: str, words: Callable[[str], str]) -> None:
        self.word = word
        self.words = words

    def text(self, lang: str, /) -> str:
        return self.word if lang == "en" else self.words(lang)

    def __str__(self) -> str:
        return self.word


def catalog(lang: str) -> Mapping[str, str]:
    """The texts of one catalog as written, without fallback (for tests and tools)."""
    return MappingProxyType(_OWN[lang])


def translations(lang: str) -> gettext.NullTranslations:
    """A gettext `Translations` of one catalog, with its fallbacks, for Jinja2's i18n extension.

    `gettext(key)` gives the text unformatted: fill its `{placeholders}` with `str.format` (or use `t`).
    """
    return _translations(catalog_language(lang))


@cache
def _translations(lang: str) -> gettext.NullTranslations:
    from babel.messages.mofile import write_mo  # only templates need these: not every process
    from babel.support import Translations

    buf = io.BytesIO()
    write_mo(buf, _po(lang))
    buf.seek(0)
    tr = Translations(buf)
    if lang in FALLBACK:
        tr.add_fallback(_translations(FALLBACK[lang]))
    return tr


# (code, the language's own name) of the languages a resident's page offers.
LANGUAGES: tuple[tuple[str, str], ...] = tuple((code, _OWN[code]["language.name"]) for code in PAGE_LANGUAGES)

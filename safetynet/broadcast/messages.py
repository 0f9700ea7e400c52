"""Message text per household language and channel (pure).

The campaign gives a body per language; the household's language is used when the campaign has
a text for it, else the city's default language. Drills carry 【訓練】 (Japanese texts) or [DRILL]
(every other language) at the very start. Every text ends with the household's reply URL; SMS
adds the reply keywords, since a feature phone may not open links.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from safetynet.domain import Channel
from safetynet.i18n import CATALOGS, t

JAPANESE = frozenset({"ja", "ja-easy"})


@dataclass(frozen=True)
class Wording:
    drill_prefix: str
    reply_label: str
    sms_hint: str


@functools.lru_cache(maxsize=64)  # called for every message sent; few languages
def wording(language: str) -> Wording:
    """The words around a body in `language`; a language without a catalog gets English ones (its
    readers more likely read English than Japanese)."""
    lang = language if language in CATALOGS else ("ja" if language in JAPANESE else "en")
    return Wording(t(lang, "message.drill_prefix"), t(lang, "message.reply_label"), t(lang, "message.sms_hint"))


def text_language(messages: Mapping[str, str], language: str, default: str = "ja") -> str:
    """The language the household will read: its own if the campaign has a text for it."""
    if language in messages and messages[language].strip():
        return language
    base = language.split("-")[0]
    if base != language and base in messages and messages[base].strip():
        return base
    if default in messages:
        return default
    return next(iter(messages), default)


def drill_prefix(language: str) -> str:
    return wording(language).drill_prefix


def title_for(title: str, language: str, drill: bool) -> str:
    return f"{drill_prefix(language)}{title}" if drill else title


def compose(
    *,
    messages: Mapping[str, str],
    title: str,
    language: str,
    drill: bool,
    reply_url: str,
    channel: Channel,
    default_language: str = "ja",
) -> tuple[str, str]:
    """(text language, message text) for one household on one channel."""
    lang = text_language(messages, language, default_language)
    w = wording(lang)
    body = messages.get(lang, "").strip()
    prefix = w.drill_prefix if drill else ""
    if channel == Channel.SMS:
        # SMS is billed per 70-character segment: no title, the link, then the keywords.
        return lang, f"{prefix}{body}\n{reply_url}\n{w.sms_hint}"
    if channel == Channel.VOICE:
        return lang, f"{prefix}{body}\n{reply_url}"
    head = f"{prefix}{title}\n" if title and title not in body else prefix
    return lang, f"{head}{body}\n{w.reply_label}: {reply_url}"

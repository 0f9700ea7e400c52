"""Message text per household language and channel (pure).

The campaign gives a body per language; the household's language is used when the campaign has
a text for it, else the city's default language, under a line in the household's own language
saying what the message is (`message.other_language_intro`). Drills carry 【訓練】 (Japanese texts) or [DRILL]
(every other language) at the very start; an SMS names its sender next (【さくら市】). Every text
carries the household's reply URL; a channel's spec picks the layout (`channels.spec.MESSAGE_*`):
the keyword layout (SMS) adds the reply keywords, since a feature phone may not open links; the link-first layout (email) starts with it;
the shared layout (a multicast answered by buttons) carries no per-household link at all.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from safetynet.channels import registry
from safetynet.channels.spec import (
    MESSAGE_FULL,
    MESSAGE_KEYWORDS,
    MESSAGE_LINK_FIRST,
    MESSAGE_NOTIFICATION,
    MESSAGE_SHARED,
    MESSAGE_SPOKEN,
)
from safetynet.domain import ChannelName
from safetynet.i18n import CATALOGS, t

JAPANESE = frozenset({"ja", "ja-easy"})


@dataclass(frozen=True)
class Wording:
    drill_prefix: str
    reply_label: str
    sms_hint: str


@functools.lru_cache(maxsize=64)  # called for every message sent; few languages
def _catalog_of(language: str) -> str:
    """The catalog for `language`: its own, else English (its readers more likely read English than
    Japanese; a Japanese variant without one gets Japanese)."""
    if language in CATALOGS:
        return language
    base = language.split("-")[0]  # pt-BR reads pt
    return base if base in CATALOGS else ("ja" if language in JAPANESE else "en")


def wording(language: str) -> Wording:
    """The words around a body in `language` (`_catalog_of`)."""
    lang = _catalog_of(language)
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


@functools.lru_cache(maxsize=64)
def sender_mark(language: str, city: str, city_latin: str = "") -> str:
    """"【さくら市】": who sends an SMS (an unknown number with a link looks like phishing).

    A Latin-script text names the city in Latin letters (`city_latin`, "[Sakura City] "): one kanji
    turns a GSM-7 message into UCS-2, which halves a segment (70 characters instead of 160) and
    doubles the bill of a city's English SMS. Without a Latin name those texts name no sender."""
    lang = _catalog_of(language)
    if lang not in _WIDE_SCRIPTS and not city.isascii():
        city = city_latin
    if not city:
        return ""
    return t(lang, "message.sender", city=city)


# Texts in these languages are UCS-2 SMS anyway: a Japanese city name costs no more than its length.
_WIDE_SCRIPTS = frozenset({"ja", "ja-easy", "zh", "ko"})


def _without_mark(text: str, mark: str) -> str:
    """`text` without a drill mark its writer already put first: the mark is added once (QA: an SMS
    read 【訓練】【さくら市】【訓練】…). Case and the space after it do not matter."""
    bare = mark.strip()
    if bare and text[: len(bare)].casefold() == bare.casefold():
        return text[len(bare):].lstrip()
    return text


def title_for(title: str, language: str, drill: bool) -> str:
    mark = drill_prefix(language)
    return f"{mark}{_without_mark(title, mark)}" if drill else title


def compose(
    *,
    messages: Mapping[str, str],
    title: str,
    language: str,
    drill: bool,
    reply_url: str,
    channel: ChannelName,
    default_language: str = "ja",
    layout: str | None = None,
    city: str = "",
    city_latin: str = "",
) -> tuple[str, str]:
    """(text language, message text) for one household on one channel (in the channel's layout, or
    `layout`); `city` names the sender where nothing else does (SMS)."""
    lang = text_language(messages, language, default_language)
    body = messages.get(lang, "").strip()
    reader = _catalog_of(language)
    # only over a Japanese text (the line says so), and for a language with a catalog of its own: one
    # without reads やさしい日本語 elsewhere (the reply page, the import's warning), so it stays as it was
    own = language in CATALOGS or language.split("-")[0] in CATALOGS
    layout = layout or layout_of(channel)
    if own and reader not in JAPANESE and _catalog_of(lang) in JAPANESE and layout == MESSAGE_SPOKEN:
        # a call reads its text in the voice of the household's language: a Japanese text there is noise,
        # and the line saying to answer by the link has no link to point at (review: an English voice read
        # both); the call's own question, in their language, stays
        body, lang = "", reader
    elif own and reader not in JAPANESE and _catalog_of(lang) in JAPANESE:
        # no text in the household's language (QA: vi, pt and zh households got the Japanese text and
        # 回答はこちら): a line in theirs says what this is, the text follows, and each layout its own way
        # to answer (a LINE alert has buttons, no link: the line said "answer by the link", review)
        body = f"{t(reader, 'message.other_language_intro')}\n{body}"
        lang = reader
    w = wording(lang)
    prefix = w.drill_prefix if drill else ""
    if drill:
        body, title = _without_mark(body, prefix), _without_mark(title, prefix)
    if layout == MESSAGE_KEYWORDS:
        # SMS is billed per 70-character segment: no title, the link, then the keywords (last: a text too
        # long is cut before the link, `channels.sms.segments.fit_sms`, and keeps what follows it).
        return lang, f"{prefix}{sender_mark(lang, city, city_latin)}{body}\n{reply_url}\n{w.sms_hint}"
    if layout == MESSAGE_SPOKEN:
        return lang, f"{prefix}{body}\n{reply_url}"
    if layout == MESSAGE_NOTIFICATION:
        # the drill mark stays on the text too: a notification may be shown by its text alone
        return lang, f"{prefix}{body}\n{w.reply_label}: {reply_url}"
    head = f"{prefix}{title}\n" if title and title not in body else prefix
    if layout == MESSAGE_SHARED:
        return lang, f"{head}{body}"
    if layout == MESSAGE_LINK_FIRST:
        # a reply to the mail is read by nobody (review: an elderly resident replied 「助けて」): it says so
        return lang, f"{w.reply_label}: {reply_url}\n{t(_catalog_of(lang), 'message.mail_reply_not_read')}\n\n{head}{body}"
    return lang, f"{head}{body}\n{w.reply_label}: {reply_url}"


def layout_of(channel: ChannelName) -> str:
    """The message layout the channel's spec asks for (the full one for anything else)."""
    return registry.spec(channel).message if registry.is_channel(channel) else MESSAGE_FULL


def compose_notice(*, title: str, language: str, drill: bool, channel: ChannelName, city: str = "",
                   city_latin: str = "") -> str:
    """A cancelled campaign's word to a household that got its message: in the household's language
    (its catalog's), the campaign's title to say which one, no link to answer by; an SMS names its sender."""
    lang = notice_language(language, channel)
    prefix = drill_prefix(lang) if drill else ""
    title = " ".join(title.split())
    if drill:  # the mark is said once, first: neither the reader's nor the Japanese one inside the title
        title = _without_mark(_without_mark(title, prefix), drill_prefix("ja"))
    sender = sender_mark(lang, city, city_latin) if layout_of(channel) == MESSAGE_KEYWORDS else ""
    return f"{prefix}{sender}{t(lang, 'message.cancelled', title=title)}"


# The languages a call's voice reads (channels.voice: a Japanese and an English voice).
_SPOKEN = frozenset({"ja", "ja-easy", "en"})


def notice_language(language: str, channel: ChannelName) -> str:
    """The catalog a household's notice is written in: its own (`_catalog_of`), but Japanese on a
    call to a household whose language the call's voice does not speak (Vietnamese read by a
    Japanese voice is noise)."""
    lang = _catalog_of(language)
    return "ja" if layout_of(channel) == MESSAGE_SPOKEN and lang not in _SPOKEN else lang


def notice_title(language: str, drill: bool) -> str:
    """The subject or title of a household notice (email, push)."""
    lang = _catalog_of(language)
    return f"{drill_prefix(lang) if drill else ''}{t(lang, 'message.cancelled_title')}"


def check_texts() -> dict[str, str]:
    """A contact check's body per language (the catalogs': a check is never written by hand)."""
    return {lang: t(lang, "message.check.body") for lang in CATALOGS}


def compose_check(*, messages: Mapping[str, str], language: str, confirm_url: str, channel: ChannelName,
                  default_language: str = "ja", city: str = "", city_latin: str = "") -> tuple[str, str, str]:
    """(text language, title, text) of a contact check: no drill mark, no answer keywords (a reply
    "1" is not a confirmation: the contact's own link is). Its title says who sends it (`city`): it
    goes to every contact in quiet times, a link to open from an unknown sender."""
    lang = text_language(messages, language, default_language)
    cat = lang if lang in CATALOGS else ("ja" if lang in JAPANESE else "en")
    mark = sender_mark(lang, city, city_latin)
    title = f"{mark}{t(cat, 'message.check.title')}"
    label = t(cat, "message.check.link_label")
    body = messages.get(lang, "").strip()
    layout = layout_of(channel)
    if layout in (MESSAGE_KEYWORDS, MESSAGE_SPOKEN):
        return lang, title, f"{mark}{body}\n{confirm_url}"
    if layout == MESSAGE_LINK_FIRST:
        return lang, title, f"{label}: {confirm_url}\n\n{title}\n{body}"
    return lang, title, f"{title}\n{body}\n{label}: {confirm_url}"

"""HTML of the reply page: the question, the confirmation with its details form, the plain 404.

No JavaScript: two buttons in a form work on every phone. Everything shown is escaped.
"""

from __future__ import annotations

import binascii
import functools
import os
import re
from collections.abc import Sequence

from markupsafe import escape

from safetynet.domain import ANSWERED as ANSWERED_STATUSES
from safetynet.domain import CampaignKind, Status
from safetynet.domain.japan_time import month_day_time
from safetynet.domain.replies import Location, ReplyDetails
from safetynet.replies import texts
from safetynet.replies.intake import clip_note
from safetynet.templating import fragment, page_context, render

# Inside each page of the reply flow, not linked: a resident's phone on the night of an earthquake
# gets the page styled (its buttons thumb-sized) in one request, or not at all (templating.inline_css)
_STYLES = ("/static/base.css", "/static/reply.css")
_LOCATIONS = (Location.HOME, Location.SHELTER, Location.ELSEWHERE)


class _KeyBlock:
    """Random bytes for form keys, drawn 256 keys at a time: one getrandom call, not one a page
    (it was 5% of the reply page's CPU). Forgotten in a forked child, which must not reuse them."""

    def __init__(self) -> None:
        self._bytes = b""
        self._at = 0
        os.register_at_fork(after_in_child=self.forget)

    def forget(self) -> None:
        self._bytes, self._at = b"", 0

    def take(self) -> bytes:
        if self._at >= len(self._bytes):
            self._bytes, self._at = os.urandom(_KEY_BYTES * 256), 0
        self._at += _KEY_BYTES
        return self._bytes[self._at - _KEY_BYTES:self._at]


_KEY_BYTES = 16
_KEYS = _KeyBlock()


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def fresh_key() -> str:
    """A per-form idempotency key: a re-sent form (refresh, flaky network) is counted once."""
    return fresh_key_bytes().decode("ascii")


def fresh_key_bytes() -> bytes:
    """`fresh_key` as the page's bytes (base64url without padding, as `base64.urlsafe_b64encode`
    makes it, without its Python wrapper: 1.3 -> 0.9 µs)."""
    return binascii.b2a_base64(_KEYS.take(), newline=False).translate(_URLSAFE).rstrip(b"=")


def _switch(token: str) -> list[tuple[str, str, str]]:
    return [(code, label, f"/r/{token}?lang={code}") for code, label in texts.LANGUAGES]


def alert_text(messages: dict[str, str], household_lang: str, lang: str) -> str:
    for key in (lang, household_lang, "ja", "en"):
        if messages.get(key):
            return messages[key]
    return next(iter(messages.values()), "")


def question_page(
    token: str,
    lang: str,
    association: str,
    kind: CampaignKind,
    title: str,
    alert: str,
    current: Status,
    recent: Sequence[tuple[float, str]],
    notice: str = "",
) -> bytes:
    """The question, as sent (UTF-8). Its template is filled once per (language, texts, answer) and cached: the
    page every resident of a city opens within minutes differs only in its token, key, association
    and history. The association is a placeholder too: a city of a thousand associations and a few
    languages would otherwise outgrow the cache, and a miss renders the whole template."""
    current_label = texts.status_label(current, lang) if current in ANSWERED_STATUSES else ""
    parts = _question_parts(lang, kind == CampaignKind.DRILL, title, alert, current_label, notice)
    shown = _changes(recent)
    past = _history_section(lang, shown) if shown else b""
    # escaping is per character, so escaping the name alone equals escaping the sentence around it;
    # NUL never belongs in a text, and must not pass for a placeholder
    return parts.fill({_TOKEN_AT: token.encode(), _KEY_AT: fresh_key_bytes(), _HISTORY_AT: past,
                       _ASSOCIATION_AT: escape(association.replace("\x00", "")).encode()})


@functools.lru_cache(maxsize=256)  # languages x campaign texts x answers of the running campaigns
def _question_parts(lang: str, drill: bool, title: str, alert: str, current: str, notice: str) -> _Parts:
    title, alert, current, notice = (x.replace("\x00", "") for x in (title, alert, current, notice))
    page = render(
        "reply.html",
        **page_context(lang=lang, title=texts.t(lang, "reply.title"), styles=(), inline_styles=_STYLES, languages=_switch(_TOKEN)),
        token=_TOKEN, key=_KEY, status=None, history=_HISTORY, association=_ASSOCIATION,
        drill=texts.t(lang, "reply.drill") if drill else "", heading=title, notice=notice, alert=alert,
        current=current, safe_label=texts.answer_label("safe", lang), help_label=texts.answer_label("need_help", lang),
    )
    return _Parts(page)


def _changes(recent: Sequence[tuple[float, str]]) -> tuple[tuple[int, str], ...]:
    """The answers by minute, one line where the answer changed: details sent after "need help"
    are a second reply with the same answer, and two 「助けが必要」 lines read as asking twice."""
    shown: list[tuple[int, str]] = []
    for at, status in recent:
        if not shown or shown[-1][1] != status:
            shown.append((int(at // 60), status))
    return tuple(shown)


@functools.lru_cache(maxsize=4096)
def _history_section(lang: str, shown: tuple[tuple[int, str], ...]) -> bytes:
    """The earlier answers, by minute: the households that answered in the same minute (most of a
    city, in the first ones) share one rendering."""
    return str(fragment("reply_history.html", lang=lang, history=[
        (month_day_time(minute * 60), texts.status_label(status, lang)) for minute, status in shown])).encode()


# Placeholders in cached pages: a token is [A-Za-z0-9_-] (checked before any page is made).
_TOKEN, _K1, _K2 = "\x00T\x00", "\x00K1\x00", "\x00K2\x00"
_KEY, _HISTORY, _ASSOCIATION, _SENT = "\x00K\x00", "\x00H\x00", "\x00A\x00", "\x00S\x00"
_MOVED = "\x00M\x00"
_PLACEHOLDER = re.compile(r"(\x00\w+\x00)")
# the same placeholders among a page's UTF-8 parts (`_Parts`)
_TOKEN_AT, _K1_AT, _K2_AT, _KEY_AT, _HISTORY_AT, _ASSOCIATION_AT, _SENT_AT, _MOVED_AT = (
    p.encode() for p in (_TOKEN, _K1, _K2, _KEY, _HISTORY, _ASSOCIATION, _SENT, _MOVED))


class _Parts:
    """A filled template as UTF-8 parts around its placeholders, and where each placeholder sits: a
    page is then joined as bytes, not built as text and encoded whole for every resident (most of it
    Japanese, 3 bytes a character), and only the placeholders' places are written (a look-up for
    each of a page's 25 parts cost more than its join: the confirmation 5.3 -> 3.9 µs by timeit, issue 18)."""

    __slots__ = ("_parts", "_places")

    def __init__(self, page: str) -> None:
        # `re.split` with a group: the placeholders are every other part, from the second
        self._parts = [part.encode() for part in _PLACEHOLDER.split(page)]
        places: dict[bytes, list[int]] = {}
        for n in range(1, len(self._parts), 2):
            places.setdefault(self._parts[n], []).append(n)
        self._places = {name: tuple(at) for name, at in places.items()}

    def fill(self, values: dict[bytes, bytes]) -> bytes:
        """The page with each placeholder named in `values` replaced by its value (UTF-8, escaped already)."""
        out = self._parts.copy()
        places = self._places
        for name, value in values.items():
            for n in places.get(name, ()):
                out[n] = value
        return b"".join(out)


_CONFIRMATIONS: dict[tuple[str, str, bool], _Parts] = {}


def confirmation_page(token: str, lang: str, status: str, details: ReplyDetails, with_details: bool,
                      moved: str = "") -> bytes:
    """The page after an answer, as sent (UTF-8). Built once per language, answer and notice, then
    filled in: it is the page every answer of a city gets within minutes. `moved`: the words saying the
    answer went to another campaign than the link's (`reply.moved`), shown under the heading."""
    saved = with_details and not details.empty
    key = (lang, status, saved)
    parts = _CONFIRMATIONS.get(key)
    if parts is None:
        parts = _CONFIRMATIONS[key] = _Parts(_confirmation_template(lang, status, saved))
    base = fresh_key_bytes()
    # one random draw, two keys: the details form and the change form are different answers
    values = {_TOKEN_AT: token.encode(), _K1_AT: base + b"-d", _K2_AT: base + b"-c",
              _MOVED_AT: _moved_notice(moved) if moved else b""}
    if saved:
        values[_SENT_AT] = _details_sent(lang, details).encode()
    return parts.fill(values)


def _moved_notice(moved: str) -> bytes:
    """Under the heading: the answer went to the running campaign, not the closed one of the link."""
    return str(fragment("reply_moved.html", text=moved.replace("\x00", ""))).encode()


def _details_sent(lang: str, details: ReplyDetails) -> str:
    """The details as stored (the note clipped as the intake clips it), escaped by the template.
    Rendered per answer: details are the rare answer, and each differs."""
    rows: list[tuple[str, str]] = []
    for name, n in (("people_safe", details.people_safe), ("people_injured", details.people_injured)):
        if n is not None:
            rows.append((texts.t(lang, f"reply.details.{name}"), str(n)))
    if details.location is not None:
        rows.append((texts.t(lang, "reply.details.location"), texts.t(lang, f"reply.location.{details.location}")))
    note = clip_note(details.note)
    if note:
        rows.append((texts.t(lang, "reply.details.note_sent"), note.replace("\x00", "")))
    # a phone that ignores maxlength sends more than is kept: say so rather than cut in silence
    cut = note is not None and details.note is not None and len(details.note.strip()) > len(note)
    return str(fragment("reply_details_sent.html", lang=lang, rows=rows, cut=cut))


def _confirmation_template(lang: str, status: str, saved: bool) -> str:
    other = "need_help" if status == Status.SAFE else "safe"
    return render(
        "reply_done.html",
        **page_context(lang=lang, title=texts.t(lang, "reply.title"), styles=(), inline_styles=_STYLES, languages=_switch(_TOKEN)),
        token=_TOKEN, key_details=_K1, key_change=_K2, moved=_MOVED, status=status, other=other,
        cls="safe" if status == Status.SAFE else "help", recorded=texts.recorded(status, lang),
        help_note=status == Status.NEED_HELP, saved=saved, sent=_SENT, locations=[str(x) for x in _LOCATIONS],
        change_label=texts.change_label(other, lang),
    )


def dead_end_page(heading: str, what: str, contact_phone: str, city: str, status_code: int,
                  retry: bool = False, back: str = "", back_label: str = "reply.back",
                  retry_label: str = "enrol.try_again", title: str = "") -> str:
    """A link or code that leads nowhere: what happened, what to do, whom to call (ja, then en);
    `back`, a page of ours to go back to, on a button saying `back_label` (a catalog key); `retry`,
    the field to type an enrolment code, labelled `retry_label`."""
    return render(
        "dead_end.html",
        **page_context(lang="ja", title=title or str(status_code), styles=(), inline_styles=_STYLES),
        page_langs=("ja", "en"), retry=retry, retry_label=retry_label, heading=heading, what=what,
        phone=contact_phone, city=city,
        tel="".join(c for c in contact_phone if c.isdigit() or c == "+"), back=back, back_label=back_label,
    )


@functools.lru_cache(maxsize=64)  # languages x cancelled campaigns
def cancelled_page(lang: str, drill: bool, title: str) -> str:
    """A cancelled campaign's reply page: cancelled, no answer needed, whom to call if help is needed."""
    return render("reply_cancelled.html", **page_context(lang=lang, title=texts.t(lang, "reply.cancelled"), styles=(), inline_styles=_STYLES),
                  drill=texts.t(lang, "reply.drill") if drill else "", heading=title.replace("\x00", ""))


@functools.lru_cache(maxsize=4)  # one city, one number: the same page for every bad link
def not_found_page(contact_phone: str = "", city: str = "") -> str:
    """The same page for unknown, malformed and expired links, in Japanese and English."""
    return dead_end_page("reply.not_found", "reply.not_found_what", contact_phone, city, 404)


@functools.lru_cache(maxsize=1)
def too_large_page() -> str:
    return dead_end_page("reply.too_large", "", "", "", 413)


@functools.lru_cache(maxsize=1)
def too_many_page() -> str:
    """A resident's 429 (often a carrier's shared address, not the resident): wait and try again."""
    return dead_end_page("reply.too_many", "reply.too_many_what", "", "", 429)


@functools.lru_cache(maxsize=8)
def unreadable_page(status_code: int) -> str:
    """A resident's form the server could not read (bytes that are not UTF-8, another content type,
    a body that stopped coming): say so in words, not in Python's."""
    return dead_end_page("reply.unreadable", "reply.unreadable_what", "", "", status_code)


@functools.lru_cache(maxsize=64)
def too_large_answer_page(token: str) -> str:
    """An answer form over the size limit (a note far past its 200 characters, from a phone that
    ignores maxlength): what to shorten, and the way back to the question. `token` was checked to
    look like one (it is escaped all the same)."""
    return dead_end_page("reply.too_large", "reply.too_large_what", "", "", 413, back=f"/r/{token}")


@functools.lru_cache(maxsize=64)
def wrong_method_page(back: str = "", back_label: str = "reply.back") -> str:
    """A resident's URL asked for with a method it does not take (405: the address of a form's answer
    opened again, a script): say so in words, and the way back to `back` if the URL names one."""
    return dead_end_page("reply.wrong_method", "reply.wrong_method_what", "", "", 405, back=back, back_label=back_label)

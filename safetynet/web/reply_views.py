"""HTML of the reply page: the question, the confirmation with its details form, the plain 404.

No JavaScript: two buttons in a form work on every phone. Everything shown is escaped.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta, timezone

from safetynet.domain import ANSWERED as ANSWERED_STATUSES
from safetynet.domain import CampaignKind, Status
from safetynet.domain.replies import HistoryEntry, Location, ReplyDetails
from safetynet.replies import texts
from safetynet.web.layout import esc, page

JST = timezone(timedelta(hours=9))
_STYLES = ("/static/base.css", "/static/reply.css")
_LOCATIONS = (Location.HOME, Location.SHELTER, Location.ELSEWHERE)


def fresh_key() -> str:
    """A per-form idempotency key: a re-sent form (refresh, flaky network) is counted once."""
    return secrets.token_urlsafe(16)


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, JST).strftime("%m/%d %H:%M")


def _switch(token: str) -> list[tuple[str, str, str]]:
    return [(code, label, f"/r/{token}?lang={code}") for code, label in texts.LANGUAGES]


def alert_text(messages: dict[str, str], household_lang: str, lang: str) -> str:
    for key in (lang, household_lang, "ja", "en"):
        if messages.get(key):
            return messages[key]
    return next(iter(messages.values()), "")


def _hidden(key: str, lang: str, status: str | None = None) -> str:
    out = f'<input type="hidden" name="k" value="{key}"><input type="hidden" name="lang" value="{esc(lang)}">'
    if status:
        out += f'<input type="hidden" name="status" value="{esc(status)}">'
    return out


def _buttons(token: str, lang: str) -> str:
    return (
        f'<form method="post" action="/r/{esc(token)}" class="answer">{_hidden(fresh_key(), lang)}'
        f'<button type="submit" name="status" value="safe" class="big safe">{esc(texts.answer_label("safe", lang))}</button>'
        f'<button type="submit" name="status" value="need_help" class="big help">'
        f'{esc(texts.answer_label("need_help", lang))}</button></form>'
    )


def question_page(
    token: str,
    lang: str,
    association: str,
    kind: CampaignKind,
    title: str,
    alert: str,
    current: Status,
    history: list[HistoryEntry],
    notice: str = "",
) -> str:
    drill = texts.t(lang, "reply.drill") if kind == CampaignKind.DRILL else ""
    parts = [
        f'<main class="reply"><p class="assoc">{esc(texts.t(lang, "reply.lead", association=association))}</p>',
        f"<h1>{esc(drill)}{esc(title)}</h1>",
    ]
    if notice:
        parts.append(f'<p class="notice" role="alert">{esc(notice)}</p>')
    if alert:
        parts.append(f'<p class="alert">{esc(alert)}</p>')
    if current in ANSWERED_STATUSES:
        parts.append(f'<p class="current">{esc(texts.t(lang, "reply.current", label=texts.status_label(current, lang)))}</p>')
    parts.append(f'<p class="ask">{esc(texts.t(lang, "reply.ask"))}</p>')
    parts.append(_buttons(token, lang))
    parts.append(f'<p class="muted">{esc(texts.t(lang, "reply.read_only"))} {esc(texts.t(lang, "reply.change_hint"))}</p>')
    parts.append(_history(history, lang))
    parts.append("</main>")
    return page(texts.t(lang, "reply.title"), "".join(parts), lang=lang, styles=_STYLES, languages=_switch(token))


def _history(history: list[HistoryEntry], lang: str) -> str:
    shown = [h for h in history if h.status != "read"]
    if not shown:
        return ""
    items = "".join(f"<li>{esc(_when(h.at))} {esc(texts.status_label(h.status, lang))}</li>" for h in shown[-10:])
    return f'<section class="history"><h2>{esc(texts.t(lang, "reply.history"))}</h2><ul>{items}</ul></section>'


def _number(name: str, label: str) -> str:
    return (
        f'<label>{esc(label)} <input type="number" name="{name}" min="0" max="99" inputmode="numeric"'
        ' class="num"></label>'
    )


def _details_form(token: str, lang: str, status: str, key: str) -> str:
    radios = "".join(
        f'<label class="radio"><input type="radio" name="location" value="{loc}"> {esc(texts.t(lang, "reply.location." + loc))}'
        "</label>"
        for loc in _LOCATIONS
    )
    return (
        f'<form method="post" action="/r/{esc(token)}" class="details">{_hidden(key, lang, status)}'
        f'<input type="hidden" name="details" value="1">'
        f"<fieldset><legend>{esc(texts.t(lang, 'reply.details.title'))}</legend>"
        f"{_number('people_safe', texts.t(lang, 'reply.details.people_safe'))}"
        f"{_number('people_injured', texts.t(lang, 'reply.details.people_injured'))}"
        f'<fieldset class="where"><legend>{esc(texts.t(lang, "reply.details.location"))}</legend>{radios}</fieldset>'
        f'<label>{esc(texts.t(lang, "reply.details.note"))}<textarea name="note" maxlength="200" rows="3"></textarea></label>'
        f'<button type="submit">{esc(texts.t(lang, "reply.details.send"))}</button></fieldset></form>'
    )


# Placeholders in cached pages: a token is [A-Za-z0-9_-] (checked before any page is made).
_TOKEN, _K1, _K2 = "\x00T\x00", "\x00K1\x00", "\x00K2\x00"
_CONFIRMATIONS: dict[tuple[str, str, bool], tuple[str, ...]] = {}


def confirmation_page(token: str, lang: str, status: str, details: ReplyDetails, with_details: bool) -> str:
    """The page after an answer. Built once per language, answer and notice, then filled in: it is
    the page every answer of a city gets within minutes."""
    saved = with_details and not details.empty
    key = (lang, status, saved)
    parts = _CONFIRMATIONS.get(key)
    if parts is None:
        parts = _CONFIRMATIONS[key] = tuple(re.split(r"(\x00\w+\x00)", _confirmation_template(lang, status, saved)))
    base = fresh_key()
    # one random draw, two keys: the details form and the change form are different answers
    values = {_TOKEN: token, _K1: base + "-d", _K2: base + "-c"}
    return "".join(values.get(p, p) for p in parts)


def _confirmation_template(lang: str, status: str, saved: bool) -> str:
    cls = "safe" if status == Status.SAFE else "help"
    other = "need_help" if status == Status.SAFE else "safe"
    parts = [f'<main class="reply done"><h1 class="{cls}" role="status">✓ {esc(texts.recorded(status, lang))}</h1>']
    if status == Status.NEED_HELP:
        parts.append(f'<p class="notice">{esc(texts.t(lang, "reply.help_note"))}</p>')
    if saved:
        parts.append(f'<p class="saved">{esc(texts.t(lang, "reply.details.saved"))}</p>')
    parts.append(_details_form(_TOKEN, lang, status, _K1))
    parts.append(
        f'<form method="post" action="/r/{_TOKEN}" class="change">{_hidden(_K2, lang, other)}'
        f'<button type="submit" class="{"help" if other == "need_help" else "safe"}">'
        f"{esc(texts.change_label(other, lang))}</button></form>"
    )
    parts.append(f'<p class="muted">{esc(texts.t(lang, "reply.change_hint"))}</p></main>')
    return page(texts.t(lang, "reply.title"), "".join(parts), lang=lang, styles=_STYLES, languages=_switch(_TOKEN))


def not_found_page() -> str:
    """The same page for unknown, malformed and expired links, in Japanese and English."""
    body = (
        f'<main class="reply"><h1>{esc(texts.t("ja", "reply.not_found"))}</h1>'
        f'<p lang="en">{esc(texts.t("en", "reply.not_found"))}</p></main>'
    )
    return page("404", body, lang="ja", styles=_STYLES)


def too_large_page() -> str:
    body = (
        f'<main class="reply"><h1>{esc(texts.t("ja", "reply.too_large"))}</h1>'
        f'<p lang="en">{esc(texts.t("en", "reply.too_large"))}</p></main>'
    )
    return page("413", body, lang="ja", styles=_STYLES)

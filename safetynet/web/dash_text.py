"""The staff pages' language (Japanese by default, or English) and their words from `safetynet.i18n`.

`t(lang, key, **values)` formats one; a missing key is a bug caught by the tests, which render
every page in both languages.
"""

from __future__ import annotations

from aiohttp import web

from safetynet import i18n
from safetynet.channels import registry
from safetynet.domain.shares import percent
from safetynet.i18n import SOURCE, catalog

LANGS = ("ja", "en")
LANG_COOKIE = "sn_lang"
LARGE_COOKIE = "sn_large"

# The icon and the words carry a status's meaning, colour only repeats it.
STATUS_ICONS: dict[str, str] = {
    "safe": "✓",
    "need_help": "⚠",
    "confirmed_in_person": "◎",
    "read": "◔",
    "notified": "✉",
    "pending": "…",
    "unreachable": "✕",
}
STATUS_ORDER = ("need_help", "safe", "confirmed_in_person", "read", "notified", "pending", "unreachable")
METHODS = ("visit", "phone", "paper")

# The staff pages' keys without their "dash." namespace (city_views checks for a failure reason's words).
KNOWN_KEYS = frozenset(k.removeprefix("dash.") for k in catalog(SOURCE) if k.startswith("dash."))


def t(lang: str, key: str, **values: object) -> str:
    """A text of the staff pages: `key` is in the catalogs' "dash." namespace."""
    return i18n.t(lang, "dash." + key, **values)


def live_words(lang: str) -> dict[str, str]:
    """<main>'s data attributes for a live page's scripts: the live indicator's words, and what the
    page says when its login has expired (a retry cannot help then; the page links to the login,
    which brings the user back)."""
    return {"data-live-on": t(lang, "live_on"), "data-live-off": t(lang, "live_off"),
            "data-live-stopped": t(lang, "live_stopped"), "data-msg-expired-live": t(lang, "expired_live"),
            "data-msg-expired": t(lang, "expired_not_saved"), "data-msg-login": t(lang, "login_again")}


def status_label(lang: str, status: str) -> str:
    if status not in STATUS_ICONS:
        return f"? {status}"
    return f"{STATUS_ICONS[status]} {i18n.t(lang, 'dash.status.' + status)}"


def channel_label(lang: str, channel: str) -> str:
    """A channel's name (the key its spec names); the name itself for one no longer registered."""
    if not registry.is_channel(channel):
        return channel
    return i18n.t(lang, registry.spec(channel).label_key)


def language_switch() -> list[tuple[str, str]]:
    """(code, the language's own name) of the staff pages' languages."""
    return [(code, i18n.t(code, "language.name")) for code in LANGS]


def pct(rate: float) -> str:
    return percent(rate)


def lang_of(request: web.Request) -> str:
    """?lang= wins (and is remembered by a cookie), then the cookie, then Japanese."""
    q = request.query.get("lang", "")
    if q in LANGS:
        return q
    c = request.cookies.get(LANG_COOKIE, "")
    return c if c in LANGS else "ja"


def large_of(request: web.Request) -> bool:
    q = request.query.get("large")
    if q in ("0", "1"):
        return q == "1"
    return request.cookies.get(LARGE_COOKIE) == "1"


def remember_prefs(request: web.Request, resp: web.StreamResponse) -> None:
    """Keeps a language or text-size choice made by a query parameter for the next pages."""
    q = request.query.get("lang", "")
    if q in LANGS:
        resp.set_cookie(LANG_COOKIE, q, max_age=365 * 86400, httponly=True, samesite="Lax", path="/")
    large = request.query.get("large")
    if large in ("0", "1"):
        resp.set_cookie(LARGE_COOKIE, large, max_age=365 * 86400, httponly=True, samesite="Lax", path="/")

"""Staff login and logout, and the admin console (city admins: staff and API tokens).

Login: scrypt (`auth.verify_password`, run off the event loop), attempts limited per address, and
wrong passwords backing off per (login, address): an address sending wrong passwords for a login
slows only itself, never the same login from another address. Then a session cookie (HttpOnly, SameSite=Lax, Secure when the public URL is https) and a CSRF
token per session. The login form itself is protected by a double-submit cookie, since there is
no session yet to hold its token.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from urllib.parse import unquote

import structlog
from aiohttp import web

from safetynet.auth import new_token, same_secret, token_hash, verify_password
from safetynet.web import staff_admin
from safetynet.web.app import LOGIN_ENDED, SERVICES, SESSION_COOKIE, check_csrf, gettable, services, viewer_of
from safetynet.web.bodies import read_form
from safetynet.web.dash_shell import render
from safetynet.web.dash_text import lang_of, t
from safetynet.web.ratelimit import FailureBackoff, KeyedRateLimit, client_ip

log = structlog.get_logger("web")

SESSION_TTL_SECONDS = 12 * 3600  # one long shift of an event; a new login after that
LOGIN_CSRF_COOKIE = "sn_login_csrf"
_URLSAFE = re.compile(r"[A-Za-z0-9_-]{1,100}")  # what secrets.token_urlsafe makes
# A page of ours with its query string is far shorter; a longer `next` is not one.
MAX_NEXT_CHARS = 2000
# Attempts from one address, successful or not: a city office behind one address logging its
# staff in at the start of an event fits; a script guessing does not.
LOGIN_PER_IP_PER_MINUTE = 20
# Wrong passwords for one login from one address: 5 free (typos), then waits of 2 s, 4 s, 8 s…
# up to 15 minutes; forgotten after an hour without one. A limit on the login alone would let
# anyone lock its owner out by guessing wrong (which one address sending every 6 s once did).
FREE_FAILURES = 5
FIRST_WAIT_SECONDS = 2.0
MAX_WAIT_SECONDS = 15 * 60.0
FORGET_FAILURES_SECONDS = 3600.0


class LoginLimits:
    def __init__(self, per_ip: KeyedRateLimit, failures: FailureBackoff) -> None:
        self.per_ip = per_ip
        self.failures = failures


LIMITS = web.AppKey("login_limits", LoginLimits)


def _secure(request: web.Request) -> bool:
    return services(request).cfg.server.public_url.startswith("https://")


def _safe_next(value: str | None) -> str:
    """A path on this site, else the home page.

    Browsers drop tabs and newlines from a Location and read a backslash as a slash, so
    `/<TAB>/evil.example` and `/\\evil.example` lead off-site like `//evil.example`: the path must
    start with a single `/` and hold no `//`, no backslash, no whitespace or control character, as
    sent and with its path percent-decoded.
    """
    if not value or len(value) > MAX_NEXT_CHARS:
        return "/"
    path = unquote(value.partition("?")[0])
    for text in (value, path):
        if not text.startswith("/") or "//" in text or "\\" in text:
            return "/"
        if any(c.isspace() or not c.isprintable() for c in text):
            return "/"
    return value


def _login_page(request: web.Request, next_url: str, error: str = "", status: int = 200,
                login: str = "", ended: bool = False) -> web.Response:
    """The sign-in form; after a refusal it keeps the login typed (a password is never sent back).
    `ended`: reached from a form sent after the session ended, which the login then leads back to
    with #kept (`KEPT`)."""
    lang = lang_of(request)
    token = _login_token(request) or secrets.token_urlsafe(24)
    resp = render(request, t(lang, "login"), template="login.html", status=status, no_store=True,
                  context={"token": token, "next_url": next_url, "error": error, "login": login, "ended": ended})
    resp.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict", secure=_secure(request),
                    path="/login", max_age=3600)
    return resp


def _login_token(request: web.Request) -> str | None:
    """The login form's token from its cookie, when it is one we could have made: anything else
    (a raw 0xE9 a client put there) would go back out in Set-Cookie, which cannot carry it (a 500)."""
    token = request.cookies.get(LOGIN_CSRF_COOKIE)
    return token if token and _URLSAFE.fullmatch(token) else None


# After a login that a form sent after the session ended led to, the form's page is opened with this
# fragment: keep.js puts back what was typed into it (kept in the tab, never sent; the server sees no fragment).
KEPT = "#kept"


def _next_of(request: web.Request, value: str | None) -> str:
    """Where the login leads: a page of this site a GET opens (`app.gettable`: a form's POST-only action
    becomes the page the form was on)."""
    return gettable(request.app, _safe_next(value))


async def login_get(request: web.Request) -> web.StreamResponse:
    next_url = _next_of(request, request.query.get("next"))
    # reached from a form sent after the session ended (`app.require_viewer`): say why, and that it was not taken
    ended = request.query.get(LOGIN_ENDED) == "1"
    if viewer_of(request) is not None:  # signed in again meanwhile (another tab)
        raise web.HTTPFound(next_url + (KEPT if ended else ""))
    return _login_page(request, next_url, t(lang_of(request), "login_session_ended") if ended else "", ended=ended)


async def login_post(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    lang = lang_of(request)
    sent, expected = str(form.get("csrf", "")), request.cookies.get(LOGIN_CSRF_COOKIE, "")
    login = str(form.get("login", "")).strip()[:100]
    next_url = _next_of(request, str(form.get("next", "")))
    ended = form.get(LOGIN_ENDED) == "1"
    if not expected or not same_secret(sent, expected):
        # the form outlived its cookie (an hour, a browser restarted): the form again, with a new one
        # (QA: an English "missing or wrong CSRF token" on a Japanese page)
        return _login_page(request, next_url, t(lang, "login_expired"), status=403, login=login, ended=ended)
    limits = request.app[LIMITS]
    address = client_ip(request)
    key = f"{login.casefold()}\x00{address}"
    by_address, backoff = limits.per_ip.hit(address), limits.failures.wait(key)
    if by_address > 0 or backoff > 0:
        log.warning("login_rate_limited", reason="address" if by_address > 0 else "failures")
        wait = max(1, int(max(by_address, backoff) + 0.999))
        resp = _login_page(request, next_url, t(lang, "too_many_wait", seconds=wait), status=429, login=login, ended=ended)
        resp.headers["Retry-After"] = str(wait)
        return resp
    svc = services(request)
    found = await svc.store.auth.staff_by_login(login)
    stored = found[1] if found and found[0].active else None
    ok = await asyncio.get_running_loop().run_in_executor(None, verify_password, str(form.get("password", "")), stored)
    if not ok or found is None:
        limits.failures.failed(key)
        log.info("login_failed")
        return _login_page(request, next_url, t(lang, "login_failed"), status=401, login=login, ended=ended)
    limits.failures.succeeded(key)
    staff = found[0]
    session = new_token()
    await svc.store.auth.create_session(token_hash(session), staff.id, new_token(), SESSION_TTL_SECONDS)
    log.info("login_ok", staff_id=staff.id)
    resp = web.HTTPSeeOther(next_url + (KEPT if ended else ""))
    resp.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="Lax", secure=_secure(request), path="/",
                    max_age=SESSION_TTL_SECONDS)
    resp.del_cookie(LOGIN_CSRF_COOKIE, path="/login")
    raise resp


async def logout(request: web.Request) -> web.StreamResponse:
    if viewer_of(request) is None:
        raise web.HTTPSeeOther("/login")
    await check_csrf(request, await read_form(request))
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        await services(request).store.auth.delete_session(token_hash(cookie))
    resp = web.HTTPSeeOther("/login")
    resp.del_cookie(SESSION_COOKIE, path="/")
    raise resp


def setup(app: web.Application) -> None:
    clock = app[SERVICES].clock
    app[LIMITS] = LoginLimits(
        KeyedRateLimit(clock, per_minute=LOGIN_PER_IP_PER_MINUTE),
        FailureBackoff(clock, FREE_FAILURES, FIRST_WAIT_SECONDS, MAX_WAIT_SECONDS, FORGET_FAILURES_SECONDS),
    )
    app.router.add_get("/login", login_get)
    app.router.add_post("/login", login_post)
    app.router.add_post("/logout", logout)
    staff_admin.setup(app)

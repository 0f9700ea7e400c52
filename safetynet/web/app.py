"""The aiohttp application: services, middlewares, and the route modules of each package.

Route modules expose `setup(app)`; each owns its URLs. Domain logic stays in the packages.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import structlog
from aiohttp import web

from safetynet import i18n
from safetynet.auth import Viewer, same_secret, token_hash
from safetynet.clock import Clock
from safetynet.config import Config
from safetynet.domain import Scope
from safetynet.metrics import Metrics
from safetynet.store import Store, StoreUnavailable
from safetynet.templating import ENV, STATIC_PREFIX, asset_version
from safetynet.web import front
from safetynet.web.serverlog import SERVER_LOG

log = structlog.get_logger("web")

SESSION_COOKIE = "sn_session"

# Route modules in the order their routes are added; a module not written yet is skipped.
ROUTE_MODULES = (
    "safetynet.web.audit_api",
    "safetynet.web.api",
    "safetynet.web.reply_pages",
    "safetynet.web.webhooks",
    "safetynet.web.enrol_pages",
    "safetynet.web.staff_pages",
    "safetynet.web.dashboards",
    "safetynet.web.triggers_api",
    "safetynet.web.cap_feed",
    "safetynet.web.letters_page",
    "safetynet.web.pwa",
    "safetynet.web.static",
    "safetynet.web.ops",
    "safetynet.web.openapi",
    "safetynet.web.check_pages",
    "safetynet.web.check_console",
)
# A dispatcher-only process (`serve --role dispatcher`) serves its probes and metrics, no page.
OPS_MODULES = ("safetynet.web.ops",)


@dataclass
class Services:
    """Everything a handler may use. Optional parts are None until started."""

    cfg: Config
    store: Store
    clock: Clock
    senders: dict[Any, Any] = field(default_factory=dict)  # channel name -> ChannelSender
    campaigns: Any = None  # broadcast.service.CampaignService
    dispatcher: Any = None  # broadcast.dispatcher.Dispatcher
    intake: Any = None  # replies.intake.ReplyIntake
    triggers: Any = None  # triggers.service.TriggerService
    extras: dict[str, Any] = field(default_factory=dict)
    metrics: Metrics = field(default_factory=Metrics)


SERVICES = web.AppKey("services", Services)
VIEWER = web.RequestKey("viewer", Viewer)
CSRF = web.RequestKey("csrf", str)
VIA_TOKEN = web.RequestKey("via_token", bool)


def viewer_of(request: web.Request) -> Viewer | None:
    """The signed-in staff member or API token of this request, if any."""
    return request.get(VIEWER)


def csrf_of(request: web.Request) -> str | None:
    """The session's CSRF token, to embed in forms."""
    return request.get(CSRF)


def services(request: web.Request) -> Services:
    return request.app[SERVICES]


class PageNotFound(web.HTTPNotFound):
    """A staff page's "not there, or not yours" (the same answer for both): the guard answers it with
    the app's `ERROR_PAGE` (a page in the viewer's language, a way home), API clients with JSON."""


# Renders a staff page's error (request, status) -> response; set by the module of the staff pages.
ErrorPage = Callable[[web.Request, int], web.StreamResponse]
ERROR_PAGE: web.AppKey[ErrorPage] = web.AppKey("error_page")


# The router's own refusal (no route: 404; not with this method: 405) of a path a resident opens, as a
# page of the catalog's words: (request, status) -> the page, or None when the path is not the module's.
# Added by the modules of resident pages (`add_routing_page`); the guard keeps the 405's Allow header.
RoutingPage = Callable[[web.Request, int], web.StreamResponse | None]
ROUTING_PAGES: web.AppKey[list[RoutingPage]] = web.AppKey("routing_pages")


def add_routing_page(app: web.Application, page: RoutingPage) -> None:
    if ROUTING_PAGES not in app:
        app[ROUTING_PAGES] = []
    app[ROUTING_PAGES].append(page)


def _routing_page(request: web.Request, e: web.HTTPException) -> web.StreamResponse | None:
    for page in request.app.get(ROUTING_PAGES, ()):
        response = page(request, e.status)
        if response is not None:
            if "Allow" in e.headers:
                response.headers["Allow"] = e.headers["Allow"]
            return response
    return None


def with_query(path: str, *queries: str) -> str:
    """`path` with the queries given joined on (as sent: still escaped), those that are not empty."""
    query = "&".join(q for q in queries if q)
    return path + (f"?{query}" if query else "")


def found(path: str, request: web.Request, headers: Mapping[str, str] | None = None) -> web.Response:
    """A 302 to our own `path`, the request's query kept whole (as sent: escapes stay escapes)."""
    return web.Response(status=302, text="302: Found",
                        headers={"Location": with_query(path, request.rel_url.raw_query_string), **(headers or {})})


def json_error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


def failure_page(status: int) -> web.Response:
    """What a browser gets when the server cannot serve the page (the store failing: 503, a fault:
    500); an API client gets JSON (`wants_json`). A resident on a reply page reads that nothing was
    recorded, to try again, and to call 119 (QA: raw `{"error": "internal error"}` in English)."""
    return web.Response(body=failure_body(), status=status, headers=failure_headers(status))


# The staff's pages (sign-in, the dashboards, the overview and its console, the report, the admin
# page), by path: every other page a browser opens is a resident's (reply, enrolment, check, the PWA).
STAFF_PATHS = ("/login", "/logout", "/a/", "/city", "/admin", "/campaigns/")


def staff_page(path: str) -> bool:
    return path == "/" or path.startswith(STAFF_PATHS)


def staff_failure_page(request: web.Request, status: int) -> web.Response:
    """`failure_page` for a staff page: staff read that the store could not be reached (503) or the
    server failed (500), that the answers recorded are kept, to try again in a moment (what they just
    sent may not have been done), and to tell the IT operator; never the residents' 119 (QA). Standalone
    as the residents' page (nothing read from the store), Japanese then English; the link opens the page
    again (a form's page for a form: `page_of`, with `#kept`, so that keep.js gives back what was typed into
    it: review, a long message lost to a 503 as it had been to an expired session)."""
    try:
        again = page_of(request)
    except Exception:  # a failure page must not fail: the way back is then the home page
        again = "/"
    if request.method not in ("GET", "HEAD") and not request.path.startswith("/login"):
        again += "#kept"
    body = ENV.get_template("staff_failure.html").render(kind="store" if status == 503 else "fault",
                                                         again=again).encode()
    return web.Response(body=body, status=status, headers=failure_headers(status))


def _failure(request: web.Request, status: int) -> web.Response:
    """The failure page for whoever reads this path: staff's (`staff_failure_page`) or a resident's."""
    return staff_failure_page(request, status) if staff_page(request.path) else failure_page(status)


def failure_body() -> bytes:
    return ENV.get_template("failure.html").render().encode()


def failure_headers(status: int) -> dict[str, str]:
    headers = {"Content-Type": "text/html; charset=utf-8"}
    if status == 503:
        headers["Retry-After"] = "30"
    return headers


def wants_json(request: web.Request) -> bool:
    return json_wanted(request.path, request.headers.get("Accept", ""))


def json_wanted(path: str, accept: str) -> bool:
    """Whether an error goes out as JSON: to API and webhook clients, and to whoever asks for it."""
    return path.startswith(("/api/", "/hooks/")) or "application/json" in accept


# What an error says to a client that wants JSON (`json_wanted`), by status, where no handler said more.
FAILURE_MESSAGES = {503: "storage is failing; the answer was not recorded, please retry", 500: "internal error"}


SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Permissions-Policy": "geolocation=(), camera=(), microphone=()",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# A year: browsers then refuse plain http for the public host. Not includeSubDomains: a city's
# other hosts under the same domain are not ours to decide for.
HSTS = "max-age=31536000"
STATIC_VERSIONED = "public, max-age=31536000, immutable"


def secured(headers: Mapping[str, str], https: bool) -> dict[str, str]:
    """`headers` with what the response hook (`_security_headers`) gives every page and API answer,
    for answers made outside aiohttp (`web.front`)."""
    out = {**SECURITY_HEADERS, "Cache-Control": "no-store", **headers}
    if https:
        out.setdefault("Strict-Transport-Security", HSTS)
    return out


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every response, streams (SSE) and error pages included: set just before headers go out.

    Nothing but the static files may be kept by a browser or a proxy: pages and API answers carry
    names, addresses, statuses and tokens in their URLs. Behind an https public URL, HSTS too.
    """
    headers = response.headers
    if "Content-Security-Policy" not in headers:  # pages made by `html()` carry them all already
        for k, v in SECURITY_HEADERS.items():
            headers.setdefault(k, v)
    if "Cache-Control" not in headers:
        if not request.path.startswith(STATIC_PREFIX):
            headers["Cache-Control"] = "no-store"
        elif response.status in (200, 304) and _versioned(request):
            # the URL a page names (`templating.asset_url`): its content never changes under it (a 304
            # says the same of the copy kept, which must stay immutable)
            headers["Cache-Control"] = STATIC_VERSIONED
        else:
            # an unversioned or outdated URL: the browser asks again each time (a 304 when unchanged)
            headers["Cache-Control"] = "no-cache"
    if request.app[SERVICES].cfg.server.public_url.startswith("https://"):
        headers.setdefault("Strict-Transport-Security", HSTS)


def _versioned(request: web.Request) -> bool:
    version = request.query.get("v")
    return version is not None and version == asset_version(request.path)


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Who is asking (`identify`), then the handler; no stack trace ever reaches a client, and API
    clients get JSON errors. One middleware, not two: aiohttp runs each middleware in a coroutine
    layer of its own (and adds one more when there is any), on every request, reply pages included."""
    try:
        refused = await identify(request)
        return refused if refused is not None else await handler(request)
    except web.HTTPRequestEntityTooLarge:
        return json_error(413, "request body too large")
    except web.HTTPException as e:
        if e.status >= 400 and wants_json(request) and e.content_type != "application/json":
            return json_error(e.status, e.reason, headers={k: v for k, v in e.headers.items()
                                                             if k.lower() in ("retry-after", "www-authenticate", "allow")})
        if isinstance(e, PageNotFound) and ERROR_PAGE in request.app:
            return request.app[ERROR_PAGE](request, e.status)
        if request.match_info.http_exception is e:  # the router's: no route, or not with this method
            page = _routing_page(request, e)
            if page is not None:
                return page
        raise
    except StoreUnavailable:
        log.error("request_refused_store_unavailable", path=request.path)
        if not wants_json(request):
            return _failure(request, 503)
        return json_error(503, FAILURE_MESSAGES[503])
    except (json.JSONDecodeError, UnicodeDecodeError):
        return json_error(400, "request body is not valid JSON")
    except OverflowError:
        # an id past SQLite's 64-bit integers names nothing that exists
        return json_error(404, "not found")
    except ConnectionResetError as e:
        transport = request.transport
        if transport is not None and not transport.is_closing():
            # the client is still there: a connection of ours (a provider, the store) was reset, a fault
            log.exception("request_failed", path=request.path, method=request.method)
            return json_error(500, FAILURE_MESSAGES[500]) if wants_json(request) else _failure(request, 500)
        # the client went away mid-body or mid-request (a phone losing signal): not a fault of ours, and
        # nobody is left to read an answer (aiohttp drops it); raised on, aiohttp would log a traceback
        log.info("request_client_gone", path=request.path, method=request.method, error_class=type(e).__name__)
        return web.Response(status=400, text="the client closed the connection")
    except Exception:
        log.exception("request_failed", path=request.path, method=request.method)
        return json_error(500, FAILURE_MESSAGES[500]) if wants_json(request) else _failure(request, 500)


def credential(request: web.Request) -> tuple[str | None, str | None]:
    """(the Bearer API token, the session cookie) the request came with; at most one is given, the
    token first. The cookies are parsed only when there is a Cookie header (the reply page's
    requests have none)."""
    auth = request.headers.get("Authorization")
    if auth is not None and auth.startswith("Bearer "):
        return auth[7:].strip(), None
    if "Cookie" not in request.headers:
        return None, None
    return None, request.cookies.get(SESSION_COOKIE)


async def identify(request: web.Request) -> web.StreamResponse | None:
    """Resolves the viewer from a Bearer API token or the session cookie (None if neither); a
    401 answer for a token that is not (or no longer) valid."""
    api_token, cookie = credential(request)
    if api_token is not None:
        svc = request.app[SERVICES]
        found = await svc.store.auth.api_token(token_hash(api_token))
        if found is None:
            return json_error(401, "invalid, revoked or expired API token")
        await svc.store.auth.token_used(found.id)
        request[VIEWER] = Viewer(role=found.role, scope=Scope.parse(found.scope), login="api-token",
                                 token_id=found.id, token_owner=found.created_by)
        request[VIA_TOKEN] = True
    elif cookie is not None:
        session = await request.app[SERVICES].store.auth.session(token_hash(cookie))
        if session is not None:
            staff, csrf = session
            request[VIEWER] = Viewer(role=staff.role, scope=Scope.parse(staff.scope), staff_id=staff.id,
                                     login=staff.login, display_name=staff.display_name)
            request[CSRF] = csrf
    return None


async def still_signed_in(request: web.Request) -> bool:
    """Whether the credential this request came with still holds (token not revoked or expired,
    session not ended): a live stream asks now and then, so revoking a token ends its streams too."""
    api_token, cookie = credential(request)
    store = request.app[SERVICES].store
    if api_token is not None:
        return await store.auth.api_token(token_hash(api_token)) is not None
    return cookie is not None and await store.auth.session(token_hash(cookie)) is not None


# The page the form of a POST-only route is on, by the route's path as added ("/city/campaigns/{id}/close"):
# (the route's match) -> that page. A route without one goes back to the nearest path above it a GET answers.
FormPage = Callable[[Mapping[str, str]], str]
FORM_PAGES: web.AppKey[dict[str, FormPage]] = web.AppKey("form_pages")


def add_form_page(app: web.Application, path: str, page: FormPage) -> None:
    if FORM_PAGES not in app:
        app[FORM_PAGES] = {}
    app[FORM_PAGES][path] = page


def _routes_of(app: web.Application, path: str) -> list[tuple[str, dict[str, str], set[str]]]:
    """(route path as added, its match, its methods) of each resource answering `path`."""
    found = []
    for resource in app.router.resources():
        info = resource.get_info()
        if "path" in info:
            match: dict[str, str] | None = {} if info["path"] == path else None
        elif "pattern" in info:
            m = info["pattern"].fullmatch(path)
            match = m.groupdict() if m else None
        else:
            continue
        if match is not None:
            found.append((resource.canonical, match, {route.method for route in resource}))
    return found


def gettable(app: web.Application, target: str) -> str:
    """`target` (a path and its query), or, when its path answers only POST (a form's action: a login's
    `next` or a page's language link leading there got "405: Method Not Allowed"), the page that form
    was on (`add_form_page`, else the nearest path above it a GET answers, else "/")."""
    path = target.partition("?")[0]
    routes = _routes_of(app, path)
    if not routes or any(methods & {"GET", "*"} for _, _, methods in routes):
        return target
    canonical, match, _ = routes[0]
    page = app.get(FORM_PAGES, {}).get(canonical)
    if page is not None:
        return page(match)
    parts = path.rstrip("/").split("/")
    while len(parts) > 1:
        parts.pop()
        up = "/".join(parts) or "/"
        if any(methods & {"GET", "*"} for _, _, methods in _routes_of(app, up)):
            return up
    return "/"


def page_of(request: web.Request) -> str:
    """The page a request's answer stands for, to link back to (a language or text-size switch, a login's
    `next`): itself for a GET, the form's page for a POST to a POST-only route."""
    if request.method in ("GET", "HEAD"):
        return request.path_qs
    return gettable(request.app, request.path_qs)


# `/login?ended=1`: the login page says the session had ended and what was sent was not taken
LOGIN_ENDED = "ended"


def require_viewer(request: web.Request) -> Viewer:
    viewer = viewer_of(request)
    if viewer is None:
        if wants_json(request):
            raise web.HTTPUnauthorized(text=json.dumps({"error": "login or API token required"}),
                                       content_type="application/json")
        if request.method in ("GET", "HEAD"):
            raise web.HTTPFound("/login?" + urlencode({"next": request.path_qs}))
        # a form sent after the session ended (its cookie expired or gone): back to the page the form was on
        # after the login, not to the form's POST-only action (a GET there was a bare 405, the input lost)
        raise web.HTTPSeeOther("/login?" + urlencode({"next": page_of(request), LOGIN_ENDED: "1"}))
    return viewer


def app_runner(app: web.Application, shutdown_timeout: float = 5.0) -> web.AppRunner:
    """The runner every server uses: no access log (it would hold reply tokens), and a client that
    does not finish its request headers within server.header_timeout_seconds (counted from
    connecting or from its previous answer) is cut off; bodies have their own limit (web.bodies).
    aiohttp's own log lines go through `serverlog` (a client's malformed request is no error of ours)."""
    cfg = app[SERVICES].cfg
    return web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout,
                         keepalive_timeout=cfg.server.header_timeout_seconds, logger=SERVER_LOG)


# The reply routes' lane, when the app has them: its connections then start on the front (`web.front`).
FRONT_LANE = web.AppKey("front_lane", front.Lane)


def site(runner: web.AppRunner, host: str | None = None, port: int | None = None, *,
         sock: socket.socket | None = None, backlog: int = 128) -> web.BaseSite:
    """The listening site every server uses: on `sock`, else on host and port. An app with the reply
    routes serves them on the front (`web.front.FrontSite`), anything else through aiohttp."""
    lane = runner.app.get(FRONT_LANE)
    if lane is None:
        if sock is not None:
            return web.SockSite(runner, sock, backlog=backlog)
        return web.TCPSite(runner, host, port, backlog=backlog)
    server = runner.app[SERVICES].cfg.server
    return front.FrontSite(runner, lane, header_timeout=float(server.header_timeout_seconds),
                           body_timeout=float(server.body_timeout_seconds), host=host, port=port, sock=sock,
                           backlog=backlog)


def create_app(svc: Services, modules: Sequence[str] | None = None) -> web.Application:
    """The app with the routes of `modules` (default: every page and API, `ROUTE_MODULES`)."""
    app = web.Application(
        middlewares=[guard],
        client_max_size=svc.cfg.server.max_body_bytes,
    )
    app[SERVICES] = svc
    app.on_response_prepare.append(_security_headers)
    for module in ROUTE_MODULES if modules is None else modules:
        if importlib.util.find_spec(module) is None:
            continue
        importlib.import_module(module).setup(app)
    return app


async def check_csrf(request: web.Request, form: Any = None) -> None:
    """State-changing requests from a browser session must carry the session's CSRF token.

    API-token requests are exempt (no ambient credential). The token comes from the form field
    `csrf` or the `X-CSRF-Token` header.
    """
    if request.get(VIA_TOKEN):
        return
    expected = csrf_of(request)
    sent = request.headers.get("X-CSRF-Token")
    if sent is None and form is not None:
        sent = form.get("csrf")
    if not expected or not sent or not same_secret(str(sent), str(expected)):
        # a person reads it (Japanese first); a script, the English after it (a JSON client gets JSON)
        raise web.HTTPForbidden(text=f"{i18n.t('ja', 'dash.csrf_expired')}\n"
                                     "missing or wrong CSRF token; reload the page and try again")

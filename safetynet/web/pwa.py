"""The web app manifest and icons: a household's join page can be added to the Home Screen.

iPhones take web push only from a web app opened from the Home Screen (iOS 16.4+), and that app keeps
no storage of Safari's. So each household's join page links a manifest of its own whose start_url is
that page (the code is already the page's capability; the manifest adds nothing to it), and the
installed app opens straight onto it to turn notifications on. Scope "/" is the service worker's
(`/sw.js`, registered with scope "/"), so the app's pages and its notifications share one worker.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote

from aiohttp import web

from safetynet import i18n
from safetynet.roster.codes import CodeError, format_code, normalize_code
from safetynet.templating import Markup, fragment
from safetynet.web.app import SERVICES, services
from safetynet.web.ids import parse_id
from safetynet.web.pwa_icons import SIZES, THEME, icon_png
from safetynet.web.ratelimit import KeyedRateLimit, client_ip, enforce

MANIFEST_TYPE = "application/manifest+json"
REQUESTS_PER_MINUTE = 60
_LIMIT = web.AppKey("pwa_limit", KeyedRateLimit)


def manifest(code: str, lang: str, city: str) -> dict[str, object]:
    """The manifest of one household's app (`code` already normalized and grouped)."""
    ui = i18n.ui_language(lang)
    start = f"/join/{quote(code, safe='')}?lang={quote(ui, safe='')}&source=homescreen"
    return {
        "id": "/",  # one app per device, whichever household's letter installed it
        "name": i18n.t(ui, "manifest.name", city=city),
        "short_name": i18n.t(ui, "manifest.short_name"),
        "description": i18n.t(ui, "manifest.description"),
        "lang": "ja" if ui.startswith("ja") else ui,
        "dir": "ltr",
        "start_url": start,
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": THEME,
        "icons": [
            {"src": f"/icons/icon-{s}.png", "sizes": f"{s}x{s}", "type": "image/png", "purpose": "any"}
            for s in (192, 512)
        ] + [{"src": "/icons/icon-512.png", "sizes": "512x512", "type": "image/png", "purpose": "maskable"}],
    }


def head_tags(code: str, lang: str) -> Markup:
    """What the join page's <head> needs to be installed, on iPhones too."""
    href = f"/join/{quote(code, safe='')}/manifest.webmanifest?lang={quote(lang, safe='')}"
    title = i18n.t(lang, "manifest.short_name")
    return fragment("pwa_head.html", href=href, theme=THEME, title=title)


def is_ios(user_agent: str) -> bool:
    """iPhone, iPad or iPod (an iPad asking for the desktop site says Macintosh: the page's script checks)."""
    return any(d in user_agent for d in ("iPhone", "iPad", "iPod"))


# What an app's own browser adds to the user agent: LINE (whose QR reader residents scan the letter
# with), Facebook, Instagram, KakaoTalk, WeChat, Yahoo! JAPAN. It has no "Add to Home Screen".
_IN_APP = (" Line/", "FBAN/", "FBAV/", "Instagram", "KAKAOTALK", "MicroMessenger", "YJApp")


def in_app_browser(user_agent: str) -> bool:
    """The page is open inside another app's browser, not Safari (review: the iPhone steps pointed at
    Safari's share button, which LINE's browser does not have)."""
    return any(mark in user_agent for mark in _IN_APP)


async def manifest_route(request: web.Request) -> web.Response:
    enforce(request.app[_LIMIT], client_ip(request))
    try:
        code = format_code(normalize_code(request.match_info["code"]))
    except CodeError:
        raise web.HTTPNotFound(text="not found") from None
    body = manifest(code, request.query.get("lang", "ja"), services(request).cfg.city.name)
    return web.Response(text=json.dumps(body, ensure_ascii=False), content_type=MANIFEST_TYPE, charset="utf-8")


async def icon_route(request: web.Request) -> web.Response:
    size = parse_id(request.match_info["size"])
    if size is None or size not in SIZES:
        raise web.HTTPNotFound(text="not found")
    data = await asyncio.to_thread(icon_png, size)
    return web.Response(body=data, content_type="image/png", headers={"Cache-Control": "public, max-age=86400"})


def setup(app: web.Application) -> None:
    app[_LIMIT] = KeyedRateLimit(app[SERVICES].clock, per_minute=REQUESTS_PER_MINUTE)
    app.router.add_get("/join/{code}/manifest.webmanifest", manifest_route)
    app.router.add_get("/icons/icon-{size}.png", icon_route)

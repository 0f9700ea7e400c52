"""Static files (CSS, the service worker, small scripts) from `safetynet/web/static/`."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).resolve().parent / "static"


async def service_worker(request: web.Request) -> web.FileResponse:
    # served from the root so its scope covers /r/ and /join/
    return web.FileResponse(STATIC_DIR / "sw.js", headers={"Service-Worker-Allowed": "/", "Cache-Control": "no-cache"})


def setup(app: web.Application) -> None:
    app.router.add_static("/static/", STATIC_DIR, append_version=False, show_index=False)
    if (STATIC_DIR / "sw.js").exists():
        app.router.add_get("/sw.js", service_worker)

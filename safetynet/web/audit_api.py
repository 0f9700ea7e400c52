"""The audit log on the web side: the app's background writer (`AUDIT`), `record` for the handlers
that show households' details, export them or confirm them in person, and `GET /api/audit` for
city admins (DESIGN §9).

`GET /api/audit?since=T&until=T&after=ID&limit=N` (epoch seconds, or a day "2026-12-01" in Japan time
as `safetynet audit export` takes it, `until` then including that day; `after` pages by id) answers
`{"entries": [...], "next": ID | null}`, oldest first; `next` is the `after` of the next page.
Reading the audit log is itself recorded.
"""

from __future__ import annotations

import json

from aiohttp import web

from safetynet.auth import Viewer
from safetynet.domain.audit import AuditAction, AuditEntry
from safetynet.domain.japan_time import day_bound
from safetynet.privacy.audit import AuditBacklog, AuditLog
from safetynet.web.app import SERVICES, json_error, require_viewer, services, wants_json

AUDIT = web.AppKey("audit_log", AuditLog)
MAX_LIMIT = 1000


def record(request: web.Request, viewer: Viewer, action: AuditAction, what: str, *, campaign_id: int | None = None,
           association_id: int | None = None, household_id: int | None = None, detail: str = "") -> None:
    """Queues an audit entry for this viewer (never waits on the store); 503 when the audit log
    cannot be written, so nothing is shown that the log would miss."""
    actor = viewer.actor
    entry = AuditEntry(services(request).clock.now(), actor.label, str(action), what, role=str(viewer.role),
                       staff_id=actor.person_id, campaign_id=campaign_id, association_id=association_id,
                       household_id=household_id, detail=detail)
    try:
        request.app[AUDIT].record(entry)
    except AuditBacklog as e:
        message = f"the audit log cannot be written: {e}"
        if wants_json(request):
            raise web.HTTPServiceUnavailable(text=json.dumps({"error": message}), content_type="application/json") \
                from None
        raise web.HTTPServiceUnavailable(text=message) from None


def _bad(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


def _time(request: web.Request, name: str, end: bool = False) -> float | None:
    """`since`/`until`: epoch seconds, or a day as the command line's `--since 2026-12-01` takes it (QA:
    the API refused the dates the CLI takes, with "since must be a number")."""
    raw = request.query.get(name, "")
    if raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        try:
            return day_bound(raw, end=end)
        except ValueError:
            raise _bad(f"{name} must be epoch seconds or a day (YYYY-MM-DD, Japan time)") from None
        except OverflowError:
            raise _bad(f"{name} is out of range") from None
    if not 0 <= value < 1e15:
        raise _bad(f"{name} is out of range")
    return value


def _number(request: web.Request, name: str, default: float | None) -> float | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise _bad(f"{name} must be a number") from None
    if not 0 <= value < 1e15:
        raise _bad(f"{name} is out of range")
    return value


async def audit_entries(request: web.Request) -> web.Response:
    viewer = require_viewer(request)
    if not viewer.is_city_admin:
        return json_error(403, "only a city admin may read the audit log")
    since, until = _time(request, "since"), _time(request, "until", end=True)
    after = int(_number(request, "after", 0) or 0)
    limit = int(_number(request, "limit", 200) or 200)
    limit = max(1, min(limit, MAX_LIMIT))
    entries = await services(request).store.audit.entries(since=since, until=until, after_id=after, limit=limit)
    record(request, viewer, AuditAction.VIEW, "audit", detail=f"{len(entries)} entries")
    return web.json_response({"entries": [e.as_json() for e in entries],
                              "next": entries[-1].id if len(entries) == limit else None})


def setup(app: web.Application) -> None:
    svc = app[SERVICES]
    app[AUDIT] = AuditLog(svc.store.audit, svc.clock, spill=svc.cfg.data_dir / "audit-unwritten.jsonl")

    async def startup(app: web.Application) -> None:
        await app[AUDIT].recover()
        app[AUDIT].start()

    async def cleanup(app: web.Application) -> None:
        await app[AUDIT].close()

    app.on_startup.append(startup)
    app.on_cleanup.append(cleanup)
    app.router.add_get("/api/audit", audit_entries)

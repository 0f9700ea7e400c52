"""`GET /api/campaigns/{id}/events`: server-sent events with live counts.

A plain StreamResponse (libraries.md §5): `retry:` so browsers reconnect after 2 s, `id:` = the
reply cursor so a reconnect's Last-Event-ID (or `?since=` on the first connect) replays what was
missed, a heartbeat every 15 s (a dead client is only noticed on a write), the viewer's credential checked
again at most 15 s apart, idle or busy (a revoked token or ended session ends the stream), a bounded queue
per client, and an on_shutdown hook that wakes every loop so the server stops at once.

Event `stats`, data (JSON):
`{"campaign": {id, kind, title, state, started_at, closed_at, paused}, "households", "status": {…},
"answered_rate", "need_help_open", "escalated_at", "associations": {"<id>": {"households", "status",
"answered_rate", "need_help_open", "escalated_at"}} (only those that moved, all of them when "full"), "full",
"changed": [[household_id, association_id, status, reply_id, noted], …], "reset"}` — `reset` asks the
client to reload its household list (it fell too far behind to replay). `noted` (1 or 0): one of the
household's replies since the last event carried its own words (the dashboard's 住民からのメモ moved);
`escalated_at`: when the latest help request was told to the standing-in staff as left unhandled (null:
none), read with the hub's full help recount (`live.HELP_RECOUNT_SECONDS`). Neither carries the words or the
card: the page fetches its panel (`/a/{id}/notes`, `/a/{id}/help`), as the viewer may see it, when they move;
nor who confirmed a household in person: the dashboard fetches those rows' lines (`/a/{id}/statuses?hh=…`).
Query: `association=ID` narrows to one association; `since=CURSOR` as a first Last-Event-ID;
`doorknock=1` (the city overview) adds `"doorknock"` (households on the door-knock list still not
answered) to the totals and to each association listed, read once a tick only while someone asks.
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from safetynet.stats.live import LiveHub
from safetynet.web.app import SERVICES, require_viewer, still_signed_in
from safetynet.web.dash_shell import READS, association_or_404, campaign_or_404, not_found
from safetynet.web.ids import parse_id

HUB = web.AppKey("live_hub", LiveHub)
HEARTBEAT_SECONDS = 15.0
RETRY_MS = 2000
# Reply ids taken but not yet committed on PostgreSQL: a few group-commit batches of every web process.
OUT_OF_ORDER_WINDOW = 2000


def _frame(seq: int, data: str) -> bytes:
    return f"id: {seq}\nevent: stats\ndata: {data}\n\n".encode()


def _since(request: web.Request) -> int | None:
    for raw in (request.headers.get("Last-Event-ID"), request.query.get("since")):
        since = parse_id(raw)
        if since is not None:
            return since
    return None


async def events(request: web.Request) -> web.StreamResponse:
    viewer = require_viewer(request)
    info, visible = await campaign_or_404(request, viewer, request.match_info["id"])
    aids = visible
    if "association" in request.query:
        assoc = await association_or_404(request, viewer, request.query["association"])
        if visible is not None and assoc.id not in visible:
            raise not_found()
        aids = frozenset({assoc.id})
    hub = request.app[HUB]
    sub = await hub.subscribe(info.id, aids, doorknock=request.query.get("doorknock") == "1")
    resp = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no",
        "X-Content-Type-Options": "nosniff",
    })
    try:
        # a purged campaign's stream replays no household's change (`consent.listed`): its counts alone
        seq, first = await hub.catch_up(sub, None if info.purged_at is not None else _since(request))
        await resp.prepare(request)
        await resp.write(f"retry: {RETRY_MS}\n\n".encode() + _frame(seq, json.dumps(first, ensure_ascii=False)))
        checked_at = hub.clock.monotonic()  # require_viewer has just checked the credential
        while True:
            try:
                item = await asyncio.wait_for(sub.queue.get(), timeout=hub.heartbeat_seconds)
            except TimeoutError:
                if not await still_signed_in(request):
                    break  # the token was revoked or expired, or the session ended
                checked_at = hub.clock.monotonic()
                # an event, not a comment: the page's script sees it and knows the stream is alive
                await resp.write(b"event: ping\ndata: 1\n\n")
                continue
            if item is None:  # too slow, or shutting down: the browser reconnects and catches up
                break
            # a busy stream (a frame a second in an event) never waits into the check above: checked as
            # often by the clock (review: a revoked token's stream went on as long as answers came)
            if hub.clock.monotonic() - checked_at >= hub.heartbeat_seconds:
                if not await still_signed_in(request):
                    break
                checked_at = hub.clock.monotonic()
            if item[0] >= seq:  # a tick older than the fresh first event would step counts back
                await resp.write(_frame(*item))
    except (ConnectionResetError, ConnectionError):
        pass  # aiohttp's ClientConnectionResetError is a ConnectionResetError
    finally:
        hub.unsubscribe(sub)
    return resp


async def _close_hub(app: web.Application) -> None:
    app[SERVICES].store.replies.remove_listener(app[HUB].on_replies)
    await app[HUB].close()


def setup(app: web.Application) -> None:
    svc = app[SERVICES]
    # several writers on PostgreSQL commit reply ids out of order: re-read a window below the cursor
    overlap = OUT_OF_ORDER_WINDOW if svc.cfg.store.url.startswith("postgres") else 0
    hub = LiveHub(app[READS], svc.clock, heartbeat_seconds=HEARTBEAT_SECONDS, overlap=overlap,
                  doorknock_counts=svc.store.campaigns.doorknock_counts)
    app[HUB] = hub
    svc.store.replies.add_listener(hub.on_replies)  # committed answers wake the poller at once
    app.on_shutdown.append(_close_hub)
    app.router.add_get("/api/campaigns/{id}/events", events)

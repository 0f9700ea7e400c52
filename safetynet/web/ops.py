"""Operations: `GET /healthz` (alive), `GET /readyz` (sending and taking answers), `GET /metrics`
(Prometheus).

- /healthz: 200 while the store takes writes, 503 after a write failed (disk full, read-only file).
  No database round trip: a liveness probe must not queue behind residents' answers.
- /readyz: 200 when the store answers a read within READY_TIMEOUT_SECONDS, takes writes, and a
  dispatcher's heartbeat on this database is fresh (this process's own, when it runs one); else 503.
  The body says which part is missing. A failing channel is reported but does not make it 503:
  the other channels still send.
- /metrics: counts only, never a name, address, phone or token. Still not for everyone (it shows
  when a campaign runs and how big it is): a city admin (API token or session), or, with
  `server.metrics_loopback` (default on), a client on this host that came neither through a trusted
  proxy nor with forwarding headers (a reverse proxy on the same host must not make it public).
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import structlog
from aiohttp import web
from prometheus_client.exposition import choose_encoder

from safetynet.broadcast.health import enabled_channels, read_status
from safetynet.web.app import Services, json_error, services, viewer_of
from safetynet.web.dash_sse import HUB

log = structlog.get_logger("web.ops")

READY_TIMEOUT_SECONDS = 2.0
_FORWARDING = ("Forwarded", "X-Forwarded-For", "X-Real-IP", "X-Forwarded-Host")


async def healthz(request: web.Request) -> web.Response:
    ok = services(request).store.healthy
    return web.json_response({"ok": ok}, status=200 if ok else 503)


async def readyz(request: web.Request) -> web.Response:
    svc = services(request)
    writes = svc.store.takes_writes  # refused for another process's lock too: not for a liveness probe
    try:
        status = await asyncio.wait_for(read_status(svc.store.health, svc.clock.now(), enabled_channels(svc.cfg)),
                                        READY_TIMEOUT_SECONDS)
    except Exception as e:  # locked, gone, too slow: not ready, whatever the cause
        log.warning("readiness_store_unreachable", error=repr(e))
        doc: dict[str, Any] = {"ready": False, "store": {"reads": False, "writes": writes},
                               "dispatcher": {"alive": None, "this_process": None, "last_seen": None},
                               "channels_failing": []}
        return web.json_response(doc, status=503)
    owners = {b.owner for b in status.alive}
    own = svc.dispatcher.owner in owners if svc.dispatcher is not None else None
    dispatching = own if own is not None else bool(owners)
    ready = writes and dispatching
    doc = {"ready": ready, "store": {"reads": True, "writes": writes},
           "dispatcher": {"alive": len(owners), "this_process": own, "last_seen": status.last_seen},
           "channels_failing": sorted(h.channel for h in status.failing)}
    return web.json_response(doc, status=200 if ready else 503)


# -- metrics ------------------------------------------------------------------------------------


def _direct_loopback(request: web.Request) -> bool:
    """The peer is this host itself, not a proxy for someone else."""
    peer = request.remote or ""
    try:
        ip = ipaddress.ip_address(peer)
    except ValueError:
        return False  # a Unix socket: whoever sits behind it is unknown
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if not ip.is_loopback or any(h in request.headers for h in _FORWARDING):
        return False
    proxies = services(request).cfg.server.trusted_proxies
    return not any(ip in ipaddress.ip_network(p, strict=False) for p in proxies)


def _refusal(request: web.Request) -> web.Response | None:
    viewer = viewer_of(request)
    if viewer is not None:
        return None if viewer.is_city_admin else json_error(403, "only a city admin may read the metrics")
    if services(request).cfg.server.metrics_loopback and _direct_loopback(request):
        return None
    return json_error(401, "metrics need a city admin's API token (Authorization: Bearer …)",
                      headers={"WWW-Authenticate": 'Bearer realm="metrics"'})


async def _fill_gauges(request: web.Request, svc: Services) -> None:
    """The gauges that are a reading, not a count: taken now, from memory and the store."""
    m = svc.metrics
    m.store_healthy.set(1 if svc.store.healthy else 0)
    hub = request.app.get(HUB)
    m.sse_connections.set(hub.subscribers if hub is not None else 0)
    if svc.dispatcher is not None:
        for ch, lane in svc.dispatcher.lanes.items():
            m.lane_held.labels(str(ch)).set(lane.held)
    try:
        channels = enabled_channels(svc.cfg)
        running = [c.id for c in await svc.store.campaigns.running()]
        outbox = svc.store.outbox
        for ch in channels:
            m.outbox_due.labels(ch).set(await outbox.due_count(running, [ch]) if running else 0)
            m.notices_due.labels(ch).set(await outbox.notices_due(ch))
        status = await read_status(svc.store.health, svc.clock.now(), channels)
        m.dispatchers_alive.set(len(status.alive))
    except Exception as e:  # the counts still go out; the store's readings are left as they were
        log.warning("metrics_store_read_failed", error=repr(e))


async def metrics(request: web.Request) -> web.Response:
    refused = _refusal(request)
    if refused is not None:
        return refused
    svc = services(request)
    await _fill_gauges(request, svc)
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    # through headers=: aiohttp refuses a content_type argument that carries a charset
    return web.Response(body=encoder(svc.metrics.registry), headers={"Content-Type": content_type})


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)

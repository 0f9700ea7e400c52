"""`GET /cap/campaigns/{id}.xml` and `GET /cap/feed.atom`: real events as CAP 1.2, for anyone.

Public on purpose (L-Alert and neighbouring systems poll without an account), so what they carry is
public by construction (`triggers.cap_publish`): a drill, a draft or an unknown id is the same 404.
Rate-limited per address. No-store like every answer but static files: a poller sees a close at once.
"""

from __future__ import annotations

from aiohttp import web

from safetynet.domain import CampaignState
from safetynet.domain.campaigns import Campaign
from safetynet.triggers.cap_publish import (
    ATOM_CONTENT_TYPE,
    CAP_CONTENT_TYPE,
    PublicCampaign,
    Publisher,
    alert_xml,
    feed_atom,
    publishable,
)
from safetynet.web.app import SERVICES, Services, services
from safetynet.web.ids import parse_id
from safetynet.web.ratelimit import KeyedRateLimit, client_ip, enforce

REQUESTS_PER_MINUTE = 120
# Campaigns read for the feed: a city runs a few real events a year among its drills.
FEED_SCAN = 1000
_LIMIT = web.AppKey("cap_feed_limit", KeyedRateLimit)


def _publisher(svc: Services) -> Publisher:
    codes = tuple(svc.cfg.triggers.cap.codes)
    return Publisher.of(svc.cfg.server.public_url, svc.cfg.city.name, codes)


def _public(c: Campaign) -> PublicCampaign:
    return PublicCampaign(c.id, str(c.kind), str(c.state), c.started_at, c.closed_at)


def _not_found() -> web.Response:
    return web.Response(status=404, text="not found", content_type="text/plain")


async def alert(request: web.Request) -> web.Response:
    enforce(request.app[_LIMIT], client_ip(request))
    campaign_id = parse_id(request.match_info["id"])
    if campaign_id is None:
        return _not_found()
    svc = services(request)
    campaign = await svc.store.campaigns.get(campaign_id)
    if campaign is None or not publishable(public := _public(campaign)):
        return _not_found()
    return web.Response(body=alert_xml(public, _publisher(svc)), content_type=CAP_CONTENT_TYPE, charset="utf-8")


async def feed(request: web.Request) -> web.Response:
    enforce(request.app[_LIMIT], client_ip(request))
    svc = services(request)
    states = (CampaignState.RUNNING, CampaignState.CLOSED, CampaignState.CANCELLED)
    campaigns = await svc.store.campaigns.list_campaigns(states, limit=FEED_SCAN)
    body = feed_atom((_public(c) for c in campaigns), _publisher(svc), svc.clock.now())
    return web.Response(body=body, content_type=ATOM_CONTENT_TYPE, charset="utf-8")


def setup(app: web.Application) -> None:
    app[_LIMIT] = KeyedRateLimit(app[SERVICES].clock, per_minute=REQUESTS_PER_MINUTE)
    app.router.add_get("/cap/campaigns/{id}.xml", alert)
    app.router.add_get("/cap/feed.atom", feed)

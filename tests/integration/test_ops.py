"""Operations: /metrics (Prometheus text, who may read it), /healthz and /readyz.

The system runs in this process (`running_system`) against the sandbox provider over loopback,
with a FakeClock; the scrapes are parsed by prometheus-client's own parser.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from broadcast_helpers import H, seed
from dashboard_fixtures import World, client, login, world
from ports import free_port
from prometheus_client.parser import text_string_to_metric_families
from roster_helpers import SECRET_KEY

from safetynet.auth import token_hash
from safetynet.broadcast.dispatcher import Dispatcher
from safetynet.broadcast.health import ALIVE_SECONDS
from safetynet.broadcast.service import CampaignSpec
from safetynet.clock import FakeClock
from safetynet.config import Config, load_config
from safetynet.domain import CampaignKind, Role
from safetynet.domain.campaigns import NOTICE_DELAY_SECONDS, DispatcherBeat, LadderStep
from safetynet.replies.tokens import reply_token
from safetynet.sandbox import Sandbox
from safetynet.store import StoreUnavailable
from safetynet.system import System, running_system

SECRET = SECRET_KEY
ADMIN_TOKEN = "ops-admin-token"
HEAD_TOKEN = "ops-head-token"
HOUSEHOLDS = [H(f"K-{i:03d}", "m") for i in range(1, 13)]
SPEC = CampaignSpec("運用訓練", CampaignKind.DRILL, ("city",), {"ja": "訓練です。無事ですか。"},
                    ladder=(LadderStep(0, ("sms",)),))


def _config(tmp_path: Path, sandbox_url: str, port: int, **env: str) -> Config:
    return load_config(None, env={
        "SAFETYNET_SECRET_KEY": SECRET,
        "SAFETYNET_STORE_PATH": str(tmp_path / "var" / "safetynet.db"),
        "SAFETYNET_SERVER_PORT": str(port),
        "SAFETYNET_SERVER_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "SAFETYNET_CHANNELS_SMS_API_BASE_URL": sandbox_url,
        "SAFETYNET_CHANNELS_VOICE_API_BASE_URL": sandbox_url,
        "SAFETYNET_CHANNELS_TELEGRAM_API_BASE_URL": sandbox_url,
        "SAFETYNET_CHANNELS_SMS_MAX_PER_SECOND": "0",
        **env,
    })


@contextlib.asynccontextmanager
async def ops_system(tmp_path: Path, *, dispatch: bool = False, **env: str) -> AsyncIterator[tuple[System, Sandbox]]:
    port = free_port()
    boot = load_config(None, env={"SAFETYNET_SECRET_KEY": SECRET})
    async with Sandbox(boot, app_url=f"http://127.0.0.1:{port}") as sb:
        cfg = _config(tmp_path, sb.url, port, **env)
        async with running_system(cfg, FakeClock(), port=port, dispatch=dispatch, ladder=False,
                                  triggers=False) as system:
            await system.store.auth.create_api_token(token_hash(ADMIN_TOKEN), Role.CITY_ADMIN, "city")
            await system.store.auth.create_api_token(token_hash(HEAD_TOKEN), Role.ASSOCIATION_HEAD,
                                                     "association:桜町町会")
            yield system, sb


async def scrape(http: aiohttp.ClientSession, url: str, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with http.get(f"{url}/metrics", headers=headers) as r:
        assert r.status == 200, await r.text()
        assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        text = await r.text()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def sample(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_count_deliveries_latency_replies_queue_and_streams(tmp_path: Path) -> None:
    async with ops_system(tmp_path) as (system, sb), aiohttp.ClientSession() as http:
        ids = await seed(system.store, HOUSEHOLDS)
        before = await scrape(http, system.url)
        assert sample(before, "safetynet_deliveries_total", channel="sms", outcome="sent") == 0
        assert sample(before, "safetynet_store_healthy") == 1

        campaign = await system.campaigns.launch(SPEC, source="test")
        queued = await scrape(http, system.url)
        assert sample(queued, "safetynet_outbox_due_deliveries", channel="sms") == len(HOUSEHOLDS)
        assert sample(queued, "safetynet_outbox_due_deliveries", channel="voice") == 0

        # the composition root's metrics, as `serve` wires them into its dispatcher
        report = await Dispatcher(system.store, system.services.senders, system.cfg, system.clock,
                                  contacts=system.store.roster, metrics=system.services.metrics).burst()
        assert report.sent == len(HOUSEHOLDS) == len(sb.messages())

        assert sample(await scrape(http, system.url), "safetynet_outbox_due_notices", channel="sms") == 0
        auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        key = HOUSEHOLDS[0].key
        async with http.post(f"{system.url}/r/{reply_token(SECRET, campaign.id, ids[key])}",
                             data={"status": "safe", "k": secrets.token_urlsafe(12)}) as r:
            assert r.status == 200
        for _ in range(2):  # the same confirmation twice: one reply
            async with http.post(f"{system.url}/api/campaigns/{campaign.id}/households/{ids['K-002']}/confirm",
                                 json={"method": "visit", "key": "same-key-1"}, headers=auth) as r:
                assert r.status == 200, await r.text()

        async with http.get(f"{system.url}/api/campaigns/{campaign.id}/events", headers=auth) as stream:
            assert stream.status == 200  # subscribed before the answer's headers went out
            after = await scrape(http, system.url)
            assert sample(after, "safetynet_sse_connections") == 1

        # the drill cancelled: its word to the households it reached waits to go out, and shows
        await system.campaigns.cancel(campaign.id, by="ops")
        await system.clock.advance(NOTICE_DELAY_SECONDS)
        cancelled = await scrape(http, system.url)
        assert sample(cancelled, "safetynet_outbox_due_notices", channel="sms") == len(HOUSEHOLDS)

    n = float(len(HOUSEHOLDS))
    assert sample(after, "safetynet_deliveries_total", channel="sms", outcome="sent") == n
    assert sample(after, "safetynet_deliveries_total", channel="sms", outcome="failed") == 0
    assert sample(after, "safetynet_send_duration_seconds_count", channel="sms", result="sent") == n
    assert sample(after, "safetynet_send_duration_seconds_bucket", channel="sms", result="sent", le="+Inf") == n
    assert sample(after, "safetynet_send_duration_seconds_sum", channel="sms", result="sent") > 0
    assert sample(after, "safetynet_outbox_due_deliveries", channel="sms") == 0
    assert sample(after, "safetynet_replies_total", channel="web", status="safe") == 1
    assert sample(after, "safetynet_replies_total", channel="staff", status="confirmed_in_person") == 1


async def test_metrics_show_no_personal_data(tmp_path: Path) -> None:
    async with world(tmp_path) as w, aiohttp.ClientSession() as http:
        await w.answer("A-001", "need_help")
        async with http.get(f"{w.url}/metrics") as r:
            text = await r.text()
    assert r.status == 200
    for person in ("山田", "桜町", "+8190", "090", w.tokens["admin"]):
        assert person not in text


async def test_a_call_the_provider_refuses_counts_as_a_retry_as_on_every_channel(tmp_path: Path) -> None:
    """A review listed a voice retry metric as missing: calls go through the lanes as every channel does, and
    a call put back in the outbox counts under outcome="retry" with channel="voice"."""
    calls = CampaignSpec("運用訓練", CampaignKind.DRILL, ("city",), {"ja": "訓練です。無事ですか。"},
                         ladder=(LadderStep(0, ("voice",)),))
    async with ops_system(tmp_path) as (system, sb), aiohttp.ClientSession() as http:
        await seed(system.store, HOUSEHOLDS[:1])
        await system.campaigns.launch(calls, source="test")
        sb.faults.update({"fail_429": 1.0, "retry_after": 60})  # Twilio: slow down, for a minute
        await Dispatcher(system.store, system.services.senders, system.cfg, system.clock,
                         contacts=system.store.roster, metrics=system.services.metrics).burst()
        samples = await scrape(http, system.url)
    # the call refused for a minute waits in the outbox, counted
    assert sample(samples, "safetynet_deliveries_total", channel="voice", outcome="retry") == 1
    assert sample(samples, "safetynet_deliveries_total", channel="voice", outcome="sent") == 0
    assert sample(samples, "safetynet_send_duration_seconds_count", channel="voice", result="error") == 1


async def test_metrics_have_no_created_series(tmp_path: Path) -> None:
    """prometheus-client adds a `_created` sample to every counter and histogram child unless told not to:
    twice the series, and dashboards took them for counts."""
    async with ops_system(tmp_path) as (system, _), aiohttp.ClientSession() as http:
        await seed(system.store, HOUSEHOLDS[:2])
        await system.campaigns.launch(SPEC, source="test")
        await Dispatcher(system.store, system.services.senders, system.cfg, system.clock,
                         contacts=system.store.roster, metrics=system.services.metrics).burst()
        for accept in ("text/plain", "application/openmetrics-text"):
            async with http.get(f"{system.url}/metrics", headers={"Accept": accept}) as r:
                text = await r.text()
            # a counter's and a histogram's children are there, without their creation times
            assert 'safetynet_deliveries_total{channel="sms",outcome="sent"} 2.0' in text
            assert 'safetynet_send_duration_seconds_count{channel="sms",result="sent"} 2.0' in text
            assert [line for line in text.splitlines() if "_created" in line] == [], accept


# -- who may read /metrics -------------------------------------------------------------------------


async def _status(http: aiohttp.ClientSession, w: World, **headers: str) -> int:
    async with http.get(f"{w.url}/metrics", headers=headers) as r:
        if r.status != 200:
            assert (await r.json())["error"]
        return r.status


async def test_metrics_are_for_this_host_and_city_admins(tmp_path: Path) -> None:
    async with world(tmp_path) as w, aiohttp.ClientSession() as http:
        assert await _status(http, w) == 200  # a Prometheus on this host
        # through a reverse proxy on this host: the client is someone else
        assert await _status(http, w, **{"X-Forwarded-For": "203.0.113.9"}) == 401
        assert await _status(http, w, Forwarded="for=203.0.113.9") == 401
        assert await _status(http, w, Authorization=f"Bearer {w.tokens['admin']}") == 200
        assert await _status(http, w, Authorization=f"Bearer {w.tokens['head_a']}") == 403
        assert await _status(http, w, Authorization="Bearer not-a-token") == 401

        w.svc.cfg = dataclasses.replace(w.cfg, server=dataclasses.replace(w.cfg.server, trusted_proxies=("127.0.0.1",)))
        assert await _status(http, w) == 401  # the loopback peer is a proxy: whoever is behind it is unknown
        w.svc.cfg = dataclasses.replace(w.cfg, server=dataclasses.replace(w.cfg.server, metrics_loopback=False))
        assert await _status(http, w) == 401
        async with http.get(f"{w.url}/metrics") as r:
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert await _status(http, w, Authorization=f"Bearer {w.tokens['admin']}") == 200
        async with client() as browser:
            await login(browser, w, "admin")
            assert await _status(browser, w) == 200  # a city admin's session, in the browser
        async with client() as browser:
            await login(browser, w, "head_a")
            assert await _status(browser, w) == 403


async def test_openmetrics_when_asked(tmp_path: Path) -> None:
    async with world(tmp_path) as w, aiohttp.ClientSession() as http:
        async with http.get(f"{w.url}/metrics", headers={"Accept": "application/openmetrics-text"}) as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
            assert (await r.text()).endswith("# EOF\n")


# -- health and readiness --------------------------------------------------------------------------


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, object]]:
    async with http.get(url) as r:
        return r.status, await r.json()


async def test_ready_when_this_process_dispatcher_beats_and_not_after_it_stops(tmp_path: Path) -> None:
    async with ops_system(tmp_path, dispatch=True) as (system, _), aiohttp.ClientSession() as http:
        assert system.dispatcher is not None and system.dispatcher.metrics is system.services.metrics
        await system.dispatcher._beat()  # what its heartbeat task writes at start, here without a race
        status, doc = await _get(http, f"{system.url}/readyz")
        assert status == 200, doc
        assert doc["ready"] is True and doc["store"] == {"reads": True, "writes": True}
        assert doc["dispatcher"] == {"alive": 1, "this_process": True, "last_seen": system.clock.now()}
        assert await _get(http, f"{system.url}/healthz") == (200, {"ok": True})
        # another dispatcher alive elsewhere does not stand in for this process's own
        system.dispatcher.stop()
        await system.tasks[0]  # it ends and writes its last beat, stopped
        await system.store.health.beat(DispatcherBeat("other", "h", 1, ("sms",), 0.0, system.clock.now(), None))
        status, doc = await _get(http, f"{system.url}/readyz")
        assert status == 503
        assert doc["dispatcher"] == {"alive": 1, "this_process": False, "last_seen": system.clock.now()}
        assert await _get(http, f"{system.url}/healthz") == (200, {"ok": True})  # alive, only not sending


async def test_a_web_only_process_is_ready_while_a_dispatcher_elsewhere_beats(tmp_path: Path) -> None:
    async with ops_system(tmp_path, dispatch=False) as (system, _), aiohttp.ClientSession() as http:
        status, doc = await _get(http, f"{system.url}/readyz")
        assert status == 503 and doc["dispatcher"] == {"alive": 0, "this_process": None, "last_seen": None}
        now = system.clock.now()
        await system.store.health.beat(DispatcherBeat("other", "h", 1, ("sms",), now, now, None))
        status, doc = await _get(http, f"{system.url}/readyz")
        assert status == 200 and doc["dispatcher"] == {"alive": 1, "this_process": None, "last_seen": now}
        assert isinstance(system.clock, FakeClock)
        await system.clock.advance(ALIVE_SECONDS + 1)  # three heartbeats missed: that dispatcher is gone
        status, doc = await _get(http, f"{system.url}/readyz")
        assert status == 503 and doc["dispatcher"] == {"alive": 0, "this_process": None, "last_seen": now}


@pytest.mark.sqlite_only
async def test_healthy_but_not_ready_while_another_process_holds_the_database(tmp_path: Path) -> None:
    """A roster import or a backup holding SQLite past the busy timeout refuses writes: /readyz says so,
    /healthz stays 200 (a liveness probe restarting the web processes during an import helps nothing)."""
    async with ops_system(tmp_path, SAFETYNET_STORE_BUSY_TIMEOUT_SECONDS="0.05") as (system, _), \
            aiohttp.ClientSession() as http:
        now = system.clock.now()
        await system.store.health.beat(DispatcherBeat("other", "h", 1, ("sms",), now, now, None))
        other = sqlite3.connect(system.store.db.path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            with contextlib.suppress(StoreUnavailable):
                await system.store.health.beat(DispatcherBeat("other", "h", 1, ("sms",), now, now, None))
            assert await _get(http, f"{system.url}/healthz") == (200, {"ok": True})
            status, doc = await _get(http, f"{system.url}/readyz")
            assert status == 503 and doc["store"] == {"reads": True, "writes": False}
            other.execute("ROLLBACK")
        finally:
            other.close()
        await system.store.health.beat(DispatcherBeat("other", "h", 1, ("sms",), now, now, None))
        assert (await _get(http, f"{system.url}/readyz"))[0] == 200


@pytest.mark.parametrize("fault", ["disk_full", "read_only"])
async def test_neither_healthy_nor_ready_while_the_store_refuses_writes(tmp_path: Path, fault: str) -> None:
    async with ops_system(tmp_path, dispatch=False) as (system, _), aiohttp.ClientSession() as http:
        now = system.clock.now()
        await system.store.health.beat(DispatcherBeat("other", "h", 1, ("sms",), now, now, None))
        assert (await _get(http, f"{system.url}/readyz"))[0] == 200
        writer = system.store.db._writer  # fault injection only: the heartbeat writes on the writer's thread
        if fault == "disk_full":
            async with writer.execute("PRAGMA page_count") as cur:
                row = await cur.fetchone()
            assert row is not None
            await writer.execute(f"PRAGMA max_page_count = {int(row[0])}")
        else:
            await writer.execute("PRAGMA query_only = 1")
        big = "x" * 200_000
        with contextlib.suppress(Exception):
            await system.store.health.beat(DispatcherBeat("filler", big, 1, (), now, now, None))
        assert system.store.healthy is False
        assert await _get(http, f"{system.url}/healthz") == (503, {"ok": False})
        status, doc = await _get(http, f"{system.url}/readyz")
        assert status == 503 and doc["store"] == {"reads": True, "writes": False}
        samples = await scrape(http, system.url)
        assert sample(samples, "safetynet_store_healthy") == 0

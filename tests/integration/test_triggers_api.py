"""The HTTP doors for pushed telegrams: city admins only, big telegrams accepted, bad XML refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from conftest import DATA
from pg_helpers import store_env
from roster_helpers import SECRET_KEY

from safetynet.config import load_config
from safetynet.system import running_system

JMA = DATA / "jma"


def _config(tmp_path: Path) -> Path:
    p = tmp_path / "config.toml"
    p.write_text('[store]\npath = "var/t.db"\n[triggers.jma]\nareas = ["390", "391"]\naction = "propose"\n',
                 encoding="utf-8")
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "secret.key").write_text(SECRET_KEY)
    return p


async def test_pushed_telegrams_are_for_city_admins_and_refused_when_malformed(tmp_path: Path) -> None:
    from safetynet.auth import token_hash
    from safetynet.domain import Role

    cfg = load_config(_config(tmp_path), env=store_env())
    async with running_system(cfg, port=0, dispatch=False, ladder=False, triggers=False) as system:
        await system.store.auth.create_api_token(token_hash("admin-token"), Role.CITY_ADMIN, "city")
        await system.store.auth.create_api_token(token_hash("head-token"), Role.DISTRICT_HEAD, "city")
        async with aiohttp.ClientSession(system.url) as http:
            admin = {"Authorization": "Bearer admin-token"}
            largest = max(JMA.glob("*.xml"), key=lambda p: p.stat().st_size)
            assert largest.stat().st_size > cfg.server.max_body_bytes  # the route must take more than the app limit
            async with http.post("/api/triggers/jma", data=largest.read_bytes(), headers=admin) as r:
                assert r.status == 200, await r.text()
                assert (await r.json())["decision"] in ("ignore", "propose", "start", "update", "withdraw")
            async with http.post("/api/triggers/jma", data=b"<not-xml", headers=admin) as r:
                assert r.status == 400
                assert (await r.json())["error"]
            async with http.post("/api/triggers/cap", data=b"x" * (1024 * 1024 + 10), headers=admin) as r:
                assert r.status == 413
            async with http.post("/api/triggers/jma", data=largest.read_bytes()) as r:
                assert r.status == 401
            async with http.post("/api/triggers/jma", data=largest.read_bytes(),
                                 headers={"Authorization": "Bearer head-token"}) as r:
                assert r.status == 403
        # only the well-formed telegram was decided and stored; the refused ones left nothing
        assert len(await system.store.triggers.recent()) == 1


async def test_a_telegram_arriving_in_pieces_is_read_whole(tmp_path: Path) -> None:
    """A slow network delivers a 400 KB telegram in parts; the route must wait for all of them."""
    from safetynet.auth import token_hash
    from safetynet.domain import Role

    cfg = load_config(_config(tmp_path), env=store_env())
    largest = max(JMA.glob("*.xml"), key=lambda p: p.stat().st_size).read_bytes()

    async def in_pieces() -> AsyncIterator[bytes]:
        half = len(largest) // 2
        yield largest[:half]
        await asyncio.sleep(0.05)  # the network's pause, not a wait for our own work
        yield largest[half:]

    async with running_system(cfg, port=0, dispatch=False, ladder=False, triggers=False) as system:
        await system.store.auth.create_api_token(token_hash("admin-token"), Role.CITY_ADMIN, "city")
        async with aiohttp.ClientSession(system.url) as http:
            async with http.post("/api/triggers/jma", data=in_pieces(),
                                 headers={"Authorization": "Bearer admin-token"}) as r:
                assert r.status == 200, await r.text()
        assert len(await system.store.triggers.recent()) == 1


async def test_who_pushed_the_telegram_that_started_a_real_event_cannot_approve_it(tmp_path: Path) -> None:
    """Review: with `action = "start"`, one city admin pushed a telegram (of their own making, say) with their
    token and approved the real event it started: the trigger stood as the first person and nobody as the
    pusher, so one person sent a real alert to the whole city. The trigger starts it on their behalf."""
    import datetime

    import pytest

    from safetynet.auth import token_hash
    from safetynet.broadcast.service import ApprovalRefused, CampaignService
    from safetynet.clock import FakeClock
    from safetynet.domain import Role
    from safetynet.domain.campaigns import Actor

    p = tmp_path / "config.toml"
    p.write_text('[store]\npath = "var/t.db"\n[triggers.jma]\nareas = ["213", "220"]\ncities = ["0338100"]\n'
                 'min_intensity = "4"\naction = "start"\n', encoding="utf-8")
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "secret.key").write_text(SECRET_KEY)
    cfg = load_config(p, env=store_env())
    # the sample's report (2008-06-14 08:47 JST), a minute on: not stale
    clock = FakeClock(datetime.datetime(2008, 6, 14, 8, 48, tzinfo=datetime.timezone(datetime.timedelta(hours=9))).timestamp())
    async with running_system(cfg, clock, port=0, dispatch=False, ladder=False, triggers=False) as system:
        auth = system.store.auth
        bousai = await auth.add_staff("bousai", "防災", Role.CITY_ADMIN, "city", None)
        kikikanri = await auth.add_staff("kikikanri", "危機管理", Role.CITY_ADMIN, "city", None)
        await auth.create_api_token(token_hash("bousai-token"), Role.CITY_ADMIN, "city", created_by=bousai.id)
        async with aiohttp.ClientSession(system.url) as http:
            async with http.post("/api/triggers/jma", data=(JMA / "32-35_06_03_100915_VXSE53.xml").read_bytes(),
                                 headers={"Authorization": "Bearer bousai-token"}) as r:
                assert r.status == 200, await r.text()
                decided = await r.json()
        assert decided["decision"] == "start", decided
        svc = CampaignService(system.store, cfg, clock)
        c = await svc.get(decided["campaign"])
        assert (c.state, c.started_by, c.started_by_staff) == ("pending_approval", "trigger", bousai.id)
        with pytest.raises(ApprovalRefused) as refused:
            await svc.approve(c.id, by=Actor("bousai", bousai.id))
        assert refused.value.said.key == "campaign.error.approve_same_person_pushed"
        assert (await svc.get(c.id)).state == "pending_approval"
        assert (await svc.approve(c.id, by=Actor("kikikanri", kikikanri.id))).state == "running"

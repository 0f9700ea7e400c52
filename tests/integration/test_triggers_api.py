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

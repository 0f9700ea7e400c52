"""Client addresses behind a reverse proxy: X-Forwarded-For only from trusted peers.

The test client connects from 127.0.0.1, which is what every request looks like behind nginx on the
same host. Whether that peer is trusted is set by `server.trusted_proxies`.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from replies_fixtures import enrolment_code, running_app

from safetynet.config import ConfigError, load_config
from safetynet.domain import Status
from safetynet.web.ratelimit import forwarded_client

NGINX = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128"))


def test_forwarded_client_walks_from_the_right_past_trusted_hops() -> None:
    assert forwarded_client("127.0.0.1", ["203.0.113.9"], NGINX) == "203.0.113.9"
    # the client wrote its own header; nginx appended the address it saw: the left part is the client's lie
    assert forwarded_client("127.0.0.1", ["198.51.100.1, 203.0.113.9"], NGINX) == "203.0.113.9"
    # a load balancer (10.x) in front of nginx: skipped as trusted
    assert forwarded_client("127.0.0.1", ["203.0.113.9, 10.1.2.3"], NGINX) == "203.0.113.9"
    assert forwarded_client("127.0.0.1", ["203.0.113.9", "10.1.2.3"], NGINX) == "203.0.113.9"  # repeated header
    assert forwarded_client("::1", ["2001:db8::7"], NGINX) == "2001:db8::7"
    assert forwarded_client("::ffff:127.0.0.1", ["203.0.113.9"], NGINX) == "203.0.113.9"
    # only trusted hops: the left-most of them; none or a malformed one: the last believable hop
    assert forwarded_client("127.0.0.1", ["10.0.0.5, 10.0.0.6"], NGINX) == "10.0.0.5"
    assert forwarded_client("127.0.0.1", [], NGINX) == "127.0.0.1"
    assert forwarded_client("127.0.0.1", ["203.0.113.9, not-an-ip"], NGINX) == "127.0.0.1"
    assert forwarded_client("127.0.0.1", ["not-an-ip, 10.0.0.5"], NGINX) == "10.0.0.5"
    # an untrusted peer's header is never read
    assert forwarded_client("192.0.2.50", ["203.0.113.9"], NGINX) == "192.0.2.50"
    assert forwarded_client("127.0.0.1", ["203.0.113.9"], ()) == "127.0.0.1"


def test_trusted_proxies_are_validated(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[server]\ntrusted_proxies = ["127.0.0.1", "10.0.0.0/8", "::1"]\n', encoding="utf-8")
    assert load_config(path, env={}).server.trusted_proxies == ("127.0.0.1", "10.0.0.0/8", "::1")
    path.write_text('[server]\ntrusted_proxies = ["nginx.local"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"server\.trusted_proxies"):
        load_config(path, env={})
    cfg = load_config(None, env={})
    assert cfg.server.trusted_proxies == ()
    assert cfg.replies.rate_limit_per_minute >= 600  # a CGNAT address fronts many residents


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(tmp_path: Path) -> None:
    async with running_app(tmp_path, SAFETYNET_REPLIES_RATE_LIMIT_PER_MINUTE="3",
                           SAFETYNET_SERVER_TRUSTED_PROXIES="10.0.0.0/8") as env:
        for i in range(3):
            async with env.http.get(env.reply_url("A-001"), headers={"X-Forwarded-For": f"203.0.113.{i}"}) as r:
                assert r.status == 200
        # a fresh forged address per request would otherwise reset the limit every time
        async with env.http.post(env.reply_url("A-001"), data={"status": "safe"},
                                 headers={"X-Forwarded-For": "203.0.113.99"}) as r:
            assert r.status == 429 and int(r.headers["Retry-After"]) >= 1
        assert await env.status("A-001") == Status.READ


async def test_clients_behind_a_trusted_proxy_are_limited_separately(tmp_path: Path) -> None:
    async with running_app(tmp_path, SAFETYNET_REPLIES_RATE_LIMIT_PER_MINUTE="3",
                           SAFETYNET_SERVER_TRUSTED_PROXIES="127.0.0.1") as env:
        first, second = {"X-Forwarded-For": "203.0.113.9"}, {"X-Forwarded-For": "198.51.100.7"}
        for _ in range(3):
            async with env.http.get(env.reply_url("A-001"), headers=first) as r:
                assert r.status == 200
        async with env.http.post(env.reply_url("A-001"), data={"status": "safe"}, headers=first) as r:
            assert r.status == 429 and int(r.headers["Retry-After"]) >= 1
        # the limited client prepending a made-up address: nginx appends the real one, which is still limited
        spoof = {"X-Forwarded-For": "192.0.2.1, 203.0.113.9"}
        async with env.http.post(env.reply_url("A-001"), data={"status": "safe"}, headers=spoof) as r:
            assert r.status == 429
        assert await env.status("A-001") == Status.READ
        # another resident behind the same proxy is not held up by the first
        async with env.http.post(env.reply_url("A-002"), data={"status": "safe"}, headers=second) as r:
            assert r.status == 200
        assert await env.status("A-002") == Status.SAFE
        await env.clock.advance(60)  # the first client's bucket refills with time
        async with env.http.post(env.reply_url("A-001"), data={"status": "safe"}, headers=first) as r:
            assert r.status == 200
        assert await env.status("A-001") == Status.SAFE


async def test_enrolment_stays_strict_per_forwarded_client(tmp_path: Path) -> None:
    async with running_app(tmp_path, SAFETYNET_SERVER_TRUSTED_PROXIES="127.0.0.1") as env:
        code = await enrolment_code(env, "A-001")
        guesser, resident = {"X-Forwarded-For": "203.0.113.9"}, {"X-Forwarded-For": "198.51.100.7"}
        for i in range(10):
            async with env.http.get(f"{env.url}/join/ZZZZ-ZZZZ-ZZZZ-ZZ{i:02d}", headers=guesser) as r:
                assert r.status == 404
        async with env.http.get(f"{env.url}/join/{code}", headers=guesser) as r:
            assert r.status == 429 and int(r.headers["Retry-After"]) > 0
        async with env.http.get(f"{env.url}/join/{code}", headers=resident) as r:
            assert r.status == 200

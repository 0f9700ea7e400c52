"""The sandbox provider server itself: faults, rate limits, records, stats, acting as a resident, the CLI."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
from channel_helpers import WebhookRecorder, outbound, running_sandbox, sender_of, started

from safetynet.channels.base import PermanentSendError, RetryableSendError
from safetynet.sandbox.server import READY_PREFIX, add_arguments, fault_settings
from safetynet.sandbox.state import Faults, SandboxState


async def test_faults_are_set_at_run_time_and_validated(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path) as (sb, _), aiohttp.ClientSession() as http:
        async with http.post(f"{sb.url}/_sandbox/faults", json={"fail_5xx": 0.25, "dead": ["+819000000001"], "rate_limit": {"sms": 5}}) as r:
            assert r.status == 200
            doc = await r.json()
        assert (doc["fail_5xx"], doc["dead"], doc["rate_limit"]) == (0.25, ["+819000000001"], {"sms": 5.0})
        assert sb.faults.fail_5xx == 0.25 and sb.faults.dead == {"+819000000001"}
        for bad in ({"nope": 1}, {"fail_429": -1}, {"verify_push": "yes"}):
            async with http.post(f"{sb.url}/_sandbox/faults", json=bad) as r:
                assert r.status == 400
        async with http.get(f"{sb.url}/_sandbox/faults") as r:
            assert (await r.json())["fail_429"] == 0.0


async def test_messages_and_stats_endpoints(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path, dead={"+819000000009"}) as (sb, cfg):
        async with started(sender_of(cfg, "sms", cfg.server.public_url)) as sender:
            for phone in ("+819000000001", "+819000000002"):
                await sender.send(outbound("sms", phone))
            with pytest.raises(PermanentSendError):
                await sender.send(outbound("sms", "+819000000009"))
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{sb.url}/_sandbox/messages", params={"channel": "sms", "since": "1"}) as r:
                msgs = await r.json()
            async with http.get(f"{sb.url}/_sandbox/stats") as r:
                stats = await r.json()
            async with http.post(f"{sb.url}/_sandbox/reset") as r:
                assert r.status == 200
        assert [m["address"] for m in msgs] == ["+819000000002"]
        assert msgs[0]["text"].startswith("【訓練】") and msgs[0]["provider_id"].startswith("SM")
        assert stats["channels"]["sms"] == {"ok": 2, "dead": 1} and stats["messages"] == 2 and stats["429_sent"] == 0
        assert sb.records == [] and sb.stats["messages"] == 0


async def test_rate_limit_answers_429_above_the_rate(tmp_path: Path) -> None:
    # 0.2 a second: one request passes, the next token comes 5 s later, long after this burst.
    async with running_sandbox(tmp_path, rate_limit={"sms": 0.2}) as (sb, cfg):
        async with started(sender_of(cfg, "sms", cfg.server.public_url)) as sender:
            results = await asyncio.gather(
                *(sender.send(outbound("sms", f"+8190000{i:05d}")) for i in range(10)), return_exceptions=True
            )
        limited = [r for r in results if isinstance(r, RetryableSendError)]
        assert all(r.reason == "rate_limited" and r.retry_after and r.retry_after >= 1 for r in limited)
        assert len(results) - len(limited) == sb.stats["channels"]["sms"]["ok"] == 1
        assert sb.stats["429_rate_limit"] == len(limited) == 9 == sb.stats["429_sent"]


def test_dead_recipients_are_a_stable_fraction() -> None:
    addresses = [f"+81900000{i:04d}" for i in range(2000)]
    a = SandboxState(Faults(dead_fraction=0.1))
    b = SandboxState(Faults(dead_fraction=0.1))
    dead = [x for x in addresses if a.is_dead(x)]
    assert dead == [x for x in addresses if b.is_dead(x)]  # same in every process and run
    assert 140 <= len(dead) <= 260
    assert SandboxState(Faults(dead={"+819000000001"})).is_dead("+819000000001")
    assert not SandboxState(Faults()).is_dead(addresses[0])


async def test_wait_for_count_and_predicate_without_polling(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path) as (sb, cfg), started(sender_of(cfg, "sms", cfg.server.public_url)) as sender:
        waiter = asyncio.create_task(sb.wait_for(lambda recs: any(r.address == "+819000000002" for r in recs)))
        counter = asyncio.create_task(sb.wait_for(2))
        await sender.send(outbound("sms", "+819000000001"))
        assert not waiter.done() and not counter.done()
        await sender.send(outbound("sms", "+819000000002"))
        await asyncio.wait_for(asyncio.gather(waiter, counter), 5)
        with pytest.raises(TimeoutError):
            await sb.wait_for(3, timeout_seconds=0.05)


async def test_push_service_refuses_what_real_ones_refuse(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path, verify_push=False) as (sb, _), aiohttp.ClientSession() as http:
        url = sb.fake("webpush").subscribe()["endpoint"]
        good = {"TTL": "60", "Content-Encoding": "aes128gcm", "Authorization": "vapid t=x,k=y"}
        cases = [
            ({k: v for k, v in good.items() if k != "TTL"}, 400),
            ({**good, "Content-Encoding": "aesgcm"}, 400),
            ({**good, "Urgency": "urgent"}, 400),
            ({**good, "Topic": "has spaces"}, 400),
            ({**good, "Authorization": "Bearer x"}, 401),
            (good, 201),
        ]
        for headers, status in cases:
            async with http.post(url, data=b"x", headers=headers) as r:
                assert r.status == status, headers
        assert sb.messages("webpush")[0].text is None  # not decrypted with verify_push off


async def test_acts_over_http(tmp_path: Path) -> None:
    async with WebhookRecorder() as hooks, running_sandbox(tmp_path, app_url=hooks.url) as (sb, cfg):
        hooks.auth_token = cfg.secrets.twilio_auth_token
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{sb.url}/_sandbox/act/sms", json={"from": "+819012345678", "body": "2"}) as r:
                assert r.status == 200 and (await r.json())["status"] == 200
            async with http.post(f"{sb.url}/_sandbox/act/telegram", json={"chat_id": 1, "answer": "safe"}) as r:
                assert r.status == 409  # nothing was sent to that chat
            async with http.post(f"{sb.url}/_sandbox/act/voice", json={}) as r:
                assert r.status == 400
            async with http.post(f"{sb.url}/_sandbox/act/fax", json={}) as r:
                assert r.status == 404
            async with http.post(f"{sb.url}/_sandbox/act/telegram", json={"chat_id": 5, "start": "CODE9"}) as r:
                assert (await r.json())["status"] == 200
        (hit,) = hooks.at("/hooks/twilio/sms")
        assert hit.valid and hit.params["Body"] == "2"
        assert hooks.at("/hooks/telegram")[0].valid  # secret derived from the shared secret key


def test_cli_flags_become_fault_settings() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([
        "--fail-5xx", "0.1", "--fail-429", "0.05", "--retry-after", "3", "--latency-ms", "200",
        "--dead", "0.01", "--dead", "+819000000001", "--dead", "5550009", "--rate-limit", "sms=100",
        "--no-verify-push", "--undelivered", "0.02",
    ])
    f = Faults()
    f.update(fault_settings(args))
    assert (f.fail_5xx, f.fail_429, f.retry_after, f.latency_ms) == (0.1, 0.05, 3.0, 200.0)
    assert (f.dead_fraction, f.dead) == (0.01, {"+819000000001", "5550009"})
    assert (f.rate_limit, f.verify_push, f.callbacks, f.undelivered_fraction) == ({"sms": 100.0}, False, True, 0.02)
    with pytest.raises(ValueError, match="CHANNEL=PER_SECOND"):
        fault_settings(parser.parse_args(["--rate-limit", "sms"]))


async def test_the_sandbox_runs_as_a_process(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFETYNET_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "safetynet.sandbox", "--port", "0", "--fail-429", "0.5", "--dead", "5550009",
        stdout=asyncio.subprocess.PIPE, env=env, cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        assert line.startswith(READY_PREFIX)
        url = line[len(READY_PREFIX):]
        async with aiohttp.ClientSession() as http, http.get(f"{url}/_sandbox/faults") as r:
            doc = await r.json()
        assert (doc["fail_429"], doc["dead"]) == (0.5, ["5550009"])
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0


def test_records_are_found_by_address_and_provider_id_and_trimmed() -> None:
    st = SandboxState(max_records=4)
    for i in range(6):
        st.add("sms", "message", f"+8190000000{i % 2}", f"t{i}", f"SM{i}", {})
    assert len(st.records) <= 4
    latest = st.find("sms", "+81900000001")
    assert latest is not None and latest.text == "t5"
    assert st.by_provider_id("SM4") is st.records[-2] and st.by_provider_id("SM0") is None  # trimmed away
    assert st.find("sms", "+81900000001", kind="edit_message") is None
    st.reset()
    assert st.find("sms", "+81900000001") is None and st.message_count == 0


async def test_a_fake_with_its_own_listener_opens_and_closes_with_the_sandbox(tmp_path: Path) -> None:
    """A provider that is not HTTP (an SMTP server, for email) runs its own listener: the sandbox opens
    it on its own address when it starts and closes it when it stops."""
    from channel_helpers import write_config

    from safetynet.channels.fakes import ChannelFake, FakeHost
    from safetynet.config import load_config
    from safetynet.sandbox import Sandbox

    class ListeningFake(ChannelFake):
        name = "tcp"

        def __init__(self, host: FakeHost) -> None:
            super().__init__(host)
            self.server: asyncio.Server | None = None
            self.port = 0

        async def open(self) -> None:
            async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                writer.write(b"220 sandbox\r\n")
                await writer.drain()
                writer.close()

            self.server = await asyncio.start_server(greet, self.host.listen_host, 0)
            self.port = self.server.sockets[0].getsockname()[1]

        async def close(self) -> None:
            assert self.server is not None
            self.server.close()
            await self.server.wait_closed()

    sb = Sandbox(load_config(write_config(tmp_path), env={}))
    fake = ListeningFake(sb.ctx)
    sb.ctx.fakes[fake.name] = fake
    async with sb:
        assert sb.fake("tcp") is fake
        reader, writer = await asyncio.open_connection("127.0.0.1", fake.port)
        assert await reader.readline() == b"220 sandbox\r\n"
        writer.close()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", fake.port)

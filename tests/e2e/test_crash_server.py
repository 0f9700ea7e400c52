"""kill -9 of `safetynet serve` mid-wave, mid-ladder and mid-storm; a restart must finish the job.

The server is a child process (`python -m safetynet serve`), the providers are the sandbox in this
process, the roster a generated city of a few hundred households. After the restart and a clean
stop, the database file and the sandbox's records are compared:
- no household missed: each is delivered (the provider has the message the outbox says it sent),
  answered, or on the door-knock list; nothing is left queued or claimed;
- duplicates are bounded by what the dead server held claimed when it died, and printed;
- no accepted answer lost: every answer the server acknowledged (200) is stored exactly once,
  although residents re-send after connection errors (same idempotency key).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from ports import free_port
from reliability_helpers import (
    SECRET,
    Residents,
    ServerProcess,
    accounting,
    city,
    claimed_now,
    duplicates,
    load,
    provider_ids,
    read_db,
    seed_city,
    start_campaign,
    write_server_config,
)
from roster_helpers import SECRET_KEY

from safetynet.config import load_config
from safetynet.replies.tokens import reply_token
from safetynet.sandbox import Sandbox

pytestmark = [pytest.mark.slow]

LEASE_SECONDS = "3"  # claims of the killed server come back after this (60 s in production)
# and its successor takes the ladder over after this (15 s in production): the test waits out both
LEADER_LEASE_SECONDS = "3"


@dataclass
class Crash:
    sb: Sandbox
    server: ServerProcess
    token: str
    db: Path
    subs: dict[int, str]
    http: aiohttp.ClientSession

    def finish(self) -> None:
        leaks = self.server.leaks()
        assert not leaks, "\n".join(map(str, leaks))
        # neither the killed server nor its successor logged an error (a failing task, a lost write)
        assert self.server.errors() == []


@contextlib.asynccontextmanager
async def crash_world(tmp_path: Path, households: int, push_every: int, latency_ms: float = 0.0,
                      **env: str) -> AsyncIterator[Crash]:
    port = free_port()
    boot = load_config(None, env={"SAFETYNET_SECRET_KEY": SECRET_KEY})
    async with Sandbox(boot, app_url=f"http://127.0.0.1:{port}", latency_ms=latency_ms) as sb:
        cfg_path, server_env = write_server_config(
            tmp_path, sb.url, port, SAFETYNET_BROADCAST_LEASE_SECONDS=LEASE_SECONDS,
            SAFETYNET_BROADCAST_LEADER_LEASE_SECONDS=LEADER_LEASE_SECONDS, SAFETYNET_BROADCAST_BATCH_SIZE="50", **env)
        cfg = load(cfg_path, server_env)
        sb.ctx.secret_key = cfg.secrets.secret_key  # the sandbox signs Telegram updates like the real bot
        subs, token = await seed_city(cfg, city(households), sb, push_every=push_every, telegram_every=12)
        async with ServerProcess(cfg_path, server_env) as server, aiohttp.ClientSession() as http:
            yield Crash(sb, server, token, cfg.db_path, subs, http)


async def until(check: Callable[[], bool], what: str, timeout_seconds: float = 90.0) -> None:
    """Waits for another process to reach a state: a bounded poll of the database file."""
    async with asyncio.timeout(timeout_seconds):
        while not check():  # noqa: ASYNC110 - another process's state, read from its database file
            await asyncio.sleep(0.1)
    assert check(), what


def open_work(db: Path, campaign_id: int) -> int:
    with contextlib.closing(read_db(db)) as conn:
        return int(conn.execute("SELECT count(*) FROM deliveries WHERE campaign_id = ? AND state IN"
                                " ('queued', 'claimed')", (campaign_id,)).fetchone()[0])


def ladder_done(db: Path, campaign_id: int, steps: int) -> bool:
    with contextlib.closing(read_db(db)) as conn:
        row = conn.execute("SELECT next_step FROM campaign_ladder WHERE campaign_id = ?", (campaign_id,)).fetchone()
    return row is not None and row[0] >= steps and open_work(db, campaign_id) == 0


def households_with(db: Path, kind: str) -> dict[int, str]:
    with contextlib.closing(read_db(db)) as conn:
        return {r[0]: r[1] for r in conn.execute(
            "SELECT household_id, address FROM contacts WHERE kind = ? AND state = 'working'", (kind,))}


def report(record_property: Any, name: str, **numbers: int) -> None:
    print(f"\n{name}: " + ", ".join(f"{k}={v}" for k, v in numbers.items()))
    for k, v in numbers.items():
        record_property(f"{name}.{k}", v)


FIRST_WAVE: list[dict[str, Any]] = [{"after_seconds": 0, "channels": ["webpush", "telegram"], "fallback": ["sms", "voice"]}]


async def test_kill_during_the_first_wave(tmp_path: Path, record_property: Any) -> None:
    n = 400
    async with crash_world(tmp_path, n, push_every=4, latency_ms=25) as w:
        cid = await start_campaign(w.http, w.server.url, w.token, FIRST_WAVE)
        await w.sb.wait_for(n // 4)
        await w.server.kill()
        held, sent_before = claimed_now(w.db), len(w.sb.messages())
        assert sent_before < n - 20, "the wave ended before the kill: nothing was tested"
        await w.server.start()
        await until(lambda: open_work(w.db, cid) == 0, "the wave finished after the restart")
        assert await w.server.stop() == 0
        acc = accounting(w.db, cid, provider_ids(w.sb))
        dup = duplicates(w.sb)
        report(record_property, "first_wave", households=n, sent_before_kill=sent_before, claimed_at_kill=held,
               messages=len(w.sb.messages()), duplicates=dup)
        assert acc.households == n
        assert acc.stuck == [] and acc.phantom == []
        assert acc.missed == [], f"{len(acc.missed)} households missed"
        assert dup <= held
        w.finish()


# Step 0 (a push to each of 300 households) and the fifth's answers take about half a second; the
# SMS step leaves them some seconds more on a loaded machine (were it early, the answered would get
# an SMS too, which nothing below forbids). The door-knock comes 4 s after the SMS step, as before.
SMS_LADDER: list[dict[str, Any]] = [
    {"after_seconds": 0, "channels": ["webpush"]},
    {"after_seconds": 4, "channels": ["sms"]},
    {"after_seconds": 8, "door_knock": True},
]


async def test_kill_during_the_ladders_sms_step(tmp_path: Path, record_property: Any) -> None:
    n = 300
    async with crash_world(tmp_path, n, push_every=1, SAFETYNET_CHANNELS_SMS_MAX_PER_SECOND="80") as w:
        cid = await start_campaign(w.http, w.server.url, w.token, SMS_LADDER)
        await w.sb.wait_for(n)  # step 0: a push to every household
        answered = sorted(w.subs)[::5]  # a fifth answer from the notification, before the SMS step
        results = await asyncio.gather(*(w.sb.fake("webpush").action(w.subs[hid], "safe") for hid in answered))
        assert {r.status for r in results} == {200}, results
        mobiles = households_with(w.db, "mobile")
        expected_sms = {hid: phone for hid, phone in mobiles.items() if hid not in answered}
        await w.sb.wait_for(lambda recs: sum(r.channel == "sms" for r in recs) >= len(expected_sms) // 3)
        await w.server.kill()
        held, sms_before = claimed_now(w.db), len(w.sb.messages("sms"))
        assert sms_before < len(expected_sms) - 20, "the SMS step ended before the kill: nothing was tested"
        await w.server.start()
        await until(lambda: ladder_done(w.db, cid, len(SMS_LADDER)), "the ladder finished after the restart")
        assert await w.server.stop() == 0
        acc = accounting(w.db, cid, provider_ids(w.sb))
        got_sms = {r.address for r in w.sb.messages("sms")}
        dup = duplicates(w.sb, "sms")
        report(record_property, "sms_step", households=n, sms_expected=len(expected_sms), sms_before_kill=sms_before,
               claimed_at_kill=held, sms=len(w.sb.messages("sms")), duplicates=dup)
        assert set(answered) <= acc.answered
        assert [h for h, phone in expected_sms.items() if phone not in got_sms] == [], "SMS step skipped households"
        assert acc.stuck == [] and acc.phantom == [] and acc.missed == []
        assert acc.doorknock >= {h for h in acc.statuses if h not in acc.answered}
        assert dup <= held
        w.finish()


async def test_kill_during_a_reply_storm(tmp_path: Path, record_property: Any) -> None:
    n = 600
    async with crash_world(tmp_path, n, push_every=0) as w:
        cid = await start_campaign(w.http, w.server.url, w.token, FIRST_WAVE)
        with contextlib.closing(read_db(w.db)) as conn:
            ids = [r[0] for r in conn.execute("SELECT household_id FROM campaign_households WHERE campaign_id = ?",
                                              (cid,))]
        residents = Residents(w.server.url)
        residents.up.set()
        gate = asyncio.Semaphore(40)
        keys = {hid: secrets.token_urlsafe(12) for hid in ids}

        async def one(hid: int) -> None:
            async with gate:
                status = "need_help" if hid % 33 == 0 else "safe"
                await residents.answer(w.http, hid, reply_token(SECRET, cid, hid), status, keys[hid])

        storm = [asyncio.create_task(one(hid)) for hid in ids]
        await residents.wait_accepted(n // 3)
        residents.up.clear()
        await w.server.kill()
        accepted_before = len(residents.accepted)
        await w.server.start()
        residents.up.set()
        await asyncio.gather(*storm)
        assert await w.server.stop() == 0
        acc = accounting(w.db, cid, provider_ids(w.sb))
        lost = [h for h, s in residents.accepted.items() if acc.statuses.get(h) != s]
        stored_twice = [h for h, replies in acc.reply_keys.items() if len(replies) != 1]
        report(record_property, "reply_storm", households=n, accepted_before_kill=accepted_before,
               retries=residents.retries, accepted=len(residents.accepted), lost=len(lost),
               stored_twice=len(stored_twice))
        assert dict(residents.refused) == {}
        assert len(residents.accepted) == n
        assert lost == [] and stored_twice == []
        assert all(replies[0][1].endswith(keys[h]) for h, replies in acc.reply_keys.items())
        w.finish()

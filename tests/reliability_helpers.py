"""Shared set-up of the crash and fault tests: a config on disk, a `safetynet serve` child process,
a sandbox that records every provider request, residents who retry, and the final accounting.

    cfg_path, env = write_server_config(tmp_path, sandbox_url, port, SAFETYNET_CHANNELS_SMS_MAX_PER_SECOND="50")
    async with ServerProcess(cfg_path, env) as server:      # `python -m safetynet serve`, ready when it says so
        ...; await server.kill()                            # SIGKILL, then `await server.start()` again
    acc = accounting(db_path, campaign_id)                  # who is delivered, answered, door-knocked, missed

The store is real SQLite; providers are the sandbox over loopback; nothing is mocked. The final
accounting reads the database file read-only (test inspection only, after the processes stopped).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import logscan
import pg_helpers
from roster_helpers import SECRET_KEY

from safetynet.auth import new_token, token_hash
from safetynet.clock import SystemClock
from safetynet.config import Config, load_config
from safetynet.domain import Role
from safetynet.domain.roster import HouseholdRecord
from safetynet.roster.generate import generate_roster
from safetynet.sandbox import Sandbox
from safetynet.store import open_store

SECRET = SECRET_KEY
READY = "SafetyNet serving on "
ANSWERED = frozenset({"safe", "need_help", "confirmed_in_person"})
# Every provider without its pacing: the tests are about what gets lost, not about provider limits.
UNLIMITED = {f"SAFETYNET_CHANNELS_{c}_MAX_PER_SECOND": "0" for c in ("SMS", "VOICE", "TELEGRAM", "WEBPUSH")}


def server_env(sandbox_url: str, port: int, **extra: str) -> dict[str, str]:
    env = {
        "SAFETYNET_SECRET_KEY": SECRET,
        "SAFETYNET_SERVER_PORT": str(port),
        "SAFETYNET_SERVER_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "SAFETYNET_CHANNELS_SMS_API_BASE_URL": sandbox_url,
        "SAFETYNET_CHANNELS_VOICE_API_BASE_URL": sandbox_url,
        "SAFETYNET_CHANNELS_TELEGRAM_API_BASE_URL": sandbox_url,
        # one IP (the test) answers for a whole city
        "SAFETYNET_REPLIES_RATE_LIMIT_PER_MINUTE": "0",
        "SAFETYNET_LOGGING_LEVEL": "info",
        "SAFETYNET_LOGGING_FORMAT": "json",
        **UNLIMITED,
    }
    env.update(pg_helpers.store_env())  # the tests' PostgreSQL schema, when they run there
    env.update(extra)
    return env


def write_server_config(tmp_path: Path, sandbox_url: str, port: int, **extra: str) -> tuple[Path, dict[str, str]]:
    path = tmp_path / "config.toml"
    path.write_text('[store]\npath = "var/safetynet.db"\n', encoding="utf-8")
    return path, server_env(sandbox_url, port, **extra)


def load(path: Path, env: Mapping[str, str]) -> Config:
    return load_config(path, env=dict(env))


# -- the server as a child process ------------------------------------------------------------


class ServerProcess:
    """`python -m safetynet serve` with `env` over the inherited environment. Its log lines (stderr)
    are kept and scanned for secrets; `kill()` is SIGKILL, `stop()` SIGTERM."""

    def __init__(self, config: Path, env: Mapping[str, str], args: Sequence[str] = ()) -> None:
        self.config = config
        self.args = list(args)  # more `serve` arguments, e.g. ["--role", "dispatcher"]
        self.env = {**os.environ, **env}
        self.port = int(env["SAFETYNET_SERVER_PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: asyncio.subprocess.Process | None = None
        self.log: list[str] = []
        self.starts = 0
        self._drains: list[asyncio.Task[None]] = []
        self._logged = asyncio.Event()  # set on every new log line (`wait_logged`)

    async def start(self, timeout_seconds: float = 60.0) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "safetynet", "serve", "--config", str(self.config), *self.args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=self.env,
        )
        self.starts += 1
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._drains.append(asyncio.create_task(self._drain(self.proc.stderr)))
        async with asyncio.timeout(timeout_seconds):
            while True:
                line = (await self.proc.stdout.readline()).decode()
                if not line:
                    await self.proc.wait()
                    raise RuntimeError(f"serve exited with {self.proc.returncode}:\n" + "\n".join(self.log[-20:]))
                if line.startswith(READY):
                    break
        self._drains.append(asyncio.create_task(self._drain(self.proc.stdout)))

    async def _drain(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.log.append(line.decode(errors="replace").rstrip("\n"))
            self._logged.set()

    def _docs(self) -> Iterator[dict[str, Any]]:
        """The log lines that are JSON objects, parsed."""
        for line in self.log:
            with contextlib.suppress(ValueError):
                doc = json.loads(line)
                if isinstance(doc, dict):
                    yield doc

    def events(self, name: str) -> list[dict[str, Any]]:
        """The JSON log lines whose event is `name`."""
        return [doc for doc in self._docs() if doc.get("event") == name]

    async def wait_logged(self, name: str, timeout_seconds: float = 30.0) -> dict[str, Any]:
        """Until the server has logged event `name` (what it did, not a time it might take)."""
        async with asyncio.timeout(timeout_seconds):
            while True:
                self._logged.clear()
                found = self.events(name)
                if found:
                    return found[0]
                await self._logged.wait()

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs, exactly like a power cut of the process."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        await self._finish_drains()

    async def stop(self, timeout_seconds: float = 40.0) -> int:
        """SIGTERM and wait: the graceful stop `serve` promises."""
        if self.proc is None or self.proc.returncode is not None:
            return self.proc.returncode if self.proc is not None and self.proc.returncode is not None else 0
        self.proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(timeout_seconds):
            rc = await self.proc.wait()
        await self._finish_drains()
        return rc

    async def _finish_drains(self) -> None:
        await asyncio.gather(*self._drains, return_exceptions=True)
        self._drains = []

    def leaks(self) -> list[logscan.Leak]:
        return logscan.scan_external("\n".join(self.log), f"serve:{self.config.parent.name}")

    def errors(self) -> list[dict[str, Any]]:
        """Log lines at error level (parsed JSON)."""
        return [doc for doc in self._docs() if doc.get("level") in ("error", "critical")]

    async def __aenter__(self) -> ServerProcess:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(ProcessLookupError, TimeoutError):
            await self.stop()
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


# -- a city ----------------------------------------------------------------------------------


def city(n: int, seed: int = 7) -> list[HouseholdRecord]:
    """A generated city of `n` households (mobiles, landlines, a few Telegram chats and no-phone homes)."""
    return list(generate_roster(n, seed=seed, households_per_association=max(20, n // 6)))


async def seed_city(cfg: Config, records: Sequence[HouseholdRecord], sandbox: Sandbox | None = None,
                    push_every: int = 0, telegram_every: int = 0) -> tuple[dict[int, str], str]:
    """Imports `records`; every `push_every`-th household also gets a web-push subscription minted by
    `sandbox` (for the server's VAPID key) and every `telegram_every`-th a Telegram chat. Returns
    (household id → push subscription id) and a city-admin API token."""
    from safetynet.channels.webpush.vapid import load_or_create_vapid

    store = await open_store(cfg, SystemClock())
    subs: dict[int, str] = {}
    try:
        await store.roster.import_households(list(records))
        ids = sorted(t.household_id for t in await store.roster.code_targets(only_without_code=False))
        if sandbox is not None and push_every:
            key = load_or_create_vapid(cfg.data_dir).application_server_key
            for hid in ids[::push_every]:
                sub = sandbox.fake("webpush").subscribe(key)
                subs[hid] = sub["endpoint"].rsplit("/", 1)[1]
                await store.roster.add_contact(hid, "webpush", json.dumps(sub))
        if telegram_every:
            for hid in ids[1::telegram_every]:
                await store.roster.add_contact(hid, "telegram", str(8_000_000 + hid))
        token = new_token()
        await store.auth.create_api_token(token_hash(token), Role.CITY_ADMIN, "city", label="reliability")
    finally:
        await store.close()
    return subs, token


async def start_campaign(http: aiohttp.ClientSession, url: str, token: str, ladder: list[dict[str, Any]],
                         title: str = "信頼性訓練") -> int:
    """POST /api/campaigns as the city admin's API token: a city-wide drill with `ladder`, ended by the
    door knock a day on when it does not end so (every ladder does; none of these runs lasts a day)."""
    if not ladder[-1].get("door_knock"):
        ladder = [*ladder, {"after_minutes": 1440, "door_knock": True}]
    doc = {"title": title, "kind": "drill", "scope": ["city"], "ladder": ladder,
           "messages": {"ja": "訓練です。無事ですか。", "en": "Drill. Are you safe?"}}
    async with http.post(f"{url}/api/campaigns", json=doc, headers={"Authorization": f"Bearer {token}"}) as r:
        body = await r.json()
        assert r.status == 201, body
        return int(body["id"])


# -- residents -------------------------------------------------------------------------------


@dataclass
class Residents:
    """Residents answering on the reply page. A request that fails on the connection (the server
    died under it) is sent again with the same idempotency key once `up` is set: the test clears
    `up` before it kills the server and sets it when the new one listens. Only a 200 is accepted."""

    url: str
    up: asyncio.Event = field(default_factory=asyncio.Event)
    accepted: dict[int, str] = field(default_factory=dict)  # household id -> status the server acknowledged
    refused: Counter[int] = field(default_factory=Counter)  # HTTP status -> count
    retries: int = 0
    progress: asyncio.Event = field(default_factory=asyncio.Event)

    async def answer(self, http: aiohttp.ClientSession, household_id: int, token: str, status: str, key: str) -> None:
        for _ in range(20):
            await self.up.wait()
            try:
                async with http.post(f"{self.url}/r/{token}", data={"status": status, "k": key}) as r:
                    await r.read()
            except (aiohttp.ClientError, TimeoutError):
                self.retries += 1
                continue
            if r.status == 200:
                self.accepted[household_id] = status
                self.progress.set()
            else:
                self.refused[r.status] += 1
            return
        raise AssertionError(f"household {household_id}: the answer never got through")

    async def wait_accepted(self, n: int, timeout_seconds: float = 60.0) -> None:
        async with asyncio.timeout(timeout_seconds):
            while len(self.accepted) < n:
                self.progress.clear()
                await self.progress.wait()


# -- the final accounting ----------------------------------------------------------------------


@dataclass
class Accounting:
    households: int
    statuses: dict[int, str]
    answered: set[int]
    delivered: set[int]  # a delivery sent (or confirmed delivered) that the provider has on record
    doorknock: set[int]
    stuck: list[tuple[int, str, str]]  # (household, channel, state) still queued or claimed
    phantom: list[tuple[int, str, str]]  # marked sent, but the provider never received that id
    reply_keys: dict[int, list[tuple[str, str]]]  # household -> [(status, dedupe key)] of its answers

    @property
    def missed(self) -> list[int]:
        """Households neither delivered, answered, nor on the door-knock list."""
        return sorted(h for h in self.statuses if h not in self.answered | self.delivered | self.doorknock)


def read_db(where: Path | Config) -> sqlite3.Connection:
    """The database of a finished run, to read: the SQLite file at `where` (a path, or a config's
    file), or the PostgreSQL schema of the config (or, given a path, this test's schema when the
    tests run on PostgreSQL)."""
    import pg_helpers

    if isinstance(where, Config):
        if where.store.url.startswith("postgresql"):
            return pg_helpers.PgReader(where.store.url)  # type: ignore[return-value]
        where = where.db_path
    elif pg_helpers.ON_POSTGRES and os.environ.get(pg_helpers.URL_ENV):
        return pg_helpers.PgReader(os.environ[pg_helpers.URL_ENV])  # type: ignore[return-value]
    conn = sqlite3.connect(f"file:{where}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    return conn


def accounting(db_path: Path, campaign_id: int, provider_ids: set[str]) -> Accounting:
    """Reads the outcome of a campaign from the database file (the servers have stopped)."""
    with contextlib.closing(read_db(db_path)) as db:
        statuses = {r[0]: r[1] for r in db.execute(
            "SELECT household_id, status FROM campaign_households WHERE campaign_id = ?", (campaign_id,))}
        doorknock = {r[0] for r in db.execute(
            "SELECT household_id FROM campaign_households WHERE campaign_id = ? AND doorknock_at IS NOT NULL",
            (campaign_id,))}
        delivered: set[int] = set()
        stuck, phantom = [], []
        for r in db.execute("SELECT household_id, channel, state, provider_id FROM deliveries WHERE campaign_id = ?",
                            (campaign_id,)):
            if r["state"] in ("sent", "delivered"):
                if r["provider_id"] in provider_ids:
                    delivered.add(r["household_id"])
                else:
                    phantom.append((r["household_id"], r["channel"], r["provider_id"]))
            elif r["state"] in ("queued", "claimed"):
                stuck.append((r["household_id"], r["channel"], r["state"]))
        keys: dict[int, list[tuple[str, str]]] = {}
        for r in db.execute("SELECT household_id, status, dedupe_key FROM replies WHERE campaign_id = ?"
                            " AND status IN ('safe', 'need_help') ORDER BY id", (campaign_id,)):
            keys.setdefault(r[0], []).append((r[1], r[2]))
    answered = {h for h, s in statuses.items() if s in ANSWERED}
    return Accounting(len(statuses), statuses, answered, delivered, doorknock, stuck, phantom, keys)


def claimed_now(db_path: Path) -> int:
    """Deliveries held by a dispatcher (what a kill can duplicate at most)."""
    with contextlib.closing(read_db(db_path)) as db:
        return int(db.execute("SELECT count(*) FROM deliveries WHERE state = 'claimed'").fetchone()[0])


def duplicates(sandbox: Sandbox, channel: str | None = None) -> int:
    """Messages a recipient got more than once on the same channel (same text: the same alert)."""
    seen = Counter((r.channel, r.address, r.text) for r in sandbox.messages(channel))
    return sum(n - 1 for n in seen.values() if n > 1)


class WarpClock(SystemClock):
    """Real time plus an offset the test moves forward ("mock only time"). Sleeps are real, so
    provider latency and Retry-After are lived in real time; `jump` skips only idle waits (a retry
    booked 30 s ahead, the next ladder step) while nothing is running."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def jump(self, seconds: float) -> None:
        self.offset += max(0.0, seconds)


def contacts_by_household(db_path: Path) -> dict[int, list[tuple[str, str, str]]]:
    """household id -> [(kind, provider address, state)]; a push subscription's address is its id."""
    out: dict[int, list[tuple[str, str, str]]] = {}
    with contextlib.closing(read_db(db_path)) as db:
        for r in db.execute("SELECT household_id, kind, address, state FROM contacts ORDER BY id"):
            address = r["address"]
            if r["kind"] == "webpush":
                address = json.loads(address)["endpoint"].rsplit("/", 1)[1]
            out.setdefault(r["household_id"], []).append((r["kind"], address, r["state"]))
    return out


def provider_ids(sandbox: Sandbox) -> set[str]:
    """Every id a sender may have stored for a message the sandbox received: Twilio SIDs, the
    Telegram message id (alone, or after the chat id), the push service's Location path."""
    out: set[str] = set()
    for r in sandbox.messages():
        out.add(r.provider_id)
        if r.channel == "telegram":
            out.add(str(r.seq))
        elif r.channel == "webpush":
            out.add(f"/wpush/msg/{r.seq}")
    return out


STACK_TRACE_MARKS = ("Traceback (most recent call last)", 'File "/', "500 Internal Server Error")


def refusal_problems(status: int, body: str, content_type: str) -> list[str]:
    """What is wrong with an answer to bad input: a 5xx, a stack trace, or a refusal without a reason."""
    problems = []
    if status >= 500:
        problems.append(f"status {status}")
    if any(m in body for m in STACK_TRACE_MARKS):
        problems.append("a stack trace in the body")
    if 400 <= status < 500:
        if not body.strip():
            problems.append(f"{status} without a reason")
        elif "json" in content_type:
            try:
                doc = json.loads(body)
            except ValueError:
                problems.append(f"{status}: a JSON content type with a body that is not JSON")
            else:
                if not (isinstance(doc, dict) and isinstance(doc.get("error"), str) and doc["error"].strip()):
                    problems.append(f"{status}: JSON without an error message: {body[:200]}")
    return problems

"""A whole city running on this machine: sandbox providers, the server, enrolled residents.

`staged_city(options)` builds everything in a data folder of its own (nothing of the repository's
`config.toml` or `var/` is used): a fresh secret, the sandbox on a free port, the server through the
composition root (`running_system`), the roster, staff logins, enrolment through the real paths,
and the simulated residents following the sandbox's record. The demo, the drill tests and
`campaign start --simulate` style rehearsals all stand on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from safetynet.channels.webpush.vapid import load_or_create_vapid
from safetynet.config import Config, load_config
from safetynet.domain import ChannelName
from safetynet.lab.sim import city
from safetynet.lab.sim.acts import credentials
from safetynet.lab.sim.city import PUSH
from safetynet.lab.sim.enrol import Enrolling, EnrolResult, enrol
from safetynet.lab.sim.feeds import Follower, follow_sandbox, settle
from safetynet.lab.sim.indexed import use_indexed_state
from safetynet.lab.sim.model import ResidentModel, has_no_channel
from safetynet.lab.sim.residents import ResidentDriver
from safetynet.sandbox import Sandbox
from safetynet.system import System, running_system

log = structlog.get_logger("sim")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def stage_env(data_dir: Path, port: int, secret: str, sandbox_url: str = "http://127.0.0.1:9",
              extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for `load_config(None, env=…)`: every provider on the sandbox, no provider limits."""
    sandbox = sandbox_url.rsplit(":", 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFETYNET_")}
    env.update({
        "SAFETYNET_STORE_PATH": str(data_dir / "safetynet.db"),
        "SAFETYNET_SECRET_KEY": secret,
        "SAFETYNET_SERVER_HOST": "127.0.0.1",
        "SAFETYNET_SERVER_PORT": str(port),
        "SAFETYNET_SERVER_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "SAFETYNET_SANDBOX_HOST": sandbox[0].rpartition("/")[2],
        "SAFETYNET_SANDBOX_PORT": sandbox[1],
        # Every simulated phone answers from this machine's address: a per-address limit would refuse them.
        "SAFETYNET_REPLIES_RATE_LIMIT_PER_MINUTE": "0",
    })
    for ch in ("SMS", "VOICE", "TELEGRAM", "LINE"):
        env[f"SAFETYNET_CHANNELS_{ch}_API_BASE_URL"] = sandbox_url
    for ch in ("SMS", "VOICE", "TELEGRAM", "WEBPUSH", "LINE"):
        env[f"SAFETYNET_CHANNELS_{ch}_MAX_PER_SECOND"] = "0"  # the sandbox has no provider limits
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class StageOptions:
    data_dir: Path
    households: int | None = None  # None: the sample roster
    port: int = 0  # 0: a free port
    push_share: float = 0.6
    telegram_share: float = 0.2
    line_share: float = 0.1
    # of the households enrolling none of the above: many of those without a smartphone app read carrier mail
    email_share: float = 0.5
    model: ResidentModel = field(default_factory=ResidentModel)
    concurrency: int = 32
    seed: int = 1
    password: str = ""  # of every staff login; "" generates one
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Stage:
    cfg: Config
    sandbox: Sandbox
    system: System
    driver: ResidentDriver
    follower: Follower
    password: str
    logins: list[city.StaffLogin]
    households: int
    enrolment: EnrolResult
    dead_households: int = 0

    @property
    def url(self) -> str:
        return self.cfg.server.public_url

    async def settled(self) -> None:
        """Until the residents have read every message the sandbox holds and sent every answer due."""
        await settle(self.sandbox, self.follower, self.driver.idle)


async def _prepare(stage_cfg: Config, system: System, options: StageOptions) -> tuple[int, list[city.StaffLogin],
                                                                                     dict[int, ChannelName], dict[int, str]]:
    store = system.store
    records = city.roster_records(options.households, stage_cfg.city.name, options.seed,
                                 stage_cfg.city.default_language)
    await store.roster.import_households(records)
    logins = await city.add_staff(store, options.password)
    ids = await city.household_ids(store)
    plan = city.choose_enrolment(ids, options.push_share, options.telegram_share, options.seed, options.line_share)
    plan.update(city.choose_email_enrolment(ids, plan, options.email_share, options.seed))
    codes = await city.issue_codes(store, sorted(plan), stage_cfg.secrets.secret_key)
    return len(ids), logins, plan, codes


async def _dead_addresses(system: System, model: ResidentModel,
                          subscriptions: Mapping[int, str]) -> tuple[int, set[str]]:
    """Every address of the households the model gives no working channel."""
    dead: set[str] = set()
    n = 0
    for hid in await city.household_ids(system.store):
        if not has_no_channel(model, hid):
            continue
        n += 1
        h = await system.store.roster.get_household(hid)
        # Phones are stored as E.164 and chat ids as digits, as the sandbox records them.
        dead.update(c.address for c in (h.contacts if h else ()) if c.kind != PUSH)
        if hid in subscriptions:
            dead.add(subscriptions[hid])
    return n, dead


@contextlib.asynccontextmanager
async def staged_city(options: StageOptions) -> AsyncIterator[Stage]:
    data_dir = options.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    password = options.password or secrets.token_urlsafe(9)
    port = options.port or free_port()
    first = load_config(None, env=stage_env(data_dir, port, secret, extra=options.env))
    sandbox = Sandbox(first, port=0, app_url=first.server.public_url)
    use_indexed_state(sandbox)
    async with sandbox:
        cfg = load_config(None, env=stage_env(data_dir, port, secret, sandbox.url,
                                              {**sandbox.app_env(), **(options.env or {})}))
        server_key = load_or_create_vapid(cfg.data_dir).application_server_key
        async with running_system(cfg, port=port, triggers=False) as system:
            opts = StageOptions(**{**options.__dict__, "password": password})
            households, logins, plan, codes = await _prepare(cfg, system, opts)
            enrolling = [Enrolling(hid, codes[hid], ch, city.CHAT_ID_BASE + hid) for hid, ch in plan.items()]
            result = await enrol(cfg.server.public_url, sandbox.url, enrolling, server_key,
                                 concurrency=options.concurrency)
            n_dead, dead = await _dead_addresses(system, options.model, result.subscriptions)
            sandbox.faults.update({"dead": sorted(dead)})
            log.info("sim_city_ready", households=households, webpush=result.webpush, telegram=result.telegram,
                     line=result.line, email=result.email,
                     no_channel=n_dead)
            driver = ResidentDriver(options.model, credentials(cfg), concurrency=options.concurrency,
                                    report_seen=True)
            follower = Follower(driver.feed)
            async with driver:
                task = asyncio.create_task(follow_sandbox(sandbox, follower), name="sim-follow")
                try:
                    yield Stage(cfg, sandbox, system, driver, follower, password, logins, households, result,
                                n_dead)
                finally:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task


def stage_summary(stage: Stage) -> dict[str, Any]:
    return {"url": stage.url, "households": stage.households, "enrolled": stage.enrolment.to_dict(),
            "no_channel_households": stage.dead_households}

"""`safetynet campaign start SCENARIO --simulate`: simulated residents answer a campaign just started.

Only on a machine whose every provider is the sandbox (`safetynet sandbox --app-url …` running, and
`safetynet serve`): the residents follow the sandbox's record over HTTP, answer the messages of this
campaign only (its reply tokens), and the command returns when the ladder has reached its door-knock
list and every answer is in. The model is the scenario's `[simulate]` table, in real time unless
the table sets `time_compression`.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any

import aiohttp

from safetynet.admin import CommandError
from safetynet.channels.base import talks_to_sandbox
from safetynet.config import Config
from safetynet.lab.sim.acts import credentials
from safetynet.lab.sim.city import SIMULATION_TABLES
from safetynet.lab.sim.drill import campaign_finished
from safetynet.lab.sim.feeds import Follower, follow_http
from safetynet.lab.sim.messages import ResidentMessage
from safetynet.lab.sim.model import ResidentModel
from safetynet.lab.sim.residents import ResidentDriver
from safetynet.replies.tokens import reply_token
from safetynet.store import store_session

POLL_SECONDS = 1.0


def check_sandbox_only(cfg: Config) -> str:
    """The sandbox's URL; CommandError when any enabled provider is a real one."""
    for name, settings in cfg.channels.items():
        if settings.enabled and not talks_to_sandbox(settings):
            raise CommandError(f"--simulate runs only against the sandbox; channels.{name} is a real provider")
    return f"http://{cfg.sandbox.host}:{cfg.sandbox.port}"


def model_of(options: dict[str, Any]) -> ResidentModel:
    table: dict[str, Any] = {}
    for name in SIMULATION_TABLES:
        if isinstance(options.get(name), dict):
            table.update(options[name])
    try:
        return ResidentModel.from_table(table)
    except ValueError as e:
        raise CommandError(str(e)) from None


def preflight(cfg: Config, options: dict[str, Any]) -> None:
    """What `simulate` would refuse, refused before the campaign starts: a rehearsal against a real
    provider, or a residents' table it cannot read, must not leave a campaign sending with no one simulated."""
    check_sandbox_only(cfg)
    model_of(options)


async def _simulate(cfg: Config, campaign_id: int, stop: asyncio.Event) -> dict[str, Any]:
    sandbox_url = check_sandbox_only(cfg)
    async with store_session(cfg) as store:
        campaign = await store.campaigns.get(campaign_id)
        if campaign is None:
            raise CommandError(f"no campaign {campaign_id}")
        ours = {reply_token(cfg.secrets.secret_key, campaign_id, h)
                for h in await store.campaigns.household_statuses(campaign_id)}
        driver = ResidentDriver(model_of(campaign.options), credentials(cfg), concurrency=16,
                                report_seen=True)

        def sink(m: ResidentMessage) -> None:
            if m.token in ours:  # older campaigns' messages are in the record too
                driver.feed(m)

        follower = Follower(sink)
        async with driver, aiohttp.ClientSession() as http:
            task = asyncio.create_task(follow_http(sandbox_url, follower, http))
            try:
                while not stop.is_set() and not await campaign_finished(store, campaign_id, len(campaign.ladder)):
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), POLL_SECONDS)
                await driver.idle()
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        return driver.stats.to_dict()


async def _main(cfg: Config, campaign_id: int) -> dict[str, Any]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return await _simulate(cfg, campaign_id, stop)


def simulate(cfg: Config, campaign_id: int) -> int:
    """Blocks until the campaign's ladder is done and the residents have answered; prints their counters."""
    check_sandbox_only(cfg)
    print(f"simulating residents for campaign {campaign_id} (Ctrl-C stops)…", flush=True)
    s = asyncio.run(_main(cfg, campaign_id))
    print(f"residents: {s['messages']} messages read, {s['accepted']} answers accepted, {s['failed']} failed, "
          f"{s['silent']} households silent", flush=True)
    return 0

"""The composition root: one running SafetyNet (store, senders, web app, dispatcher, ladder, triggers).

`serve`, `demo`, the benchmarks and the end-to-end tests all start the system through here,
so they run the same wiring a city would. The parts (dispatcher, lanes, ladder, intake, staff
notifier) receive what they use; only this module builds and connects them.

Web push encryption is CPU-bound (about 0.35 ms a message for the ECDH + AES-GCM alone), so on a
machine with a second core the web-push sender runs in a child process (`ProcessSender`): one
process would cap the whole broadcast near one core. The child only sends; the database keeps one
writer (two writing processes wait on each other's locks, and lose under load).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import web

from safetynet.broadcast.dispatcher import STOP_GRACE_SECONDS, Dispatcher
from safetynet.broadcast.health import WebHeartbeat
from safetynet.broadcast.ladder import LadderScheduler
from safetynet.broadcast.leader import Duty, Leader
from safetynet.broadcast.sendworker import ProcessSender
from safetynet.broadcast.service import CampaignService
from safetynet.channels import registry
from safetynet.channels.base import ChannelSender
from safetynet.clock import Clock, SystemClock
from safetynet.config import Config, ConfigError, channel_contexts
from safetynet.domain import ChannelName
from safetynet.metrics import Metrics
from safetynet.privacy.retention import run_daily
from safetynet.replies.escalate import HelpEscalation
from safetynet.replies.intake import ReplyIntake
from safetynet.replies.notify import StaffNotifier
from safetynet.store import Store, open_store
from safetynet.triggers.service import TriggerService
from safetynet.web.app import OPS_MODULES, Services, app_runner, create_app
from safetynet.web.app import site as web_site

log = structlog.get_logger("system")

ROLES = ("all", "web", "dispatcher")

# Beyond a dispatcher's own grace for sends in flight: enough to write back what it holds. Only a
# stuck database reaches this; the task is then cancelled and its claims come back after the lease.
STOP_MARGIN_SECONDS = 10.0


# -- senders -------------------------------------------------------------------------------------


def cpu_bound_lanes() -> tuple[ChannelName, ...]:
    """Senders worth a process of their own when there is a second core (their specs say so)."""
    return tuple(s.name for s in registry.SPECS if s.cpu_bound)


def use_send_workers(cfg: Config) -> bool:
    return (os.cpu_count() or 1) > 1 and any(cfg.channels.get(ch).enabled for ch in cpu_bound_lanes())


def build_senders(cfg: Config, public_url: str | None = None) -> dict[ChannelName, ChannelSender]:
    """One sender per enabled channel, in this process (not started)."""
    return registry.build_senders(channel_contexts(cfg, public_url=public_url))


def build_dispatch_senders(cfg: Config, public_url: str | None = None,
                           send_workers: bool | None = None) -> dict[ChannelName, ChannelSender]:
    """The senders of every enabled channel, CPU-bound ones in their own process on a multi-core
    machine (not started: call `start()` inside the running loop)."""
    senders = build_senders(cfg, public_url)
    if use_send_workers(cfg) if send_workers is None else send_workers:
        for ch in cpu_bound_lanes():
            if ch in senders:
                senders[ch] = ProcessSender(cfg, ch, public_url)
    return senders


# -- the running system --------------------------------------------------------------------------


@dataclass
class System:
    cfg: Config
    store: Store
    clock: Clock
    services: Services
    app: web.Application
    dispatcher: Dispatcher | None
    ladder: LadderScheduler | None
    url: str = ""
    role: str = "all"
    leader: Leader | None = None
    escalation: HelpEscalation | None = None  # in every process that takes answers (not a dispatcher's)
    web_beat: WebHeartbeat | None = None  # a process that serves pages without a dispatcher
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    _senders: dict[ChannelName, ChannelSender] = field(default_factory=dict)

    @property
    def campaigns(self) -> CampaignService:
        svc: CampaignService = self.services.campaigns
        return svc

    @property
    def intake(self) -> ReplyIntake:
        intake: ReplyIntake = self.services.intake
        return intake


async def _register_webhooks(senders: dict[ChannelName, ChannelSender]) -> None:
    """Tells each provider that needs it where its webhook is (Telegram's setWebhook)."""
    for name, sender in senders.items():
        register = getattr(sender, "register_webhook", None)
        if register is None:
            continue
        try:
            await register()
        except Exception as e:  # the channel still sends; replies arrive once the webhook is set again
            log.warning("webhook_not_registered", channel=name, error=str(e))


def _spawn(system: System, coro: Coroutine[Any, Any, Any], name: str) -> None:
    task = asyncio.get_running_loop().create_task(coro, name=name)

    def done(t: asyncio.Task[Any]) -> None:
        if not t.cancelled() and t.exception() is not None:
            log.error("background_task_failed", task=name, error=repr(t.exception()))

    task.add_done_callback(done)
    system.tasks.append(task)


@contextlib.asynccontextmanager
async def running_system(
    cfg: Config,
    clock: Clock | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
    dispatch: bool = True,
    ladder: bool = True,
    triggers: bool = True,
    retention: bool = True,
    send_workers: bool | None = False,
    stop_grace_seconds: float = STOP_GRACE_SECONDS,
    role: str = "all",
    shared_slots: bool | None = None,
) -> AsyncIterator[System]:
    """Starts everything and yields the running system; stops it promptly on exit.

    `send_workers`: web-push encryption in a worker process (the second core); None decides by
    the machine (what `serve` does), False keeps everything in this process (tests, the demo).
    `stop_grace_seconds`: on exit, how long sends already at a provider may take to answer; retry
    waits end at once and nothing claimed is lost (see `Dispatcher`).
    `retention`: erase what `[privacy]` says is due, shortly after start and then daily.
    `role` (DESIGN §8): `all` runs everything; `web` serves the pages and takes answers (no
    dispatcher, no schedulers, no send worker); `dispatcher` sends and runs the schedulers, serving only /healthz,
    /readyz and /metrics. However many processes share the store, the ladder, triggers and
    retention run in one of them: the holder of the store's leader lease (`Leader`).
    `shared_slots`: pace provider lanes through the store, for every dispatcher together; None
    decides: yes unless this is a single `all` process on SQLite (the embedded city).
    """
    if role not in ROLES:
        raise ConfigError(f"serve: unknown role {role!r} (all, web or dispatcher)")
    if role == "web":
        dispatch = ladder = triggers = retention = False
        # no send worker either: its process encrypts the dispatcher's bulk web push; a web process sends
        # one enrolment code or webhook answer at a time, in-process (QA: `--role web` started one anyway)
        send_workers = False
    if shared_slots is None:
        shared_slots = role != "all" or cfg.store.url.startswith("postgres")
    if not cfg.secrets.secret_key:
        raise ConfigError("config: no secret key; run `safetynet init` or set SAFETYNET_SECRET_KEY")
    clock = clock or SystemClock()
    store = await open_store(cfg, clock)
    senders = build_dispatch_senders(cfg, send_workers=send_workers)
    started: list[ChannelSender] = []
    runner: web.AppRunner | None = None
    system: System | None = None
    try:
        await _start_senders(senders.values(), started)
        metrics = Metrics()
        dispatcher = (Dispatcher(store, senders, cfg, clock, contacts=store.roster,
                                 stop_grace_seconds=stop_grace_seconds, metrics=metrics,
                                 shared_slots=store.coordination if shared_slots else None)
                      if dispatch else None)
        # Staff alerts are outbox rows over the enabled channels: this process's dispatcher, or any
        # other's, sends them ahead of the households' deliveries.
        notifier = StaffNotifier(store, cfg, cfg.channels.enabled(), clock,
                                 on_queued=dispatcher.wake if dispatcher else None)
        intake = ReplyIntake(store, cfg, clock, notifier, metrics=metrics)
        if role != "dispatcher":
            await intake.start()
        campaigns = CampaignService(store, cfg, clock, on_change=dispatcher.wake if dispatcher else None)
        scheduler = (
            LadderScheduler(store.campaigns, clock, notifier=notifier,
                            on_planned=dispatcher.wake if dispatcher else None,
                            enrol_newcomers=campaigns.enrol_newcomers)
            if ladder else None
        )
        trigger_service = TriggerService(store, cfg, campaigns, clock)
        services = Services(cfg=cfg, store=store, clock=clock, senders=senders, campaigns=campaigns,
                            dispatcher=dispatcher, intake=intake, triggers=trigger_service, metrics=metrics)
        app = create_app(services, OPS_MODULES if role == "dispatcher" else None)
        runner = app_runner(app, shutdown_timeout=5)
        await runner.setup()
        site = web_site(runner, host or cfg.server.host, cfg.server.port if port is None else port)
        await site.start()
        bound = runner.addresses[0]
        url = f"http://{bound[0]}:{bound[1]}"
        duties: dict[str, Duty] = {}
        if scheduler is not None:
            duties["ladder"] = scheduler.run
        if triggers:
            duties["triggers"] = trigger_service.run
        if retention:
            duties["retention"] = lambda: run_daily(store, cfg.privacy, clock)
        leader = (Leader(store.coordination, clock, duties, ttl_seconds=cfg.broadcast.leader_lease_seconds)
                  if duties else None)
        # Each process that takes answers checks for help left unhandled: the store's claim tells each
        # request once, however many check (so it needs no leader lease, nor a dispatcher here). It also
        # queues again alerts a store error kept unqueued, one process at a time (`intake.HELP_RESEND_LEASE`).
        escalation = (HelpEscalation(store, notifier, clock, cfg.replies.help_escalate_minutes,
                                     resend=intake.resend_unnotified)
                      if role != "dispatcher" else None)
        # A process without a dispatcher would otherwise leave no row: an upgrade's `init` looks for live
        # processes in the heartbeats, and migrated the database under a running web process (QA); a
        # `--role dispatcher --no-dispatch` runs the schedulers, and is seen the same way (review)
        web_beat = WebHeartbeat(store.health, clock) if dispatcher is None else None
        system = System(cfg, store, clock, services, app, dispatcher, scheduler, url, role, leader, escalation,
                        web_beat, _runner=runner, _senders=senders)
        if web_beat is not None:
            await web_beat.start()
        if role != "dispatcher":
            await _register_webhooks(senders)
        if dispatcher is not None:
            _spawn(system, dispatcher.run(), "dispatcher")
        if leader is not None:
            _spawn(system, leader.run(), "leader")
        if escalation is not None:
            _spawn(system, escalation.run(), "help_escalation")
        log.info("system_started", url=url, role=role, lanes=sorted(dispatcher.lanes) if dispatcher else [],
                 send_workers=sorted(c for c, s in senders.items() if isinstance(s, ProcessSender)))
        yield system
    finally:
        await _stop(system, runner, started, store)


async def _start_senders(senders: Iterable[ChannelSender], started: list[ChannelSender]) -> None:
    """Starts the senders side by side, send workers first: a worker's process boots (its imports
    take a second or more) while this process imports the other providers' SDKs (LINE's alone takes
    most of a second). Each sender started goes into `started`, so a failure stops exactly those;
    the first failure is raised as itself."""

    async def one(s: ChannelSender) -> None:
        await s.start()
        started.append(s)

    try:
        async with asyncio.TaskGroup() as group:
            for s in sorted(senders, key=lambda s: not isinstance(s, ProcessSender)):
                group.create_task(one(s))
    except BaseExceptionGroup as e:
        raise e.exceptions[0] from None


async def _stop(system: System | None, runner: web.AppRunner | None, senders: list[ChannelSender],
                store: Store) -> None:
    if system is not None:
        if system.dispatcher is not None:
            system.dispatcher.stop()
        if system.leader is not None:
            system.leader.stop()  # ends the ladder, triggers and retention, and releases the lease
        if system.escalation is not None:
            system.escalation.stop()
        cap = (system.dispatcher.stop_grace_seconds if system.dispatcher else 0.0) + STOP_MARGIN_SECONDS
        for t in system.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(t, timeout=cap)
        with contextlib.suppress(Exception):
            await system.intake.stop()
    if runner is not None:
        await runner.cleanup()
    if system is not None and system.web_beat is not None:
        await system.web_beat.stop(STOP_MARGIN_SECONDS)  # after the last page: until then it runs
    for s in senders:
        with contextlib.suppress(Exception):
            await s.close()
    await store.close()
    log.info("system_stopped")

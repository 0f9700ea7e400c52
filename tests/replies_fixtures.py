"""A running app on loopback with a small city, a running campaign and the sandbox as the providers.

Used by the replies, hooks and enrolment tests. Only time is faked (FakeClock); the store is real
SQLite, the providers are the sandbox over HTTP, and the client libraries are the real ones.
`intake_only` is the same city and campaign on the in-memory store with the intake alone (no HTTP):
the unit tests of the reply intake.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from pg_helpers import store_env
from ports import listening_socket
from roster_helpers import SECRET_KEY, household
from sqlite_template import migrated_store_for
from twilio.request_validator import RequestValidator

from safetynet.broadcast.dispatcher import Dispatcher
from safetynet.broadcast.service import CampaignService, CampaignSpec
from safetynet.channels.base import ChannelSender, OutboundMessage
from safetynet.clock import FakeClock
from safetynet.config import Config, load_config
from safetynet.domain import CampaignKind, ChannelName, Role
from safetynet.domain.campaigns import Actor
from safetynet.domain.roster import Household, HouseholdRecord, Staff
from safetynet.replies.intake import ReplyIntake
from safetynet.replies.tokens import reply_token, reply_url
from safetynet.roster.codes import hash_code, new_code
from safetynet.roster.contacts import normalise_contact
from safetynet.sandbox import Sandbox
from safetynet.store import Store, open_store
from safetynet.store.memory import MemoryStore
from safetynet.system import build_senders
from safetynet.web.app import Services, app_runner, create_app, site

SECRET = SECRET_KEY
UNLIMITED = {f"SAFETYNET_CHANNELS_{c}_MAX_PER_SECOND": "0" for c in ("SMS", "VOICE", "TELEGRAM", "WEBPUSH")}
ASSOC_A = "桜町一丁目町会"
ASSOC_B = "桜町二丁目町会"
MESSAGES = {"ja": "震度6弱の地震がありました。安否を教えてください。", "en": "A strong earthquake hit. Are you safe?"}



def records() -> list[HouseholdRecord]:
    """Four households in A (one vulnerable, one English, one sharing a phone), one in B."""
    return [
        household("桜地区", ASSOC_A, "1班", "A-001", "山田 太郎", "桜町1-1-1", 3, False, "ja",
                        phone="+819011110001"),
        household("桜地区", ASSOC_A, "1班", "A-002", "佐藤 花子", "桜町1-1-2", 1, True, "ja",
                        phone="+819011110002", landline="+81311110002"),
        household("桜地区", ASSOC_A, "2班", "A-003", "Smith John", "桜町1-2-3", 2, False, "en",
                        phone="+819011110003", telegram="5550003"),
        household("桜地区", ASSOC_A, "2班", "A-004", "山田 次郎", "桜町1-2-4", 2, False, "ja",
                        phone="+819011110001"),  # the same mobile as A-001 (a son answering for parents)
        household("梅地区", ASSOC_B, "1班", "B-001", "鈴木 一郎", "梅町2-1-1", 4, False, "ja",
                        phone="+819022220001"),
    ]


@dataclass
class City:
    """The seeded city and its running campaign, as the tests name them."""

    cfg: Config
    store: Store
    clock: FakeClock
    campaign_id: int = 0
    households: dict[str, Household] = field(default_factory=dict)  # by household key
    staff: dict[str, Staff] = field(default_factory=dict)

    def hh(self, key: str) -> Household:
        return self.households[key]

    def token(self, key: str, campaign_id: int | None = None) -> str:
        return reply_token(SECRET, campaign_id or self.campaign_id, self.hh(key).id)

    async def status(self, key: str, campaign_id: int | None = None) -> str:
        target = await self.store.replies.target(campaign_id or self.campaign_id, self.hh(key).id)
        assert target is not None
        return str(target.status)

    async def history(self, key: str) -> list[str]:
        return [h.status for h in await self.store.replies.history(self.campaign_id, self.hh(key).id)]


@dataclass
class IntakeEnv(City):
    """The reply intake over the in-memory store, without HTTP."""

    intake: ReplyIntake = field(init=False)

    def __post_init__(self) -> None:
        self.intake = ReplyIntake(self.store, self.cfg, self.clock)


@dataclass
class Env(City):
    sandbox: Sandbox = field(kw_only=True)
    senders: dict[ChannelName, ChannelSender] = field(kw_only=True)
    svc: Services = field(kw_only=True)
    dispatch_cfg: Config = field(kw_only=True)
    url: str = field(kw_only=True)
    http: aiohttp.ClientSession = field(kw_only=True)

    @property
    def intake(self) -> ReplyIntake:
        assert self.svc.intake is not None
        return self.svc.intake

    def reply_url(self, key: str) -> str:
        return reply_url(self.url, self.token(key))

    async def dispatch(self) -> None:
        """What the server's dispatcher does once the intake has queued its alerts: everything due
        goes out, staff alerts first (unlimited rates: nothing waits on the fake clock)."""
        await self.intake.idle()
        await Dispatcher(self.store, self.senders, self.dispatch_cfg, self.clock, contacts=self.store.roster).burst()

    def staff_messages(self, channel: ChannelName) -> list[Any]:
        """What the sandbox received on `channel` for the contacts of the staff added so far."""
        mine = {a for s in self.staff.values() for _, a in s.contacts}
        return [r for r in self.sandbox.messages(channel) if r.address in mine]

    async def send_alert(self, key: str, channel: ChannelName, address: str, language: str = "ja") -> None:
        """What the dispatcher does for one household: the alert through the channel's sender."""
        token = self.token(key)
        msg = OutboundMessage(channel, 1, self.campaign_id, self.hh(key).id, address,
                              f"【訓練】{MESSAGES['ja']} {reply_url(self.url, token)}", reply_url(self.url, token),
                              token, language, True, "安否確認")
        await self.senders[channel].send(msg)


def make_config(tmp: Path, sandbox_port: int, app_port: int, **env: str) -> Config:
    path = tmp / "config.toml"
    path.write_text('[store]\npath = "var/safetynet.db"\n', encoding="utf-8")
    base = f"http://127.0.0.1:{sandbox_port}"
    environ = {
        "SAFETYNET_SECRET_KEY": SECRET,
        "SAFETYNET_SERVER_PUBLIC_URL": f"http://127.0.0.1:{app_port}",
        "SAFETYNET_SERVER_PORT": str(app_port),
        "SAFETYNET_SANDBOX_PORT": str(sandbox_port),
        "SAFETYNET_CHANNELS_SMS_API_BASE_URL": base,
        "SAFETYNET_CHANNELS_VOICE_API_BASE_URL": base,
        "SAFETYNET_CHANNELS_TELEGRAM_API_BASE_URL": base,
        "SAFETYNET_CHANNELS_LINE_API_BASE_URL": base,
        **store_env(),
        **env,
    }
    return load_config(path, env=environ)


async def seed(env: City, kind: CampaignKind = CampaignKind.DRILL,
               households: Sequence[HouseholdRecord] | None = None) -> None:
    """The city (`records()`, or `households`) imported, known by key in `env.households`, a campaign over it."""
    await env.store.roster.import_households(list(records() if households is None else households))
    async for batch in env.store.roster.households_in_scope(["city"]):
        for t in batch:
            h = await env.store.roster.get_household(t.id)
            assert h is not None
            env.households[h.household_key] = h
    env.campaign_id = await start_campaign(env, kind)


async def start_campaign(env: City, kind: CampaignKind = CampaignKind.DRILL, scope: Sequence[str] = ("city",),
                         title: str = "地震 安否確認") -> int:
    """A running campaign over the seeded households, started by the broadcast service (step 0 planned)."""
    service = CampaignService(env.store, env.cfg, env.clock)
    # force: some tests need a second campaign of the same text running beside the first
    c = await service.launch(CampaignSpec(title, kind, tuple(scope), dict(MESSAGES)), force=True)
    if kind == CampaignKind.REAL:  # started by the command line, approved by a city admin (DESIGN §9)
        c = await service.approve(c.id, by=await approver(env.store), force=True)
    return c.id


async def approver(store: Store) -> Actor:
    """A city admin to approve real events (added once)."""
    found = await store.auth.staff_by_login("approver")
    staff = found[0] if found else await store.auth.add_staff("approver", "Approver", Role.CITY_ADMIN, "city", None)
    return Actor(staff.login, staff.id)


async def add_staff(env: City, login: str, role: Role, association: str, **contacts: str) -> Staff:
    """A head or deputy with contacts by kind (`telegram=…`, `phone=…` for the mobile, `webpush=…`)."""
    return await add_staff_over(env, login, role, f"association:{association}", **contacts)


async def add_staff_over(env: City, login: str, role: Role, scope: str, **contacts: str) -> Staff:
    """A staff member of any scope (a district head, a city admin), with contacts as `add_staff`'s."""
    kinds = {"phone": "mobile"}
    s = await env.store.auth.add_staff(login, login.title(), role, scope, None,
                                       contacts=[(kinds.get(k, k), normalise_contact(kinds.get(k, k), a))
                                                 for k, a in contacts.items()])
    env.staff[login] = s
    return s


async def enrolment_code(env: City, key: str) -> str:
    code = new_code()
    await env.store.roster.set_enrolment_codes([(env.hh(key).id, hash_code(code, SECRET))])
    return code


@contextlib.asynccontextmanager
async def running_app(tmp_path: Path, *, seeded: bool = True, **env_overrides: str) -> AsyncIterator[Env]:
    with listening_socket() as sock:  # closed here if the site never started (its server closes it otherwise)
        app_port = sock.getsockname()[1]
        boot = make_config(tmp_path, 0, app_port, **env_overrides)
        async with Sandbox(boot, app_url=f"http://127.0.0.1:{app_port}") as sb:
            cfg = make_config(tmp_path, sb.port, app_port, **{**sb.app_env(), **env_overrides})
            clock = FakeClock()
            sb.ctx.now = clock.now  # residents' messages are dated by the app's clock (LINE, Telegram)
            migrated_store_for(cfg)
            store = await open_store(cfg, clock)
            senders = build_senders(cfg)
            runner: web.AppRunner | None = None
            try:
                for s in senders.values():
                    await s.start()
                svc = Services(cfg=cfg, store=store, clock=clock, senders=dict(senders))
                runner = app_runner(create_app(svc), shutdown_timeout=1.0)
                await runner.setup()
                await site(runner, sock=sock).start()  # as `serve` listens: the reply routes on the front
                async with aiohttp.ClientSession() as http:
                    unlimited = make_config(tmp_path, sb.port, app_port, **{**UNLIMITED, **env_overrides})
                    env = Env(cfg, store, clock, sandbox=sb, senders=dict(senders), svc=svc, dispatch_cfg=unlimited,
                              url=f"http://127.0.0.1:{app_port}", http=http)
                    if seeded:
                        await seed(env)
                    yield env
            finally:
                if runner is not None:
                    await runner.cleanup()
                for s in senders.values():
                    await s.close()
                await store.close()


@contextlib.asynccontextmanager
async def intake_only(tmp_path: Path, *, sqlite: bool = False, **env_overrides: str) -> AsyncIterator[IntakeEnv]:
    """The seeded city and its running campaign with a reply intake, on the in-memory store (or on
    SQLite in tmp_path, for what its group commits do)."""
    clock = FakeClock()
    cfg = make_config(tmp_path, 1, 2, **env_overrides)
    if sqlite:
        migrated_store_for(cfg)
    store = await open_store(cfg, clock) if sqlite else MemoryStore(cfg.channel_routes, clock)
    env = IntakeEnv(cfg, store, clock)
    try:
        await seed(env)
        yield env
    finally:
        await env.intake.stop()
        await store.close()


def form(**fields: Any) -> dict[str, str]:
    return {k: str(v) for k, v in fields.items()}


async def post_twilio(env: Env, path: str, params: dict[str, str], token: str | None = None) -> tuple[int, str]:
    """A webhook POST signed as Twilio signs it (over the public URL); `token` forges the signature."""
    url = env.cfg.server.public_url + path
    signature = RequestValidator(token or env.cfg.secrets.twilio_auth_token).compute_signature(url, params)
    async with env.http.post(env.url + path, data=params, headers={"X-Twilio-Signature": signature}) as resp:
        return resp.status, await resp.text()

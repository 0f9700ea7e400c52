"""A small city with staff, API tokens, a closed earlier drill and a running one, served on loopback.

Used by the dashboard, staff, scope and report tests. The store is real SQLite; campaigns are
built with the campaign store's public methods and answers go through the real `ReplyIntake`.
Time is a FakeClock unless a test needs the live poller to run by itself (the browser tests).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web
from pg_helpers import store_env
from ports import listening_socket
from roster_helpers import SECRET_KEY, household
from sqlite_template import migrated_store_for

from safetynet.auth import Viewer, new_token, token_hash, verify_password
from safetynet.channels import registry
from safetynet.clock import Clock, FakeClock
from safetynet.config import Config, load_config
from safetynet.domain import CampaignKind, Role, Scope
from safetynet.domain.campaigns import Enrolment, StepPlan
from safetynet.domain.replies import ReplyDetails
from safetynet.domain.roster import Household, HouseholdRecord
from safetynet.replies.intake import ReplyIntake
from safetynet.replies.tokens import reply_token
from safetynet.replies.tokens import token_hash as reply_token_hash
from safetynet.store import Store, open_store
from safetynet.web.app import Services, app_runner, create_app, site

SECRET = SECRET_KEY
DIST_S, DIST_U = "桜地区", "梅地区"
ASSOC_A, ASSOC_A2, ASSOC_B = "桜町一丁目町会", "桜町二丁目町会", "梅町町会"
# Names of B's households: a page shown to someone outside B must never contain them.
B_SECRET_NAMES = ("梅野 秘子", "梅田 隠男")
MESSAGES = {"ja": "地震の訓練です。安否を教えてください。", "en": "Earthquake drill. Are you safe?"}



def records() -> list[HouseholdRecord]:
    a = [
        household(DIST_S, ASSOC_A, "1班", "A-001", "山田 太郎", "桜町1-1-1", 3, False, phone="+819011110001"),
        household(DIST_S, ASSOC_A, "1班", "A-002", "佐藤 花子", "桜町1-1-2", 1, True,
                        landline="+81311110002"),
        household(DIST_S, ASSOC_A, "1班", "A-003", "高橋 健", "桜町1-1-3", 2, False, telegram="5550003"),
        household(DIST_S, ASSOC_A, "2班", "A-004", "田中 美咲", "桜町1-2-4", 4, False, phone="+819011110004"),
        household(DIST_S, ASSOC_A, "2班", "A-005", "伊藤 光", "桜町1-2-5", 1, True, phone="+819011110005",
                        notes="車椅子"),
        household(DIST_S, ASSOC_A, "2班", "A-006", "渡辺 誠", "桜町1-2-6", 2, False),  # no channel at all
    ]
    a2 = [household(DIST_S, ASSOC_A2, "1班", f"A2-00{i}", f"中村 {i}", f"桜町2-1-{i}", 2, False,
                          phone=f"+81902222000{i}") for i in range(1, 4)]
    b = [household(DIST_U, ASSOC_B, "1班", f"B-00{i}", name, f"梅町3-1-{i}", 2, i == 1,
                         phone=f"+81903333000{i}", landline=f"+8133333000{i}")
         for i, name in enumerate(B_SECRET_NAMES, start=1)]
    return a + a2 + b


STAFF = (
    ("admin", Role.CITY_ADMIN, "city"),
    ("dhead", Role.DISTRICT_HEAD, f"district:{DIST_S}"),
    ("head_a", Role.ASSOCIATION_HEAD, f"association:{ASSOC_A}"),
    ("deputy_a", Role.DEPUTY, f"association:{ASSOC_A}"),
    ("head_b", Role.ASSOCIATION_HEAD, f"association:{ASSOC_B}"),
)


def password(login: str) -> str:
    return f"pw-{login}-correct horse"


_HASHES: dict[str, str] = {}


def password_hash(login: str) -> str:
    """scrypt is slow on purpose; hash each test password once per test process, at a cost of n=2**10
    rather than hash_password's 2**14: a hash names its own cost and verify_password reads it from there
    (as for a hash made before the cost was raised), so each login of a test checks the password the same
    way, in ~3 ms instead of ~50 (~180 on a busy machine)."""
    if login not in _HASHES:
        salt = secrets.token_bytes(16)
        dk = hashlib.scrypt(password(login).encode(), salt=salt, n=2**10, r=8, p=1, dklen=32)
        _HASHES[login] = f"scrypt${2**10}$8$1${_b64(salt)}${_b64(dk)}"
        assert verify_password(password(login), _HASHES[login])
    return _HASHES[login]


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


@dataclass
class World:
    cfg: Config
    store: Store
    clock: Clock
    svc: Services
    intake: ReplyIntake
    url: str = ""
    app: web.Application | None = None
    households: dict[str, Household] = field(default_factory=dict)
    assoc_ids: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # login -> API token of the same role and scope
    campaign_id: int = 0
    previous_id: int = 0

    def hh(self, key: str) -> Household:
        return self.households[key]

    def viewer(self, login: str) -> Viewer:
        role, scope = next((r, s) for name, r, s in STAFF if name == login)
        return Viewer(role=role, scope=Scope.parse(scope), login=login)

    async def answer(self, key: str, status: str, campaign_id: int | None = None, channel: str = "web",
                     note: str | None = None, details: ReplyDetails | None = None) -> None:
        """`details` (people, location, note) as the reply page's form gives them; `note` alone is short for it."""
        target = await self.intake.target_for(campaign_id or self.campaign_id, self.hh(key).id)
        assert target is not None, key
        await self.intake.answer(target, status, channel, dedupe_key=new_token(),
                                 details=details or ReplyDetails(note=note))

    async def status(self, key: str, campaign_id: int | None = None) -> str:
        target = await self.store.replies.target(campaign_id or self.campaign_id, self.hh(key).id)
        assert target is not None
        return str(target.status)


def make_config(tmp: Path, port: int, public_url: str | None = None) -> Config:
    path = tmp / "config.toml"
    path.write_text('[store]\npath = "var/safetynet.db"\n', encoding="utf-8")
    env = {"SAFETYNET_SECRET_KEY": SECRET, "SAFETYNET_SERVER_PORT": str(port),
           "SAFETYNET_SERVER_PUBLIC_URL": public_url or f"http://127.0.0.1:{port}", **store_env()}
    return load_config(path, env=env)


async def start_campaign(w: World, kind: CampaignKind = CampaignKind.DRILL, scope: Sequence[str] = ("city",),
                         title: str = "地震訓練", keys: Sequence[str] | None = None) -> int:
    """A running campaign over the households of `keys` (default: all), via the campaign store (a real
    event: started by one staff id, approved by another)."""
    c = await w.store.campaigns.create(kind=kind, title=title, scope=list(scope), messages=MESSAGES,
                                       ladder=registry.default_ladder())
    chosen = [w.households[k] for k in (keys or list(w.households))]
    enrol = [Enrolment(h.id, h.association_id, reply_token_hash(reply_token(SECRET, c.id, h.id))) for h in chosen]
    now = w.clock.now()
    await w.store.campaigns.write_step(c.id, StepPlan((), (), ()), now, enrol)
    if kind == CampaignKind.REAL:
        assert await w.store.campaigns.request_approval(c.id, now, "first", 1001)
        assert await w.store.campaigns.approve(c.id, now, "second", 1002)
    else:
        assert await w.store.campaigns.begin_running(c.id, now)
    return c.id


async def index_households(w: World) -> None:
    """Fills `w.households` and `w.assoc_ids` from the imported roster."""
    async for batch in w.store.roster.households_in_scope(["city"]):
        for t in batch:
            h = await w.store.roster.get_household(t.id)
            assert h is not None
            w.households[h.household_key] = h
            w.assoc_ids[h.association] = h.association_id


async def seed(w: World, with_previous: bool = True) -> None:
    await w.store.roster.import_households(records())
    await index_households(w)
    for login, role, scope in STAFF:
        await w.store.auth.add_staff(login, login.upper(), role, scope, password_hash(login))
        token = new_token()
        await w.store.auth.create_api_token(token_hash(token), role, scope, label=login)
        w.tokens[login] = token
    if with_previous:
        w.previous_id = await start_campaign(w, title="前回の訓練")
        for key in ("A-001", "A-002", "A2-001", "A2-002", "A2-003", "B-001"):
            await w.answer(key, "safe", w.previous_id)
        assert await w.store.campaigns.close(w.previous_id, w.clock.now())
        if isinstance(w.clock, FakeClock):
            await w.clock.advance(3600)
    w.campaign_id = await start_campaign(w)


@contextlib.asynccontextmanager
async def world(tmp_path: Path, clock: Clock | None = None, serve: bool = True, seeded: bool = True,
                public_url: str | None = None) -> AsyncIterator[World]:
    """The seeded world; with `serve`, the whole app (every route module) on a loopback port."""
    sock = listening_socket()
    port = sock.getsockname()[1]
    if not serve:
        sock.close()  # free for a test that serves the app its own way
    cfg = make_config(tmp_path, port, public_url)
    clk = clock or FakeClock()
    migrated_store_for(cfg)
    store = await open_store(cfg, clk)
    intake = ReplyIntake(store, cfg, clk)
    svc = Services(cfg=cfg, store=store, clock=clk, intake=intake)
    w = World(cfg, store, clk, svc, intake, url=f"http://127.0.0.1:{port}")
    runner: web.AppRunner | None = None
    try:
        if seeded:
            await seed(w)
        if serve:
            w.app = create_app(svc)
            runner = app_runner(w.app, shutdown_timeout=1.0)
            await runner.setup()
            await site(runner, sock=sock).start()  # as `serve` listens: the reply routes on the front
        yield w
    finally:
        if runner is not None:
            await runner.cleanup()
        sock.close()  # if the site never started (its server closes it otherwise)
        await intake.stop()
        await store.close()


def client() -> aiohttp.ClientSession:
    # unsafe=True: keep cookies for an IP-address host (127.0.0.1)
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


_CSRF_RE = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


def csrf_of(html: str) -> str:
    m = _CSRF_RE.search(html)
    return m.group(1) if m else ""


async def login(http: aiohttp.ClientSession, w: World, who: str, pw: str | None = None) -> str:
    """Logs `who` in through the form; returns the session's CSRF token."""
    async with http.get(f"{w.url}/login") as r:
        assert r.status == 200
        form_token = re.search(r'name="csrf" value="([^"]+)"', await r.text())
    assert form_token is not None
    async with http.post(f"{w.url}/login", data={"csrf": form_token.group(1), "login": who,
                                                  "password": pw or password(who), "next": "/"},
                         allow_redirects=False) as r:
        assert r.status == 303, (r.status, await r.text())
    async with http.get(f"{w.url}/city") as r:
        return csrf_of(await r.text())


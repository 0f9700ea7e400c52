"""The campaign API over HTTP (aiohttp test server), with API tokens and a staff session."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from broadcast_helpers import H, make_cfg, opened, seed

from safetynet.auth import new_token, token_hash
from safetynet.broadcast.service import CampaignService
from safetynet.clock import FakeClock
from safetynet.config import Config
from safetynet.domain import Role
from safetynet.store import Store
from safetynet.triggers.port import CampaignRequest
from safetynet.web.app import SESSION_COOKIE, Services, create_app
from safetynet.web.audit_api import AUDIT

REPO = Path(__file__).resolve().parents[2]
HOUSEHOLDS = [
    H("n1", "w", association="北一町会", district="北地区"),
    H("n2", "m", association="北二町会", district="北地区"),
    H("s1", "t", association="南一町会", district="南地区"),
]
INLINE = {"title": "訓練", "kind": "drill", "scope": ["city"], "messages": {"ja": "訓練です。", "en": "A drill."}}


class Api:
    def __init__(self, client: TestClient, store: Store, cfg: Config) -> None:
        self.client = client
        self.store = store
        self.cfg = cfg

    async def token(self, role: Role, scope: str) -> dict[str, str]:
        token = new_token()
        await self.store.auth.create_api_token(token_hash(token), role, scope)
        return {"Authorization": f"Bearer {token}"}

    async def session(self, login: str, role: Role = Role.CITY_ADMIN, scope: str = "city") -> dict[str, str]:
        """A staff member signed in (a person): their session cookie and CSRF token as headers."""
        staff = await self.store.auth.add_staff(login, login.upper(), role, scope, None)
        cookie, csrf = new_token(), new_token()
        await self.store.auth.create_session(token_hash(cookie), staff.id, csrf, 3600)
        return {"Cookie": f"{SESSION_COOKIE}={cookie}", "X-CSRF-Token": csrf}

    async def call(self, method: str, path: str, headers: dict[str, str], body: Any = None,
                   raw: bytes | None = None) -> tuple[int, Any]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        async with self.client.request(method, path, headers={**headers, "Content-Type": "application/json"},
                                       data=data) as resp:
            return resp.status, await resp.json()


@contextlib.asynccontextmanager
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    shutil.copytree(REPO / "drills", tmp_path / "drills")
    cfg = make_cfg(tmp_path, SAFETYNET_CHANNELS_SMS_MAX_PER_SECOND="10")
    import dataclasses

    cfg = dataclasses.replace(cfg, base_dir=str(tmp_path))
    clock = FakeClock()
    async with opened(cfg, clock) as store:
        await seed(store, HOUSEHOLDS)
        svc = Services(cfg=cfg, store=store, clock=clock)
        svc.campaigns = CampaignService(store, cfg, clock)
        async with TestClient(TestServer(create_app(svc))) as client:
            yield Api(client, store, cfg)


async def test_city_admin_starts_watches_and_closes_a_campaign(tmp_path: Path) -> None:
    async with api(tmp_path) as a:
        admin = await a.token(Role.CITY_ADMIN, "city")
        status, body = await a.call("POST", "/api/campaigns", admin, {"scenario": "citywide-earthquake"})
        assert status == 201, body
        cid = body["id"]
        status, doc = await a.call("GET", f"/api/campaigns/{cid}/stats", admin)
        assert status == 200
        assert doc["households"] == 3 and doc["kind"] == "drill" and doc["state"] == "running"
        assert sum(doc["status"].values()) == 3 and doc["answered_rate"] == 0
        status, listed = await a.call("GET", "/api/campaigns", admin)
        assert [c["id"] for c in listed] == [cid]
        status, body = await a.call("POST", f"/api/campaigns/{cid}/close", admin)
        assert (status, body["state"]) == (200, "closed")
        status, body = await a.call("POST", f"/api/campaigns/{cid}/close", admin)
        assert status == 409
        status, body = await a.call("POST", f"/api/campaigns/{cid}/cancel", admin)
        assert status == 409


async def test_a_real_event_needs_explicit_kind_and_confirmation(tmp_path: Path) -> None:
    async with api(tmp_path) as a:
        admin = await a.token(Role.CITY_ADMIN, "city")
        real = {**INLINE, "kind": "real"}
        status, body = await a.call("POST", "/api/campaigns", admin, real)
        assert status == 400 and "confirm" in body["error"]
        status, body = await a.call("POST", "/api/campaigns", admin, {**real, "confirm": True})
        assert status == 201
        assert (await a.store.campaigns.get(body["id"])).kind == "real"  # type: ignore[union-attr]


async def test_district_head_only_for_its_district_and_scoped_stats(tmp_path: Path) -> None:
    async with api(tmp_path) as a:
        admin = await a.token(Role.CITY_ADMIN, "city")
        north = await a.token(Role.DISTRICT_HEAD, "district:北地区")
        head = await a.token(Role.ASSOCIATION_HEAD, "association:南一町会")
        status, _ = await a.call("POST", "/api/campaigns", north, INLINE)
        assert status == 403
        status, body = await a.call("POST", "/api/campaigns", north, {**INLINE, "scope": ["district:北地区"]})
        assert status == 201
        north_id = body["id"]
        status, _ = await a.call("POST", "/api/campaigns", head, {**INLINE, "scope": ["association:南一町会"]})
        assert status == 403
        _, body = await a.call("POST", "/api/campaigns", admin, INLINE)
        city_id = body["id"]
        # a district head sees its part of a city campaign, but cannot close it
        status, doc = await a.call("GET", f"/api/campaigns/{city_id}/stats", north)
        assert status == 200 and doc["households"] == 2
        assert {x["name"] for x in doc["associations"]} == {"北一町会", "北二町会"}
        assert (await a.call("POST", f"/api/campaigns/{city_id}/close", north))[0] == 403
        # out of scope: 404, exactly like a campaign that does not exist
        assert await a.call("GET", f"/api/campaigns/{north_id}/stats", head) == (404, {"error": "not found"})
        assert await a.call("GET", "/api/campaigns/999/stats", head) == (404, {"error": "not found"})
        assert await a.call("POST", f"/api/campaigns/{north_id}/close", head) == (404, {"error": "not found"})
        _, listed = await a.call("GET", "/api/campaigns", head)
        assert [c["id"] for c in listed] == [city_id]
        # the list counts households within the caller's scope, never the city's total
        assert listed[0]["households"] == 1
        _, listed = await a.call("GET", "/api/campaigns", north)
        assert {c["id"]: c["households"] for c in listed} == {city_id: 2, north_id: 2}
        _, listed = await a.call("GET", "/api/campaigns", admin)
        assert {c["id"]: c["households"] for c in listed} == {city_id: 3, north_id: 2}
        # the help list of a campaign out of scope, or of none: 404, not an empty list
        assert await a.call("GET", f"/api/campaigns/{north_id}/help", head) == (404, {"error": "not found"})
        assert await a.call("GET", "/api/campaigns/999/help", admin) == (404, {"error": "not found"})
        assert await a.call("GET", f"/api/campaigns/{city_id}/help", head) == (200, {"campaign_id": city_id, "help": []})


async def test_bad_requests_get_a_message(tmp_path: Path) -> None:
    async with api(tmp_path) as a:
        admin = await a.token(Role.CITY_ADMIN, "city")
        assert (await a.call("POST", "/api/campaigns", admin, raw=b"{not json"))[0] == 400
        status, body = await a.call("POST", "/api/campaigns", admin, ["a", "list"])
        assert status == 400 and body["error"]
        status, body = await a.call("POST", "/api/campaigns", admin, {**INLINE, "messages": {"en": "only"}})
        assert status == 400 and "messages.ja" in body["error"]
        status, body = await a.call("POST", "/api/campaigns", admin, {**INLINE, "scope": ["district:どこにもない"]})
        assert status == 400 and "どこにもない" in body["error"]
        status, body = await a.call("POST", "/api/campaigns", admin, {"scenario": "../../etc/passwd"})
        assert status == 400
        status, _ = await a.call("GET", "/api/campaigns/1/stats", {})
        assert status == 401


async def test_a_campaign_that_would_send_what_no_one_meant_is_refused_and_nothing_starts(tmp_path: Path) -> None:
    async with api(tmp_path) as a:
        admin = await a.token(Role.CITY_ADMIN, "city")
        for start in ("no", 0, None, "false"):  # only false keeps a draft: anything else is a mistake, not a yes
            status, body = await a.call("POST", "/api/campaigns", admin, {**INLINE, "start": start})
            assert (status, body) == (400, {"error": '"start": true or false'})
        status, body = await a.call("POST", "/api/campaigns", admin, {**INLINE, "title": "訓練" * 100})
        assert status == 400 and body["error"] == "title: longer than 120 characters"
        status, body = await a.call("POST", "/api/campaigns", admin, {**INLINE, "title": "\u202e練訓"})
        assert status == 400 and "U+202E" in body["error"]
        # Python's JSON reader takes NaN and Infinity: a ladder step then waited for ever, and the
        # campaign list answered with bare NaN, which is not JSON
        ladder = b'[{"after_minutes": 0, "channels": ["sms"]}, {"after_minutes": %s, "door_knock": true}]'
        for value in (b"NaN", b"Infinity", b"1e300"):
            body_bytes = json.dumps({k: v for k, v in INLINE.items()}).encode()[:-1] + b', "ladder": ' + ladder % value + b"}"
            status, body = await a.call("POST", "/api/campaigns", admin, raw=body_bytes)
            assert status == 400 and body["error"].startswith("ladder[1].after_minutes: a number from 0"), body
        assert await a.store.campaigns.list_campaigns() == []


async def test_preview_shows_channels_time_and_cost(tmp_path: Path) -> None:
    async with api(tmp_path) as a:
        admin = await a.token(Role.CITY_ADMIN, "city")
        status, pv = await a.call("POST", "/api/campaigns/preview", admin, {"scenario": "citywide-earthquake"})
        assert status == 200
        assert pv["households"] == 3
        assert pv["steps"][0]["households"] == {"webpush": 1, "sms": 1, "telegram": 1}
        assert pv["cost_jpy"]["sms"] > 0
        assert any("1 sms at 10/s = 1 s" in line for line in pv["lines"])
        assert await a.store.campaigns.list_campaigns() == []  # a preview creates nothing


async def test_a_browser_session_needs_the_csrf_token(tmp_path: Path) -> None:
    async with api(tmp_path) as a:
        staff = await a.store.auth.add_staff("boss", "市役所", Role.CITY_ADMIN, "city", None)
        cookie = new_token()
        await a.store.auth.create_session(token_hash(cookie), staff.id, "csrf-123", 3600)
        a.client.session.cookie_jar.update_cookies({SESSION_COOKIE: cookie})
        status, _ = await a.call("POST", "/api/campaigns", {}, INLINE)
        assert status == 403
        status, body = await a.call("POST", "/api/campaigns", {"X-CSRF-Token": "csrf-123"}, INLINE)
        assert status == 201, body


def proposal(key: str) -> CampaignRequest:
    """What a JMA telegram with `action = "propose"` asks for: a draft real event."""
    return CampaignRequest(dedupe_key=key, kind="real", start=False, title="地震 震度6弱 北地区", hazard="earthquake",
                           scenario="drills/citywide-earthquake.toml", source="jma", reason="震度6弱 ≥ 5-")


async def test_a_token_made_by_an_admin_is_that_admin_for_the_two_person_rule(tmp_path: Path) -> None:
    """QA: one city admin made a token on the admin page, started a real event with it, and approved
    it with their own session: a real event sent on one person's word. The token acts for its maker."""
    async with api(tmp_path) as a:
        bousai = await a.session("bousai")
        async with a.client.post("/admin/tokens", headers=bousai,
                                 data={"role": "city_admin", "scope": "city", "label": "連携"}) as r:
            assert r.status == 200
            found = re.search(r"<code data-secret>([^<]+)</code>", await r.text())
        assert found is not None
        own_token = {"Authorization": f"Bearer {found.group(1)}"}
        (made,) = await a.store.auth.list_api_tokens()
        maker = await a.store.auth.staff_by_login("bousai")
        assert maker is not None and made.created_by == maker[0].id
        real = {**INLINE, "kind": "real", "confirm": True, "title": "地震"}
        status, body = await a.call("POST", "/api/campaigns", own_token, real)
        assert status == 201 and body["state"] == "pending_approval", body
        status, err = await a.call("POST", f"/api/campaigns/{body['id']}/approve", bousai)
        assert status == 403 and "second, different city admin" in err["error"] and "token:" in err["error"]
        assert (await a.store.campaigns.get(body["id"])).state == "pending_approval"  # type: ignore[union-attr]
        second = await a.session("kikikanri")
        async with a.client.get(f"/city?campaign={body['id']}", headers=second) as r:
            page = await r.text()
        assert f"開始: token:{made.id}（BOUSAI が作成）" in page  # the approver sees whose token it is, by name
        status, waiting = await a.call("GET", f"/api/campaigns/{body['id']}/stats", second)
        assert status == 200 and waiting["households"] == 0  # nothing enrolled before approval
        status, done = await a.call("POST", f"/api/campaigns/{body['id']}/approve", second)
        assert status == 200 and done["state"] == "running"
        status, running = await a.call("GET", f"/api/campaigns/{body['id']}/stats", second)
        assert running["households"] == 3  # counted anew at once, not the document cached while it waited
        # a token from the command line acts for no person: any city admin may approve what it started
        status, body = await a.call("POST", "/api/campaigns", await a.token(Role.CITY_ADMIN, "city"),
                                    {**real, "title": "津波"})
        assert status == 201 and body["state"] == "pending_approval"
        assert (await a.call("POST", f"/api/campaigns/{body['id']}/approve", bousai))[0] == 200
        # who made and revoked a token is on the audit record
        await a.client.app[AUDIT].flush()
        entries = [e for e in await a.store.audit.entries() if e.action == "token"]
        assert [(e.actor, e.detail) for e in entries] == [("bousai", f"created {made.id} city_admin city")]
        # what the token reads is on record under the token and the person behind it
        assert (await a.call("GET", f"/api/campaigns/{done['id']}/help", own_token))[0] == 200
        await a.client.app[AUDIT].flush()
        reads = [e for e in await a.store.audit.entries() if e.actor == f"token:{made.id}"]
        assert reads and all(e.staff_id == maker[0].id for e in reads)


async def test_a_city_admin_starts_a_triggers_proposal_and_another_approves_it(tmp_path: Path) -> None:
    async with api(tmp_path) as a:
        admin = await a.token(Role.CITY_ADMIN, "city")
        north = await a.token(Role.DISTRICT_HEAD, "district:北地区")
        bousai = await a.session("bousai")
        service = CampaignService(a.store, a.cfg, FakeClock())
        draft = await service.create_campaign(proposal("jma:1"))
        assert (await service.get(draft)).state == "draft"
        status, body = await a.call("POST", f"/api/campaigns/{draft}/start", north)
        assert status == 403 and "city admin" in body["error"]
        assert (await service.get(draft)).state == "draft"
        assert (await a.call("POST", "/api/campaigns/999/start", admin))[0] == 404
        status, body = await a.call("POST", f"/api/campaigns/{draft}/start", bousai)
        assert status == 200, body
        assert (body["id"], body["state"], body["households"], body["started_by"]) == (
            draft, "pending_approval", 0, "bousai")
        assert await a.store.campaigns.delivery_counts(draft) == {}  # nothing sent before approval
        status, body = await a.call("POST", f"/api/campaigns/{draft}/start", admin)
        assert status == 409 and "only a draft can start" in body["error"]
        # the one who started it may not approve it; a district head or a token is never the second person
        status, body = await a.call("POST", f"/api/campaigns/{draft}/approve", bousai)
        assert status == 403 and "second, different city admin" in body["error"]
        assert (await a.call("POST", f"/api/campaigns/{draft}/approve", north))[0] == 403
        status, body = await a.call("POST", f"/api/campaigns/{draft}/approve", admin)
        assert status == 403 and "API token" in body["error"]
        assert (await service.get(draft)).state == "pending_approval"
        kikikanri = await a.session("kikikanri")
        status, body = await a.call("POST", f"/api/campaigns/{draft}/approve", kikikanri)
        assert status == 200, body
        assert (body["state"], body["households"], body["started_by"], body["approved_by"]) == (
            "running", 3, "bousai", "kikikanri")
        started = await service.get(draft)
        assert started.kind == "real" and started.options["proposed"] is True and started.approved_at is not None
        assert sum((await a.store.campaigns.delivery_counts(draft)).values()) == 3
        status, body = await a.call("POST", f"/api/campaigns/{draft}/approve", kikikanri)
        assert status == 409 and "waiting for approval" in body["error"]
        status, listed = await a.call("GET", "/api/campaigns", admin)
        assert [(c["started_by"], c["approved_by"]) for c in listed if c["id"] == draft] == [("bousai", "kikikanri")]
        # the same event proposed again (another telegram) while the first runs: asked, then forced
        again = await service.create_campaign(proposal("jma:2"))
        status, body = await a.call("POST", f"/api/campaigns/{again}/start", admin)
        assert status == 409 and body["running"] == draft and "force" in body["error"]
        assert (await service.get(again)).state == "draft"
        status, body = await a.call("POST", f"/api/campaigns/{again}/start", admin, {"force": True})
        assert (status, body["state"], body["started_by"]) == (200, "pending_approval", f"token:{1}")
        status, body = await a.call("POST", f"/api/campaigns/{again}/approve", bousai)
        assert status == 409 and body["running"] == draft  # the approver is asked too
        status, body = await a.call("POST", f"/api/campaigns/{again}/approve", bousai, {"force": True})
        assert (status, body["state"]) == (200, "running")  # a token started it: any person may approve


async def test_a_real_event_from_the_api_waits_and_either_may_cancel_it(tmp_path: Path) -> None:
    async with api(tmp_path) as a:
        bousai, kikikanri = await a.session("bousai"), await a.session("kikikanri")
        real = {**INLINE, "kind": "real", "confirm": True, "title": "地震"}
        for canceller in (bousai, kikikanri):
            status, body = await a.call("POST", "/api/campaigns", bousai, {**real, "force": True})
            assert (status, body["state"], body["households"], body["started_by"]) == (
                201, "pending_approval", 0, "bousai")
            status, body = await a.call("POST", f"/api/campaigns/{body['id']}/cancel", canceller)
            assert (status, body["state"]) == (200, "cancelled")
            status, body = await a.call("POST", f"/api/campaigns/{body['id']}/approve", kikikanri)
            assert status == 409
        for c in await a.store.campaigns.list_campaigns():
            assert await a.store.campaigns.delivery_counts(c.id) == {}


async def test_the_same_drill_twice_is_refused_until_forced(tmp_path: Path) -> None:
    async with api(tmp_path) as a:
        admin = await a.token(Role.CITY_ADMIN, "city")
        status, first = await a.call("POST", "/api/campaigns", admin, {"scenario": "citywide-earthquake"})
        assert status == 201
        status, body = await a.call("POST", "/api/campaigns", admin, {"scenario": "citywide-earthquake"})
        assert status == 409 and body["running"] == first["id"] and "force" in body["error"]
        assert len(await a.store.campaigns.list_campaigns()) == 1  # nothing half-made
        status, body = await a.call("POST", "/api/campaigns", admin,
                                    {"scenario": "citywide-earthquake", "scope": ["district:北地区"]})
        assert status == 201  # another scope is another drill
        status, body = await a.call("POST", "/api/campaigns", admin, {"scenario": "citywide-earthquake", "force": True})
        assert status == 201


async def test_a_scenario_without_a_scope_of_its_own_needs_one(tmp_path: Path) -> None:
    async with api(tmp_path) as a:
        admin = await a.token(Role.CITY_ADMIN, "city")
        status, body = await a.call("POST", "/api/campaigns", admin, {"scenario": "association-monthly"})
        assert status == 400 and "no scope of its own" in body["error"]
        assert await a.store.campaigns.list_campaigns() == []
        status, body = await a.call("POST", "/api/campaigns", admin,
                                    {"scenario": "association-monthly", "scope": ["association:南一町会"]})
        assert (status, body["households"]) == (201, 1)

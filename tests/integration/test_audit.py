"""The audit log (DESIGN §9): the background writer loses nothing, staff views, exports and in-person
confirmations are recorded, city admins read it (`GET /api/audit`, `safetynet audit export`)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from dashboard_fixtures import ASSOC_A, World, client, login, world
from locale_helpers import terminal_locale
from roster_helpers import SECRET_KEY

from safetynet.clock import FakeClock
from safetynet.domain.audit import AuditEntry
from safetynet.domain.japan_time import in_japan
from safetynet.privacy.audit import AuditBacklog, AuditLog
from safetynet.store.memory import MemoryStore
from safetynet.web.audit_api import AUDIT

T = TypeVar("T")

# -- the writer ---------------------------------------------------------------------------------


def entry(n: int) -> AuditEntry:
    return AuditEntry(1_790_000_000.0 + n, f"head{n}", "view", "dashboard", association_id=n)


async def test_record_never_waits_and_flush_writes_in_batches() -> None:
    store = MemoryStore(FakeClock())
    log = AuditLog(store.audit, store.clock, batch=3)
    for n in range(7):
        log.record(entry(n))  # synchronous: a page never waits on the store
    assert log.pending == 7
    await log.flush()
    got = await store.audit.entries()
    assert [e.actor for e in got] == [f"head{n}" for n in range(7)] and log.pending == 0
    await log.close()


async def test_a_failing_store_keeps_every_entry_until_it_writes_again() -> None:
    store = MemoryStore(FakeClock())
    log = AuditLog(store.audit, store.clock, max_pending=5)
    store.fail_writes(OSError("disk full"))
    for n in range(5):
        log.record(entry(n))
    with pytest.raises(AuditBacklog):  # refused, not dropped: the view that needs it is refused too
        log.record(entry(99))
    store.fail_writes(None)
    await log.flush()
    assert [e.actor for e in await store.audit.entries()] == [f"head{n}" for n in range(5)]
    await log.close()


async def test_what_cannot_be_written_at_shutdown_is_spilled_and_written_at_the_next_start(tmp_path: Path) -> None:
    store = MemoryStore(FakeClock())
    spill = tmp_path / "audit-unwritten.jsonl"
    log = AuditLog(store.audit, store.clock, spill=spill)
    store.fail_writes(OSError("read-only file system"))
    for n in range(3):
        log.record(entry(n))
    await log.close()
    assert spill.exists() and oct(spill.stat().st_mode & 0o777) == "0o600"
    assert len(spill.read_text(encoding="utf-8").splitlines()) == 3
    with pytest.raises(AuditBacklog):
        log.record(entry(4))  # closed
    store.fail_writes(None)
    again = AuditLog(store.audit, store.clock, spill=spill)
    assert await again.recover() == 3
    assert not spill.exists()
    got = await store.audit.entries()
    assert [(e.actor, e.association_id, e.at) for e in got] == [(f"head{n}", n, entry(n).at) for n in range(3)]
    await again.close()


# -- what the server records ---------------------------------------------------------------------


async def test_views_exports_and_confirmations_are_recorded_and_city_admins_read_them(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        assert w.app is not None
        aid, cid, hh = w.assoc_ids[ASSOC_A], w.campaign_id, w.hh("A-001").id
        async with client() as http:
            csrf = await login(http, w, "head_a")
            for path in (f"/a/{aid}", f"/a/{aid}/doorknock?campaign={cid}", f"/campaigns/{cid}/report?format=csv"):
                async with http.get(w.url + path) as r:
                    assert r.status == 200
            async with http.post(f"{w.url}/api/campaigns/{cid}/households/{hh}/confirm",
                                 json={"method": "visit"}, headers={"X-CSRF-Token": csrf}) as r:
                assert r.status == 200
                reply_id = (await r.json())["reply_id"]
            async with http.post(f"{w.url}/api/campaigns/{cid}/households/{hh}/undo",
                                 json={"reply_id": reply_id}, headers={"X-CSRF-Token": csrf}) as r:
                assert r.status == 200
            async with http.get(f"{w.url}/api/audit") as r:
                assert r.status == 403  # a head does not read the audit log
        token = {"Authorization": f"Bearer {w.tokens['deputy_a']}"}
        async with client() as http, http.get(f"{w.url}/api/campaigns/{cid}/help", headers=token) as r:
            assert r.status == 200
        await w.app[AUDIT].flush()
        got = [(e.actor, e.role, e.action, e.what, e.campaign_id, e.association_id, e.household_id, e.detail)
               for e in await w.store.audit.entries()]
        assert got == [
            ("head_a", "association_head", "view", "dashboard", cid, aid, None, ""),
            ("head_a", "association_head", "view", "doorknock", cid, aid, None, ""),
            ("head_a", "association_head", "export", "report", cid, None, None, "csv"),
            ("head_a", "association_head", "confirm", "household", cid, None, hh, "visit"),
            ("head_a", "association_head", "undo", "household", cid, None, hh, f"reply {reply_id}"),
            (f"token:{_token_id(w, 'deputy_a')}", "deputy", "view", "help", cid, None, None, ""),
        ]
        assert all(e.staff_id is not None for e in (await w.store.audit.entries())[:5])

        admin = {"Authorization": f"Bearer {w.tokens['admin']}"}
        async with client() as http:
            async with http.get(f"{w.url}/api/audit?limit=4", headers=admin) as r:
                page = await r.json()
            assert r.status == 200 and len(page["entries"]) == 4 and page["next"] == page["entries"][-1]["id"]
            # reading the log is audited too: written in the background, so flushed here to make the
            # second page the same on every store and under any load
            await w.app[AUDIT].flush()
            async with http.get(f"{w.url}/api/audit?after={page['next']}", headers=admin) as r:
                rest = await r.json()
            assert [e["what"] for e in rest["entries"]] == ["household", "help", "audit"] and rest["next"] is None
            async with http.get(f"{w.url}/api/audit?since=abc", headers=admin) as r:
                assert r.status == 400 and "since" in (await r.json())["error"]
            # a day, as `audit export --since` takes it (QA: "since must be a number"): Japan time, `until`
            # including its day
            today = in_japan(w.clock.now()).date().isoformat()
            async with http.get(f"{w.url}/api/audit?since={today}&until={today}&limit=2", headers=admin) as r:
                assert r.status == 200 and len((await r.json())["entries"]) == 2
            async with http.get(f"{w.url}/api/audit?until=2000-01-01", headers=admin) as r:
                assert r.status == 200 and (await r.json())["entries"] == []
            async with http.get(f"{w.url}/api/audit?until=9999-12-31", headers=admin) as r:
                assert r.status == 400 and "out of range" in (await r.json())["error"]
            async with http.get(f"{w.url}/api/audit") as r:
                assert r.status == 401
        await w.app[AUDIT].flush()
        reads = [e for e in await w.store.audit.entries() if e.what == "audit"]
        assert [(e.actor, e.action) for e in reads] == [(f"token:{_token_id(w, 'admin')}", "view")] * 4


def _token_id(w: object, login: str) -> int:
    return list(w.tokens).index(login) + 1  # type: ignore[attr-defined]  # created in STAFF order


# -- the command line ---------------------------------------------------------------------------


def _in_world(tmp_path: Path, work: Callable[[World], Awaitable[T]], seeded: bool = True) -> T:
    async def run() -> T:
        async with world(tmp_path, serve=False, seeded=seeded) as w:
            return await work(w)

    return asyncio.run(run())


def test_audit_export_writes_the_log_and_records_itself(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from safetynet.cli import main

    _in_world(tmp_path, lambda w: w.store.audit.append([entry(0), entry(86400 * 3)]))
    cfg = tmp_path / "config.toml"
    monkeypatch.setenv("SAFETYNET_SECRET_KEY", SECRET_KEY)
    out = tmp_path / "audit.csv"
    assert main(["--config", str(cfg), "audit", "export", "--output", str(out)]) == 0
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert [(r["actor"], r["association_id"], r["time"][:10]) for r in rows] == [
        ("head0", "0", "2026-09-21"), ("head259200", "259200", "2026-09-24")]
    capsys.readouterr()
    assert main(["--config", str(cfg), "audit", "export", "--format", "json", "--since", "2026-09-24"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    # the later entry, the first export's own (made now, on this machine's clock), then this one's:
    # written before its first line goes out, so a reader that stops early cannot leave it unrecorded
    assert (lines[0]["actor"], lines[0]["what"]) == ("head259200", "dashboard")
    assert [(x["what"], x["detail"]) for x in lines[1:]] == [("audit", "csv, 2 entries"), ("audit", "json, stdout")]
    assert main(["--config", str(cfg), "audit", "export", "--until", "2026-09-23", "--format", "json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["actor"] for x in lines] == ["head0"]
    assert main(["--config", str(cfg), "audit", "export", "--since", "22/9/2026"]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
    exports = [e for e in _in_world(tmp_path, lambda w: w.store.audit.entries(), seeded=False) if e.what == "audit"]
    assert [(e.action, e.detail) for e in exports] == [("export", "csv, 2 entries"), ("export", "json, stdout"),
                                                       ("export", "json, stdout")]
    assert all(e.actor.startswith("cli") for e in exports)
    # under a Japanese locale the headers a person reads in Excel are Japanese (QA: English)
    terminal_locale(monkeypatch, "ja_JP.UTF-8")
    ja = tmp_path / "audit-ja.csv"
    assert main(["--config", str(cfg), "audit", "export", "--output", str(ja)]) == 0
    header = ja.read_text(encoding="utf-8-sig").splitlines()[0]
    assert header.startswith("日時（日本時間）,番号,時刻（UNIX）,誰が,役割,") and header.endswith(",詳細")


def test_a_roster_export_from_the_command_line_is_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from safetynet.cli import main

    async def count(w: World) -> int:
        return len(w.households)

    households = _in_world(tmp_path, count)
    monkeypatch.setenv("SAFETYNET_SECRET_KEY", SECRET_KEY)
    assert main(["--config", str(tmp_path / "config.toml"), "roster", "export", str(tmp_path / "out.csv")]) == 0
    (e,) = _in_world(tmp_path, lambda w: w.store.audit.entries(), seeded=False)
    assert (e.action, e.what, e.detail) == ("export", "roster", f"{households} households")
    assert e.actor.startswith("cli")


def test_the_audit_export_guards_its_cells_against_formulas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from safetynet.cli import main

    evil = AuditEntry(1_790_000_000.0, "=cmd|'/c calc'!A1", "export", "letters", detail="@SUM(1+1)")
    _in_world(tmp_path, lambda w: w.store.audit.append([evil]), seeded=False)
    monkeypatch.setenv("SAFETYNET_SECRET_KEY", SECRET_KEY)
    out = tmp_path / "audit.csv"
    assert main(["--config", str(tmp_path / "config.toml"), "audit", "export", "--output", str(out)]) == 0
    (row,) = csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig")))
    assert (row["actor"], row["detail"]) == ("'=cmd|'/c calc'!A1", "'@SUM(1+1)")


async def test_who_started_approved_closed_and_cancelled_each_campaign_is_in_the_log(tmp_path: Path) -> None:
    """QA: the audit log did not say who closed or cancelled an event (nor who started or approved it)."""
    from safetynet.broadcast.service import CampaignService, CampaignSpec
    from safetynet.domain import CampaignKind, Role
    from safetynet.domain.campaigns import Actor

    async with world(tmp_path, serve=False) as w:
        svc = CampaignService(w.store, w.cfg, w.clock)
        one = await w.store.auth.add_staff("kikikanri", "K", Role.CITY_ADMIN, "city", None)
        two = await w.store.auth.add_staff("bousai", "B", Role.CITY_ADMIN, "city", None)
        assert await w.store.campaigns.close(w.campaign_id, w.clock.now())
        spec = CampaignSpec("地震", CampaignKind.REAL, ("city",), {"ja": "無事ですか"})
        real = await svc.launch(spec, created_by="kikikanri", by=Actor("kikikanri", one.id))
        await svc.approve(real.id, by=Actor("bousai", two.id))
        await svc.close(real.id, by=Actor("bousai", two.id))
        drill = await svc.launch(CampaignSpec("訓練", CampaignKind.DRILL, ("city",), {"ja": "訓練です"}),
                                 created_by="token:3", by=Actor("token:3", on_behalf_of=one.id))
        await svc.cancel(drill.id, by="cli:root")
        got = [(e.action, e.what, e.actor, e.staff_id, e.campaign_id, e.detail) for e in await w.store.audit.entries()
               if e.action == "campaign"]
    assert got == [("campaign", "start", "kikikanri", one.id, real.id, "real"),
                   ("campaign", "approve", "bousai", two.id, real.id, "real"),
                   ("campaign", "close", "bousai", two.id, real.id, "real"),
                   ("campaign", "start", "token:3", one.id, drill.id, "drill"),  # the person behind the token
                   ("campaign", "cancel", "cli:root", None, drill.id, "drill"),
                   # whether its households were told of the cancel (none had been sent anything yet)
                   ("campaign", "notice", "cli:root", None, drill.id, "0 contacts")]


def test_a_refused_self_approval_is_in_the_audit_log_whichever_way_it_came(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """QA: `campaign approve --as` the starter, the console's approve form and the API's approve, each by the
    one who started the real event, were refused (403) but left no entry: the export showed approvals only."""
    from safetynet.broadcast.service import CampaignService, CampaignSpec
    from safetynet.cli import main
    from safetynet.domain import CampaignKind
    from safetynet.domain.campaigns import Actor

    async def start(w: World) -> tuple[int, int]:
        found = await w.store.auth.staff_by_login("admin")
        assert found is not None
        spec = CampaignSpec("地震", CampaignKind.REAL, ("city",), {"ja": "無事ですか"})
        real = await CampaignService(w.store, w.cfg, w.clock).launch(spec, created_by="admin",
                                                                      by=Actor("admin", found[0].id))
        return real.id, found[0].id

    cid, admin = _in_world(tmp_path, start)
    monkeypatch.setenv("SAFETYNET_SECRET_KEY", SECRET_KEY)
    c = ["--config", str(tmp_path / "config.toml")]
    assert main([*c, "campaign", "approve", str(cid), "--as", "admin"]) != 0

    async def over_the_web() -> None:
        async with world(tmp_path, seeded=False) as w, client() as http:
            csrf = await login(http, w, "admin")
            async with http.post(f"{w.url}/city/campaigns/{cid}/approve", data={"csrf": csrf, "really": "1"}) as r:
                assert r.status == 403
            async with http.post(f"{w.url}/api/campaigns/{cid}/approve", json={},
                                 headers={"X-CSRF-Token": csrf}) as r:
                assert r.status == 403

    asyncio.run(over_the_web())
    out = tmp_path / "audit.csv"
    assert main([*c, "audit", "export", "--output", str(out)]) == 0
    rows = [r for r in csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig")))
            if r["campaign_id"] == str(cid)]
    refused = ("campaign", "approve_refused", "admin", str(admin), "same_person")
    assert [(r["action"], r["what"], r["actor"], r["staff_id"], r["detail"]) for r in rows] == [
        ("campaign", "start", "admin", str(admin), "real"), refused, refused, refused]
    state = _in_world(tmp_path, lambda w: w.store.campaigns.get(cid), seeded=False)
    assert state is not None and state.state == "pending_approval"


def test_a_refused_approval_by_no_city_admin_is_in_the_audit_log_whichever_door(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """QA (privacy walk): a district head's approve on the console and the API, an association's token on the
    API, and `campaign approve --as` a district head or a name of no staff were refused (404, 403, an error)
    before the service's check, and left no entry. Each is now one entry with who and why; the answers stay."""
    from safetynet.auth import command_line_actor
    from safetynet.broadcast.service import CampaignService, CampaignSpec
    from safetynet.cli import main
    from safetynet.domain import CampaignKind
    from safetynet.domain.campaigns import Actor

    async def start(w: World) -> tuple[int, int, str, int]:
        admin, dhead = await w.store.auth.staff_by_login("admin"), await w.store.auth.staff_by_login("dhead")
        assert admin is not None and dhead is not None
        spec = CampaignSpec("地震", CampaignKind.REAL, ("city",), {"ja": "無事ですか"})
        real = await CampaignService(w.store, w.cfg, w.clock).launch(
            spec, created_by="admin", by=Actor("admin", admin[0].id, role="city_admin"))
        token_id = next(t.id for t in await w.store.auth.list_api_tokens() if t.label == "head_a")
        return real.id, dhead[0].id, w.tokens["head_a"], token_id  # an association head's token

    cid, dhead, token, token_id = _in_world(tmp_path, start)
    monkeypatch.setenv("SAFETYNET_SECRET_KEY", SECRET_KEY)
    c = ["--config", str(tmp_path / "config.toml")]
    assert main([*c, "campaign", "approve", str(cid), "--as", "dhead"]) == 2
    assert main([*c, "campaign", "approve", str(cid), "--as", "kimura"]) == 2

    async def over_the_web() -> None:
        async with world(tmp_path, seeded=False) as w, client() as http:
            bearer = {"Authorization": f"Bearer {token}"}
            async with http.post(f"{w.url}/api/campaigns/{cid}/approve", json={}, headers=bearer) as r:
                assert r.status == 403 and await r.json() == {"error": "only a city admin may approve a real event"}
            csrf = await login(http, w, "dhead")
            async with http.post(f"{w.url}/city/campaigns/{cid}/approve", data={"really": "1"}) as r:
                assert r.status == 404  # no CSRF token: maybe not theirs, recorded as no one's
            async with http.post(f"{w.url}/city/campaigns/{cid}/approve", data={"csrf": csrf, "really": "1"}) as r:
                assert r.status == 404
            async with http.post(f"{w.url}/api/campaigns/{cid}/approve", json={},
                                 headers={"X-CSRF-Token": csrf}) as r:
                assert r.status == 403 and await r.json() == {"error": "only a city admin may approve a real event"}

    asyncio.run(over_the_web())
    out = tmp_path / "audit.csv"
    assert main([*c, "audit", "export", "--output", str(out)]) == 0
    rows = [r for r in csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig")))
            if r["campaign_id"] == str(cid)]
    assert [(r["what"], r["actor"], r["staff_id"], r["role"], r["detail"]) for r in rows] == [
        ("start", "admin", rows[0]["staff_id"], "city_admin", "real"),
        ("approve_refused", "dhead", str(dhead), "district_head", f"not_city_admin, {command_line_actor()}"),
        ("approve_refused", "kimura", "", "", f"not_city_admin, {command_line_actor()}"),  # no staff at all
        ("approve_refused", f"token:{token_id}", "", "association_head", "not_city_admin"),
        ("approve_refused", "dhead", str(dhead), "district_head", "not_city_admin"),  # the console
        ("approve_refused", "dhead", str(dhead), "district_head", "not_city_admin")]  # the API
    state = _in_world(tmp_path, lambda w: w.store.campaigns.get(cid), seeded=False)
    assert state is not None and state.state == "pending_approval"


def test_staff_and_token_changes_from_the_command_line_are_recorded(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """QA: who added or removed a head, reset a password or made a token was written nowhere."""
    from safetynet.cli import main

    _in_world(tmp_path, lambda w: w.store.audit.entries())  # the seeded city
    monkeypatch.setenv("SAFETYNET_SECRET_KEY", SECRET_KEY)
    c = ["--config", str(tmp_path / "config.toml")]
    assert main([*c, "staff", "add", "yamada", "--role", "deputy", "--scope", f"association:{ASSOC_A}",
                 "--password", "chonai-no-mado-guchi"]) == 0
    assert main([*c, "staff", "password", "yamada"]) == 0
    assert main([*c, "staff", "contacts", "yamada", "--phone", "090-1111-2222", "--email", "yamada@example.jp"]) == 0
    assert main([*c, "staff", "contacts", "yamada", "--clear", "email"]) == 0
    assert main([*c, "staff", "contacts", "yamada", "--clear", "fax"]) == 2  # no such kind: nothing changed
    assert main([*c, "staff", "contacts", "yamada"]) == 2  # nothing to change
    assert main([*c, "staff", "contacts", "nobody", "--phone", "090-1111-2222"]) == 2
    kept = _in_world(tmp_path, lambda w: w.store.auth.staff_by_login("yamada"), seeded=False)
    assert kept is not None and kept[0].contacts == (("mobile", "+819011112222"),)
    assert main([*c, "staff", "remove", "yamada"]) == 0
    assert main([*c, "token", "create", "--role", "city_admin"]) == 0
    got = [(e.action, e.what, e.detail) for e in _in_world(tmp_path, lambda w: w.store.audit.entries(), seeded=False)]
    assert got[:5] == [("staff", "add", f"yamada deputy association:{ASSOC_A}"), ("staff", "password", "yamada"),
                       ("staff", "contacts", "yamada email,mobile"), ("staff", "contacts", "yamada email"),
                       ("staff", "remove", "yamada")]
    assert got[5][:2] == ("token", "api_token") and got[5][2].startswith("created ") and got[5][2].endswith(" city")
    token_id = got[5][2].split()[1]
    assert main([*c, "token", "revoke", token_id]) == 0
    last = _in_world(tmp_path, lambda w: w.store.audit.entries(), seeded=False)[-1]
    assert (last.action, last.detail) == ("token", f"revoked {token_id}") and last.actor.startswith("cli")


async def test_staff_added_and_removed_on_the_admin_page_are_recorded(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        csrf = await login(http, w, "admin")
        form = {"csrf": csrf, "login": "sato", "role": "deputy", "scope": f"association:{ASSOC_A}",
                "password": "chonai-no-mado-guchi"}
        async with http.post(f"{w.url}/admin/staff", data=form) as r:
            assert r.status == 200
        async with http.post(f"{w.url}/admin/staff/remove", data={"csrf": csrf, "login": "sato"}) as r:
            assert r.status == 200
        await w.app[AUDIT].flush()  # type: ignore[index]
        got = [(e.actor, e.action, e.what, e.detail) for e in await w.store.audit.entries() if e.action == "staff"]
    assert got == [("admin", "staff", "add", f"sato deputy association:{ASSOC_A}"), ("admin", "staff", "remove", "sato")]

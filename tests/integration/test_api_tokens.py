"""API tokens can be listed, revoked and expired, from the command line and the admin console.

A token is shown once, when it is made; the list shows what it is for, when it was made, when it
ends, when it was last used and whether it was revoked, never the token. A revoked or expired
token gets 401 on its next request, and a live stream opened with it ends within a heartbeat (15 s),
idle or busy.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp
import pytest
from dashboard_fixtures import ASSOC_B, World, client, login, world
from locale_helpers import terminal_locale
from test_dashboard_live import Stream, TickClock, until

from safetynet.auth import new_token, token_hash
from safetynet.cli import main
from safetynet.clock import FakeClock
from safetynet.config import load_config
from safetynet.domain import Role
from safetynet.i18n import t
from safetynet.store import store_session
from safetynet.web.dash_sse import HEARTBEAT_SECONDS, HUB

CONFIG = '[store]\npath = "data/sn.db"\n'


@pytest.fixture
def cfg_path(tmp_path: Path) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(CONFIG, encoding="utf-8")
    return p


def test_token_create_list_and_revoke_from_the_command_line(cfg_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c = ["--config", str(cfg_path)]
    assert main([*c, "init", "--admin-password", "kinkyu-renraku-mou"]) == 0
    capsys.readouterr()
    assert main([*c, "token", "create", "--role", "city_admin", "--label", "dash board", "--expires-days", "30"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and len(out[0]) >= 32 and " " not in out[0]  # the token alone on its line
    secret = out[0]
    assert main([*c, "token", "create", "--role", "city_admin"]) == 0
    forever = capsys.readouterr().out.strip()
    assert main([*c, "token", "list"]) == 0
    listing = capsys.readouterr().out
    assert secret not in listing and forever not in listing
    header, *rows = [line.split("\t") for line in listing.splitlines()]
    assert header == ["id", "role", "scope", "created", "expires", "last_used", "revoked", "state", "created_by",
                      "label"]
    assert [r[0] for r in rows] == ["1", "2"]
    first, second = rows
    assert first[1:3] == ["city_admin", "city"] and first[3].endswith("+09:00") and first[4] != "-"
    assert first[5:9] == ["-", "-", "active", "-"] and first[9] == "dash board"  # made by no person (the CLI)
    assert second[4] == "-" and second[7] == "active"  # no --expires-days: it does not expire
    assert main([*c, "token", "revoke", "1"]) == 0
    assert capsys.readouterr().out.strip() == "revoked token 1"
    for again in ("1", "99"):
        assert main([*c, "token", "revoke", again]) == 2
        assert "error: no token with id" in capsys.readouterr().err
    assert main([*c, "token", "list"]) == 0
    first = capsys.readouterr().out.splitlines()[1].split("\t")
    assert first[6] != "-" and first[7] == "revoked"
    for days in ("0", "3651", "-5"):
        assert main([*c, "token", "create", "--role", "city_admin", "--expires-days", days]) == 2
        assert "--expires-days" in capsys.readouterr().err


def test_removing_an_admin_says_which_of_their_tokens_still_work_and_the_list_names_the_maker(
        cfg_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """QA (privacy walk): a token a removed admin made kept working, `token list` said nothing of who made
    it and `staff remove` said nothing of it. Tokens stay (README Decisions); both are said."""
    c = ["--config", str(cfg_path)]
    assert main([*c, "init", "--admin-password", "kinkyu-renraku-mou"]) == 0
    assert main([*c, "staff", "add", "kanri2", "--role", "city_admin", "--password", "bousai-tantou-2go"]) == 0

    async def made_on_the_admin_page() -> list[int]:  # as /admin makes them: with their maker
        async with store_session(load_config(cfg_path)) as store:
            found = await store.auth.staff_by_login("kanri2")
            assert found is not None
            return [await store.auth.create_api_token(token_hash(new_token()), Role.CITY_ADMIN, "city", label,
                                                      created_by=found[0].id) for label in ("feed", "bot")]

    feed, bot = asyncio.run(made_on_the_admin_page())
    assert main([*c, "token", "revoke", str(bot)]) == 0
    assert main([*c, "token", "create", "--role", "city_admin", "--label", "cli"]) == 0
    capsys.readouterr()
    assert main([*c, "token", "list"]) == 0
    assert [r.split("\t")[8] for r in capsys.readouterr().out.splitlines()[1:]] == ["kanri2", "kanri2", "-"]
    assert main([*c, "staff", "remove", "kanri2"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "removed kanri2", t("en", "cli.staff.removed_tokens", login="kanri2", count=1, ids=str(feed))]
    assert "safetynet token revoke" in t("en", "cli.staff.removed_tokens", login="", count=1, ids="")
    terminal_locale(monkeypatch, "ja_JP.UTF-8")
    assert main([*c, "token", "list"]) == 0
    listing = [r.split("\t") for r in capsys.readouterr().out.splitlines()[1:]]
    assert [(r[7], r[8]) for r in listing] == [("active", "削除済み"), ("revoked", "削除済み"), ("active", "-")]
    # revoked by a person (the removed admin's token worked until then); a removal with no token says one line
    assert main([*c, "token", "revoke", str(feed)]) == 0
    assert main([*c, "staff", "remove", "admin"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"トークン {feed} を取り消しました", "削除しました: admin"]


async def _status(w: World, token: str, path: str = "/api/associations") -> int:
    async with aiohttp.ClientSession() as http, http.get(
            w.url + path, headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status


async def test_a_revoked_or_expired_token_is_refused_at_once(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        assert isinstance(w.clock, FakeClock)
        day = await _made(w, expires_in=86400.0)
        day_id = max(t.id for t in await w.store.auth.list_api_tokens())
        revoked = await _made(w)
        revoked_id = day_id + 1
        assert await _status(w, day) == 200 and await _status(w, revoked) == 200
        # revoked by the command line, against the running server's database
        cfg = tmp_path / "config.toml"
        assert await asyncio.to_thread(main, ["--config", str(cfg), "token", "revoke", str(revoked_id)]) == 0
        assert await _status(w, revoked) == 401
        await w.clock.advance(86399)
        assert await _status(w, day) == 200
        await w.clock.advance(1)
        assert await _status(w, day) == 401
        async with aiohttp.ClientSession() as http, http.get(
                w.url + "/api/associations", headers={"Authorization": f"Bearer {day}"}) as r:
            assert (await r.json())["error"] == "invalid, revoked or expired API token"
        listed = {t.id: t for t in await w.store.auth.list_api_tokens()}
        assert listed[revoked_id].revoked_at is not None and listed[day_id].last_used_at is not None


async def _made(w: World, expires_in: float | None = None) -> str:
    token = new_token()
    expires_at = w.clock.now() + expires_in if expires_in is not None else None
    await w.store.auth.create_api_token(token_hash(token), Role.CITY_ADMIN, "city", "test", expires_at)
    return token


async def test_last_used_is_written_at_most_once_a_minute(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        assert isinstance(w.clock, FakeClock)
        token = await _made(w)
        token_id = max(t.id for t in await w.store.auth.list_api_tokens())
        first = w.clock.now()
        for _ in range(5):
            assert await _status(w, token) == 200
            await w.clock.advance(10)
        used = {t.id: t.last_used_at for t in await w.store.auth.list_api_tokens()}
        assert used[token_id] == first
        await w.clock.advance(20)
        assert await _status(w, token) == 200
        used = {t.id: t.last_used_at for t in await w.store.auth.list_api_tokens()}
        assert used[token_id] == w.clock.now()


async def test_the_admin_console_lists_expires_and_revokes_tokens(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        assert isinstance(w.clock, FakeClock)
        csrf = await login(http, w, "admin")
        form = {"csrf": csrf, "role": "association_head", "scope": f"association:{ASSOC_B}", "label": "見守りボット"}
        for bad in ("0", "3651", "x", "1.5"):
            async with http.post(f"{w.url}/admin/tokens?lang=ja", data={**form, "expires_days": bad}) as r:
                assert r.status == 400 and "有効日数は 1〜3650" in await r.text()
        async with http.post(f"{w.url}/admin/tokens", data={**form, "expires_days": "7"}) as r:
            page = await r.text()
            found = re.search(r"<code data-secret>([^<]+)</code>", page)
        assert found is not None
        token = found.group(1)
        token_id = max(t.id for t in await w.store.auth.list_api_tokens())
        assert await _status(w, token) == 200
        async with http.get(f"{w.url}/admin") as r:
            page = await r.text()
        assert token not in page  # shown once, on the page that made it
        row = re.search(rf'<tr data-token=["\']{token_id}["\']>(.*?)</tr>', page)
        assert row is not None
        assert "見守りボット" in row.group(1) and "有効" in row.group(1) and "未使用" not in row.group(1)
        assert "無期限" not in row.group(1) and "失効させる" in row.group(1)
        # the dashboard's live stream, opened with the token, ends once the token is revoked
        w.app[HUB].heartbeat_seconds = 0.05  # type: ignore[index]
        async with aiohttp.ClientSession() as bot, bot.get(
                f"{w.url}/api/campaigns/{w.campaign_id}/events",
                headers={"Authorization": f"Bearer {token}"}) as stream:
            assert stream.status == 200
            await stream.content.readuntil(b"event: ping\n")  # heartbeats come while the token holds
            async with http.post(f"{w.url}/admin/tokens/revoke", data={"csrf": csrf, "id": str(token_id)}) as r:
                assert r.status == 200 and f"トークン {token_id} を失効させました" in await r.text()
            await asyncio.wait_for(stream.content.read(), timeout=30)  # returns once the server ends it
        assert await _status(w, token) == 401
        async with http.get(f"{w.url}/admin") as r:
            row = re.search(rf'<tr data-token=["\']{token_id}["\']>(.*?)</tr>', await r.text())
        assert row is not None and "失効済み" in row.group(1) and "失効させる" not in row.group(1)
        async with http.post(f"{w.url}/admin/tokens/revoke", data={"csrf": csrf, "id": str(token_id)}) as r:
            assert r.status == 404  # already revoked
        async with http.post(f"{w.url}/admin/tokens/revoke", data={"csrf": csrf, "id": "9" * 40}) as r:
            assert r.status == 404
        # a token made for a week is refused after it
        async with http.post(f"{w.url}/admin/tokens", data={**form, "expires_days": "7"}) as r:
            week = re.search(r"<code data-secret>([^<]+)</code>", await r.text())
        assert week is not None
        await w.clock.advance(7 * 86400)
        assert await _status(w, week.group(1)) == 401
        async with client() as again:
            await login(again, w, "admin")  # the session of a week ago has ended too
            async with again.get(f"{w.url}/admin") as r:
                assert "期限切れ" in await r.text()


async def test_a_busy_live_stream_ends_once_its_token_is_revoked(tmp_path: Path) -> None:
    """Review: a stream checked its token again only after 15 s without a frame; in an event answers come
    every second, and a revoked token (a wall display's, a removed staff member's) kept the stream. Time is
    the fake clock (`until` moves it half a second a tick); the heartbeat's own 15 s never pass."""
    clock = TickClock()
    async with world(tmp_path, clock=clock) as w:
        token = await _made(w)
        token_id = max(t.id for t in await w.store.auth.list_api_tokens())
        keys = [k for k in w.households if k.startswith("A-")]
        answers = 0

        async def answer_and_read(stream: Stream) -> None:
            nonlocal answers
            await w.answer(keys[answers % len(keys)], ("safe", "need_help")[answers // len(keys) % 2])
            answers += 1
            await until(stream, clock, lambda ev: ev["changed"])

        async with aiohttp.ClientSession() as bot, bot.get(
                f"{w.url}/api/campaigns/{w.campaign_id}/events",
                headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 200
            stream = Stream(r)
            await stream.next()
            opened = clock.monotonic()
            while clock.monotonic() - opened < HEARTBEAT_SECONDS + 5:  # checked again while answers come
                await answer_and_read(stream)
            assert stream.pings == 0  # never idle: the heartbeat's check never ran
            assert await w.store.auth.revoke_api_token(token_id)
            revoked = clock.monotonic()
            with pytest.raises(EOFError):
                while clock.monotonic() - revoked < 3 * HEARTBEAT_SECONDS:
                    await answer_and_read(stream)
            assert clock.monotonic() - revoked <= HEARTBEAT_SECONDS + 1
            assert stream.pings == 0


async def test_the_admin_page_names_each_tokens_maker_and_a_removal_says_which_still_work(tmp_path: Path) -> None:
    """QA (privacy walk): /admin's token table said nothing of who made a token, and removing its maker
    nothing of the token, which kept working."""
    async with world(tmp_path) as w, client() as http:
        csrf = await login(http, w, "admin")
        kanri2 = await w.store.auth.add_staff("kanri2", "管理 二", Role.CITY_ADMIN, "city", None)
        feed = new_token()
        theirs = await w.store.auth.create_api_token(token_hash(feed), Role.CITY_ADMIN, "city", "feed",
                                                     created_by=kanri2.id)
        async with http.post(f"{w.url}/admin/tokens", data={"csrf": csrf, "role": "city_admin", "scope": "city",
                                                           "label": "mine"}) as r:
            assert r.status == 200
        mine = max(t.id for t in await w.store.auth.list_api_tokens())

        async def maker(token_id: int) -> str:
            async with http.get(f"{w.url}/admin") as r:
                page = await r.text()
            head = re.search(r'<table class="tokens"><thead><tr>(.*?)</tr>', page)
            row = re.search(rf'<tr data-token=["\']{token_id}["\']>(.*?)</tr>', page)
            assert head is not None and row is not None
            column = re.findall(r"<th>(.*?)</th>", head.group(1)).index("作成者")
            return str(re.findall(r"<td>(.*?)</td>", row.group(1))[column])

        assert (await maker(theirs), await maker(mine), await maker(1)) == ("kanri2", "admin", "-")
        async with http.post(f"{w.url}/admin/staff/remove", data={"csrf": csrf, "login": "kanri2"}) as r:
            assert r.status == 200
            page = await r.text()
        assert "kanri2 を削除しました" in page
        assert f"kanri2 が作った API トークン 1 件（番号 {theirs}）は有効なまま残っています" in page
        assert await maker(theirs) == "削除済み"
        assert await _status(w, feed) == 200  # an integration's credential: revoking it is a person's call


async def test_only_a_city_admin_session_may_revoke(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        target = max(t.id for t in await w.store.auth.list_api_tokens())
        async with client() as http:
            csrf = await login(http, w, "dhead")
            async with http.post(f"{w.url}/admin/tokens/revoke", data={"csrf": csrf, "id": str(target)}) as r:
                assert r.status == 404
        async with aiohttp.ClientSession() as http, http.post(
                f"{w.url}/admin/tokens/revoke", data={"id": str(target)},
                headers={"Authorization": f"Bearer {w.tokens['admin']}"}) as r:
            assert r.status == 404  # the console is for sessions, not tokens
        assert all(t.revoked_at is None for t in await w.store.auth.list_api_tokens())

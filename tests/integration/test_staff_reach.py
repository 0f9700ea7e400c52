"""Whether a head's or deputy's contact still reaches them, as the alerts sent to it came out: /admin marks
a contact whose last alert was refused (届いていません, why, when), and /city names an association none of
whose heads and deputies took their last alert on any contact, so that city hall phones them (review: a
head who had blocked the LINE account was refused every alert, and nobody could see it).

The real app, the real notifier and dispatcher, the sandbox as Telegram (an address it is told is dead
answers 403 "bot was blocked by the user", as Telegram does)."""

from __future__ import annotations

import html as html_text
import re
from pathlib import Path

from dashboard_fixtures import client, csrf_of, password, password_hash
from replies_fixtures import ASSOC_A, ASSOC_B, Env, add_staff, running_app

from safetynet.domain import Role
from safetynet.web.city_pages import STAFF_TTL_SECONDS
from safetynet.web.dash_shell import when

ADMIN = "city-admin"


async def _need_help(env: Env, key: str) -> None:
    """A resident taps 助けが必要; their association's heads and deputies are alerted, and the alerts go out."""
    async with env.http.post(env.reply_url(key), data={"status": "need_help", "k": f"help-{key}"}) as resp:
        assert resp.status == 200
    await env.dispatch()


async def _page(env: Env, path: str) -> str:
    async with client() as http:
        async with http.get(f"{env.url}/login") as r:
            form_token = re.search(r'name="csrf" value="([^"]+)"', await r.text())
        assert form_token is not None
        async with http.post(f"{env.url}/login", data={"csrf": form_token.group(1), "login": ADMIN,
                                                        "password": password(ADMIN), "next": "/"},
                             allow_redirects=False) as r:
            assert r.status == 303
        async with http.get(env.url + path) as r:
            assert r.status == 200
            html = await r.text()
    assert csrf_of(html)  # a staff page, logged in
    return html


def _contacts(html: str, login: str) -> str:
    m = re.search(rf'<ul class="contacts" data-contacts="{login}">(.*?)</ul>', html, re.S)
    assert m is not None
    return m.group(1)


def _refused(html: str) -> str:
    m = re.search(r'<section class="help reach-refused".*?</section>', html, re.S)
    return m.group(0) if m else ""


async def test_a_refused_contact_is_marked_on_admin_and_an_association_nobody_of_which_is_reached_on_city(
        tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        await env.store.auth.add_staff(ADMIN, "市 管理者", Role.CITY_ADMIN, "city", password_hash(ADMIN))
        await add_staff(env, "head-a", Role.ASSOCIATION_HEAD, ASSOC_A, telegram="8880001")
        await add_staff(env, "deputy-a", Role.DEPUTY, ASSOC_A, telegram="8880002")
        await add_staff(env, "head-b", Role.ASSOCIATION_HEAD, ASSOC_B, telegram="8880003")
        ids = {x.name: x.id for x in await env.store.roster.list_associations()}
        a, b = ids[ASSOC_A], ids[ASSOC_B]

        html = await _page(env, "/admin")  # nothing sent to anyone yet: nothing said
        assert "data-unreached" not in html and "data-reached" not in html

        env.sandbox.ctx.state.faults.dead.add("8880001")  # head-a blocked the bot
        refused_at = env.clock.now()
        await _need_help(env, "A-002")
        assert [r.address for r in env.staff_messages("telegram")] == ["8880002"]  # only the deputy had it
        html = await _page(env, "/admin")
        head = _contacts(html, "head-a")
        assert 'data-unreached="blocked"' in head
        assert f"✕ 届いていません（{when(refused_at)}、LINE・Telegram で市の公式アカウントがブロックされています）" in head
        assert "data-reached" in _contacts(html, "deputy-a") and "data-unreached" not in _contacts(html, "deputy-a")
        assert "data-unreached" not in _contacts(html, "head-b") and "data-reached" not in _contacts(html, "head-b")
        english = await _page(env, "/admin?lang=en")
        assert (f"✕ Not reaching them ({when(refused_at)}: the city's LINE or Telegram account is blocked)"
                in html_text.unescape(_contacts(english, "head-a")))
        assert _refused(await _page(env, "/city")) == ""  # A's deputy is reached
        # A's own page says it too, so that its head and deputies fix it before an event needs it
        own = re.search(r'<section class="help reach-refused" role="status" data-own-unreached="(\d+)">(.*?)</section>',
                        await _page(env, f"/a/{a}"), re.S)
        assert own is not None and own.group(1) == "1"
        assert ("Head-A（町会長）の Telegram" in own.group(2)
                and f"{when(refused_at)} の知らせが届いていません。LINE・Telegram で市の公式アカウントがブロックされています"
                in own.group(2)), own.group(2)
        assert "8880001" not in own.group(2)  # masked, as /admin shows it
        assert "data-own-unreached" not in await _page(env, f"/a/{b}")

        # the deputy's chat fails as well: nobody of A takes an alert any more; B's head does
        env.sandbox.ctx.state.faults.dead.add("8880002")
        await env.clock.advance(STAFF_TTL_SECONDS)  # /city's staff reads are shared for a few seconds
        await _need_help(env, "A-003")
        await _need_help(env, "B-001")
        html = await _page(env, "/city")
        block = _refused(html)
        assert 'data-reach-refused="1"' in block
        assert "会長・副会長のどの連絡先にも、最後の知らせが届いていない町会: 1" in block
        assert f'<a href="/a/{a}" data-reach-refused-assoc="{a}">{ASSOC_A}</a>' in block
        assert f'data-reach-refused-assoc="{b}"' not in block and 'href="/admin"' in block
        assert "電話で連絡を取り" in block
        assert "Phone them" in _refused(await _page(env, "/city?lang=en"))

        # the head unblocks the bot: their next alert goes through, and A is no longer named
        env.sandbox.ctx.state.faults.dead.discard("8880001")
        await env.clock.advance(STAFF_TTL_SECONDS)
        await _need_help(env, "A-004")
        assert _refused(await _page(env, "/city")) == ""
        html = await _page(env, "/admin")
        assert "data-reached" in _contacts(html, "head-a") and 'data-unreached="blocked"' in _contacts(html, "deputy-a")

"""Staff login, logout, sessions, CSRF, login rate limits and the admin console."""

from __future__ import annotations

import dataclasses
import html
import re
from pathlib import Path
from urllib.parse import quote

import structlog.testing
from dashboard_fixtures import ASSOC_A, ASSOC_B, World, client, csrf_of, login, password, world

from safetynet.clock import FakeClock
from safetynet.domain.campaigns import STAFF_STEP, StaffAlert
from safetynet.web.audit_api import AUDIT


async def _form_token(http, w: World) -> str:  # type: ignore[no-untyped-def]
    async with http.get(f"{w.url}/login") as r:
        m = re.search(r'name="csrf" value="([^"]+)"', await r.text())
    assert m is not None
    return m.group(1)


async def _try(http, w: World, who: str, pw: str) -> int:  # type: ignore[no-untyped-def]
    token = await _form_token(http, w)
    async with http.post(f"{w.url}/login", data={"csrf": token, "login": who, "password": pw},
                         allow_redirects=False) as r:
        return r.status


async def test_login_sets_a_strict_session_cookie_and_logout_ends_it(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        token = await _form_token(http, w)
        async with http.post(f"{w.url}/login", data={"csrf": token, "login": "head_a", "password": password("head_a"),
                                                      "next": "/city"}, allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/city"
            cookie = next(v for v in r.headers.getall("Set-Cookie") if v.startswith("sn_session="))
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie  # public_url is http here
        async with http.get(f"{w.url}/") as r:  # a head lands on its association
            assert r.status == 200 and str(r.url).endswith(f"/a/{w.assoc_ids[ASSOC_A]}")
            csrf = csrf_of(await r.text())
        async with http.post(f"{w.url}/logout", data={}, allow_redirects=False) as r:
            assert r.status == 403  # no CSRF token: refused, still logged in
        async with http.post(f"{w.url}/logout", data={"csrf": csrf}, allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/login"
        async with http.get(f"{w.url}/city", allow_redirects=False) as r:
            assert r.status == 302 and r.headers["Location"].startswith("/login")


async def test_cookie_is_secure_behind_an_https_public_url(tmp_path: Path) -> None:
    async with world(tmp_path, public_url="https://anpi.example.jp") as w, client() as http:
        async with http.get(f"{w.url}/login") as r:
            form_cookie = next(v for v in r.headers.getall("Set-Cookie") if v.startswith("sn_login_csrf="))
        assert "Secure" in form_cookie
        token = form_cookie.split(";")[0].split("=", 1)[1]
        # the client keeps Secure cookies off plain http, so hand the form cookie over explicitly
        async with http.post(f"{w.url}/login", data={"csrf": token, "login": "admin", "password": password("admin")},
                             headers={"Cookie": f"sn_login_csrf={token}"}, allow_redirects=False) as r:
            assert r.status == 303
            cookie = next(v for v in r.headers.getall("Set-Cookie") if v.startswith("sn_session="))
        assert "Secure" in cookie and "HttpOnly" in cookie


async def test_wrong_password_unknown_login_and_missing_form_token_are_refused(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        assert await _try(http, w, "head_a", "wrong") == 401
        assert await _try(http, w, "nobody", "wrong") == 401
        token = await _form_token(http, w)
        async with http.post(f"{w.url}/login", data={"csrf": token, "login": '"><b>x', "password": "typo-12345"},
                             allow_redirects=False) as r:
            page = await r.text()
        assert r.status == 401 and 'value="&#34;&gt;&lt;b&gt;x"' in page and "typo-12345" not in page
        async with http.post(f"{w.url}/login", data={"login": "head_a", "password": password("head_a")},
                             allow_redirects=False) as r:
            assert r.status == 403
        async with http.get(f"{w.url}/city", allow_redirects=False) as r:
            assert r.status == 302


# Browsers drop tabs and newlines from a URL and read "\\" as "/": each of these leads off-site.
OFF_SITE = ["//evil.example/x", "https://evil.example/", "/\\evil.example", "/\t/evil.example", "/\n/evil.example",
            "/%09/evil.example", "/%0a/evil.example", "/%5Cevil.example", "/%2F/evil.example", "/%2f%2fevil.example",
            "\t//evil.example", " /x", "/x\x00", "/\u3000/evil.example", "javascript:alert(1)", "evil.example",
            "/a//evil.example", "/" + "a" * 3000]
SAME_SITE = ["/city", f"/a/12/households?campaign=3&status=need_help&group={quote('1班 東')}", "/"]


async def test_next_never_leaves_the_site(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        assert isinstance(w.clock, FakeClock)
        for target in OFF_SITE + SAME_SITE:
            await w.clock.advance(60)  # one login a minute: the login limits are not what is tested
            expected = target if target in SAME_SITE else "/"
            async with client() as http:
                async with http.get(f"{w.url}/login", params={"next": target}) as r:
                    form = await r.text()
                    token = re.search(r'name="csrf" value="([^"]+)"', form)
                assert token is not None and f'name="next" value="{html.escape(expected)}"' in form, target
                async with http.post(f"{w.url}/login", data={"csrf": token.group(1), "login": "admin", "next": target,
                                                              "password": password("admin")},
                                     allow_redirects=False) as r:
                    assert r.status == 303 and r.headers.get("Location") == expected, (target, r.status, await r.text())
                # already logged in: /login sends the viewer on at once, by the same rule
                async with http.get(f"{w.url}/login", params={"next": target}, allow_redirects=False) as r:
                    assert r.status == 302 and r.headers["Location"] == expected, target


async def test_wrong_passwords_back_off_per_login_and_address(tmp_path: Path) -> None:
    clock = FakeClock()
    async with world(tmp_path, clock=clock) as w, client() as http:
        statuses = [await _try(http, w, "head_a", "wrong") for _ in range(6)]
        assert statuses == [401] * 5 + [429]  # five typos are free; then this address waits
        token = await _form_token(http, w)
        async with http.post(f"{w.url}/login", data={"csrf": token, "login": "head_a",
                                                      "password": password("head_a")}, allow_redirects=False) as r:
            assert r.status == 429 and int(r.headers["Retry-After"]) == 2
            page = await r.text()
        # how long to wait, and the login kept in its field (the password never comes back)
        assert "2秒ほど待って" in page and 'name="login" value="head_a"' in page
        assert password("head_a") not in page
        await clock.advance(2)
        assert await _try(http, w, "head_a", "wrong") == 401
        await clock.advance(3)
        assert await _try(http, w, "head_a", "wrong") == 429  # the wait doubled: 4 s
        await clock.advance(1)
        assert await _try(http, w, "head_a", password("head_a")) == 303  # a wait, never a lock
        async with client() as again:  # the success cleared the failures
            assert [await _try(again, w, "head_a", "wrong") for _ in range(5)] == [401] * 5


async def test_one_address_gets_twenty_attempts_a_minute_whatever_the_logins(tmp_path: Path) -> None:
    clock = FakeClock()
    async with world(tmp_path, clock=clock) as w, client() as http:
        others = [await _try(http, w, f"user{i}", "wrong") for i in range(21)]
        assert others == [401] * 20 + [429]
        assert await _try(http, w, "admin", password("admin")) == 429
        await clock.advance(61)
        assert await _try(http, w, "admin", password("admin")) == 303


def behind_a_proxy(w: World) -> None:
    """The server believes X-Forwarded-For from loopback, so a test can speak from many addresses."""
    w.svc.cfg = dataclasses.replace(w.cfg, server=dataclasses.replace(w.cfg.server, trusted_proxies=("127.0.0.1",)))


async def _try_from(http, w: World, address: str, who: str, pw: str) -> int:  # type: ignore[no-untyped-def]
    token = await _form_token(http, w)
    async with http.post(f"{w.url}/login", data={"csrf": token, "login": who, "password": pw},
                         headers={"X-Forwarded-For": address}, allow_redirects=False) as r:
        return r.status


async def test_an_address_guessing_wrong_cannot_lock_the_owner_out(tmp_path: Path) -> None:
    """One address sending a wrong password for `admin` every 6 s once kept `admin` locked out
    everywhere (the limit counted attempts per login, before the password check)."""
    clock = FakeClock()
    async with world(tmp_path, clock=clock) as w, client() as attacker:
        behind_a_proxy(w)
        checked = 0
        for i in range(100):  # ten minutes
            status = await _try_from(attacker, w, "203.0.113.66", "admin", f"guess-{i}")
            assert status in (401, 429)
            checked += status == 401
            if i % 10 == 9:  # the owner, from an address of their own, gets in at once every time
                async with client() as owner:
                    assert await _try_from(owner, w, f"198.51.100.{i}", "admin", password("admin")) == 303
            await clock.advance(6)
        # the guessing address backed off: 5 free tries, then waits of 2, 4, 8 … 256 s
        assert checked <= 14, checked
        # a second address guessing as well slows only itself
        assert [await _try_from(attacker, w, "203.0.113.67", "admin", "x") for _ in range(6)] == [401] * 5 + [429]
        async with client() as owner:
            assert await _try_from(owner, w, "198.51.100.200", "admin", password("admin")) == 303


async def test_sessions_expire(tmp_path: Path) -> None:
    clock = FakeClock()
    async with world(tmp_path, clock=clock) as w, client() as http:
        await login(http, w, "admin")
        async with http.get(f"{w.url}/city", allow_redirects=False) as r:
            assert r.status == 200
        await clock.advance(13 * 3600)
        async with http.get(f"{w.url}/city", allow_redirects=False) as r:
            assert r.status == 302


async def test_admin_adds_a_deputy_who_can_log_in_then_removes_them(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        csrf = await login(http, w, "admin")
        data = {"csrf": csrf, "login": "fuku1", "display_name": "副会長 一", "role": "deputy",
                "scope": f"association:{ASSOC_A}", "password": ""}
        async with http.post(f"{w.url}/admin/staff", data={**data, "csrf": ""}) as r:
            assert r.status == 403  # CSRF refused without the token
        async with http.post(f"{w.url}/admin/staff", data=data) as r:
            assert r.status == 200
            page = await r.text()
            assert r.headers["Cache-Control"] == "no-store"
        generated = re.search(r"<code data-secret>([^<]+)</code>", page)
        assert generated is not None
        async with client() as other:
            await login(other, w, "fuku1", generated.group(1))
            async with other.get(f"{w.url}/a/{w.assoc_ids[ASSOC_A]}") as r:
                assert r.status == 200
            async with other.get(f"{w.url}/admin") as r:
                assert r.status == 404  # not a city admin: the console does not exist for them
        async with http.post(f"{w.url}/admin/staff", data={**data, "role": "deputy",
                                                           "scope": "district:桜地区"}) as r:
            assert r.status == 400  # a deputy's scope is an association
        fuku1 = await w.store.auth.staff_by_login("fuku1")
        assert fuku1 is not None
        with structlog.testing.capture_logs() as logs:
            async with http.post(f"{w.url}/admin/staff/remove", data={"csrf": csrf, "login": "fuku1"}) as r:
                assert r.status == 200
        assert await w.store.auth.staff_by_login("fuku1") is None
        # the command line's twin (test_admin): ids and counts, never the login
        (line,) = [e for e in logs if e["event"] == "staff_removed"]
        assert {k: v for k, v in line.items() if k != "log_level"} == {
            "event": "staff_removed", "staff_id": fuku1[0].id, "role": "deputy", "via": "admin", "alerts_dropped": 0,
            "live_tokens": 0}
        async with http.post(f"{w.url}/admin/staff/remove", data={"csrf": csrf, "login": "admin"}) as r:
            assert r.status == 409  # not yourself


async def test_a_login_taken_and_a_full_association_are_said_in_the_viewers_language(tmp_path: Path) -> None:
    """The store's refusals (409) read in the page's language; they were its English on a Japanese page."""
    async with world(tmp_path) as w, client() as http:
        csrf = await login(http, w, "admin")
        data = {"csrf": csrf, "display_name": "副会長", "role": "deputy", "scope": f"association:{ASSOC_A}",
                "password": "mado-guchi-no-kagi"}
        deputies = {s.login for s in await w.store.auth.list_staff()
                    if s.role == "deputy" and s.scope == f"association:{ASSOC_A}" and s.active}
        for n in range(3 - len(deputies)):
            async with http.post(f"{w.url}/admin/staff", data={**data, "login": f"fuku{n}"}) as r:
                assert r.status == 200
        async with http.post(f"{w.url}/admin/staff?lang=ja", data={**data, "login": "fuku9"}) as r:
            assert r.status == 409
            assert f"「{ASSOC_A}」の副会長・班長はすでに 3 人です。先に一人を外してから追加してください。" in await r.text()
        async with http.post(f"{w.url}/admin/staff?lang=en", data={**data, "login": "fuku9"}) as r:
            assert r.status == 409 and f"association:{ASSOC_A} already has 3 deputies; remove one first" in await r.text()
        taken = {**data, "login": "admin", "role": "association_head"}
        async with http.post(f"{w.url}/admin/staff?lang=ja", data=taken) as r:
            assert r.status == 409 and "ログイン名「admin」はすでに使われています。" in await r.text()
        assert await w.store.auth.staff_by_login("fuku9") is None


async def test_the_admin_console_refuses_weak_passwords_in_the_viewers_language(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        csrf = await login(http, w, "admin")
        data = {"csrf": csrf, "login": "fuku2", "display_name": "副会長 二", "role": "deputy",
                "scope": f"association:{ASSOC_A}"}
        for pw, ja, en in (("1", "10文字以上", "at least 10 characters"),
                           ("password", "10文字以上", "at least 10 characters"),
                           ("password2026", "よく使われる", "too common"), ("fuku2-fuku2", "ログインID", "login itself")):
            async with http.post(f"{w.url}/admin/staff?lang=ja", data={**data, "password": pw}) as r:
                assert r.status == 400 and ja in await r.text(), pw
            async with http.post(f"{w.url}/admin/staff?lang=en", data={**data, "password": pw}) as r:
                assert r.status == 400 and en in await r.text(), pw
        assert await w.store.auth.staff_by_login("fuku2") is None
        async with http.post(f"{w.url}/admin/staff", data={**data, "password": "mado-guchi-no-kagi"}) as r:
            assert r.status == 200
        async with client() as other:
            await login(other, w, "fuku2", "mado-guchi-no-kagi")


async def test_the_admin_console_says_the_login_and_label_rules_in_the_viewers_language(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        csrf = await login(http, w, "admin")
        tokens = await w.store.auth.list_api_tokens()
        data = {"csrf": csrf, "display_name": "副会長 三", "role": "deputy", "scope": f"association:{ASSOC_A}",
                "password": "mado-guchi-no-kagi"}
        async with http.post(f"{w.url}/admin/staff?lang=ja", data={**data, "login": "fuku 3"}) as r:
            assert r.status == 400 and "は使えません: ログイン名は 1〜64 文字" in await r.text()  # was a 409, English
        async with http.post(f"{w.url}/admin/staff?lang=ja", data={**data, "login": "fuku3",
                                                                    "display_name": "副会長\u202e三"}) as r:
            assert r.status == 400 and "U+202E" in await r.text()
        assert await w.store.auth.staff_by_login("fuku3") is None
        async with http.post(f"{w.url}/admin/tokens?lang=ja", data={"csrf": csrf, "role": "association_head",
                                                                     "scope": f"association:{ASSOC_B}",
                                                                     "label": "bot\x1b[31m"}) as r:
            assert r.status == 400 and "data-secret" not in await r.text()  # was stored, ESC and all
        assert await w.store.auth.list_api_tokens() == tokens


async def test_admin_creates_a_scoped_api_token(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        csrf = await login(http, w, "admin")
        async with http.post(f"{w.url}/admin/tokens", data={"csrf": csrf, "role": "association_head",
                                                            "scope": f"association:{ASSOC_B}", "label": "bot"}) as r:
            assert r.status == 200
            token = re.search(r"<code data-secret>([^<]+)</code>", await r.text())
        assert token is not None
        async with client() as bot, bot.get(f"{w.url}/api/associations",
                                            headers={"Authorization": f"Bearer {token.group(1)}"}) as r:
            assert r.status == 200
            assert [a["name"] for a in await r.json()] == [ASSOC_B]


async def test_admin_console_is_hidden_from_everyone_else(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        for who in ("dhead", "head_a", "deputy_a"):
            async with client() as http:
                csrf = await login(http, w, who)
                async with http.get(f"{w.url}/admin") as r:
                    assert r.status == 404
                async with http.post(f"{w.url}/admin/tokens", data={"csrf": csrf, "role": "city_admin",
                                                                    "scope": "city"}) as r:
                    assert r.status == 404
        async with client() as http, http.get(f"{w.url}/admin", headers={
                "Authorization": f"Bearer {w.tokens['admin']}"}) as r:
            assert r.status == 404  # an API token is not a person at the console


async def test_admin_gives_a_new_deputy_contacts_of_any_roster_column(tmp_path: Path) -> None:
    """One field per channel that owns a roster column; read as the column is; a wrong one is a 400
    naming the field, and nothing is added."""
    async with world(tmp_path) as w, client() as http:
        csrf = await login(http, w, "admin")
        async with http.get(f"{w.url}/admin") as r:
            page = await r.text()
        assert 'name="contact_phone"' in page and 'name="contact_landline"' in page and 'name="contact_telegram"' in page
        data = {"csrf": csrf, "login": "fuku2", "display_name": "副会長 二", "role": "deputy",
                "scope": f"association:{ASSOC_A}", "password": "", "contact_telegram": "8880002"}
        async with http.post(f"{w.url}/admin/staff", data={**data, "contact_phone": "03-1234-5678"}) as r:
            assert r.status == 400 and "携帯電話" in await r.text()
        assert "fuku2" not in [s.login for s in await w.store.auth.list_staff()]
        async with http.post(f"{w.url}/admin/staff", data={**data, "contact_phone": "090-1234-5678"}) as r:
            assert r.status == 200
        added = {s.login: s for s in await w.store.auth.list_staff()}["fuku2"]
        assert added.contacts == (("mobile", "+819012345678"), ("telegram", "8880002"))


async def test_admin_changes_a_heads_alert_contacts_without_remaking_the_account(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        csrf = await login(http, w, "admin")
        found = await w.store.auth.staff_by_login("head_a")
        assert found is not None
        head = found[0]
        base = {"csrf": csrf, "login": "head_a"}
        async with http.post(f"{w.url}/admin/staff/contacts", data={**base, "contact_phone": "090-1111-2222",
                                                                    "contact_telegram": "4242"}) as r:
            assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
            page = await r.text()
        assert "head_a の連絡先を変更しました" in page
        assert "…2222" in page and "1111" not in page  # the console shows enough to recognise, not to copy
        alerted = await w.store.auth.staff_for_association(ASSOC_A, "桜地区")
        mine = next(s for s in alerted if s.login == "head_a")
        assert set(mine.contacts) >= {("mobile", "+819011112222"), ("telegram", "4242")}

        # a new phone replaces the old one; Telegram, not named, stays
        async with http.post(f"{w.url}/admin/staff/contacts", data={**base, "contact_phone": "080-3333-4444"}) as r:
            assert r.status == 200
        contacts = (await w.store.auth.staff_by_id(head.id)).contacts  # type: ignore[union-attr]
        assert ("mobile", "+818033334444") in contacts and ("mobile", "+819011112222") not in contacts
        assert ("telegram", "4242") in contacts

        # a number that is not one: 400 naming the field, nothing changed (the other field neither)
        async with http.post(f"{w.url}/admin/staff/contacts?lang=en",
                             data={**base, "contact_phone": "12", "clear_telegram": "1"}) as r:
            assert r.status == 400 and "Mobile" in await r.text()
        assert (await w.store.auth.staff_by_id(head.id)).contacts == contacts  # type: ignore[union-attr]

        # a ticked box removes that kind; nothing filled nor ticked is refused
        async with http.post(f"{w.url}/admin/staff/contacts", data={**base, "clear_telegram": "1"}) as r:
            assert r.status == 200
        contacts = (await w.store.auth.staff_by_id(head.id)).contacts  # type: ignore[union-attr]
        assert [k for k, _ in contacts if k == "telegram"] == [] and ("mobile", "+818033334444") in contacts
        async with http.post(f"{w.url}/admin/staff/contacts", data=base) as r:
            assert r.status == 400
        async with http.post(f"{w.url}/admin/staff/contacts", data={**base, "csrf": "",
                                                                    "contact_phone": "090-5555-6666"}) as r:
            assert r.status == 403
        async with http.post(f"{w.url}/admin/staff/contacts", data={**base, "login": "nobody",
                                                                    "contact_phone": "090-5555-6666"}) as r:
            assert r.status == 404
        assert (await w.store.auth.staff_by_id(head.id)).contacts == contacts  # type: ignore[union-attr]
        async with client() as other:  # the head's own account is what it was: same login, same password
            await login(other, w, "head_a")
            async with other.post(f"{w.url}/admin/staff/contacts",
                                  data={"csrf": csrf, "login": "head_a", "contact_phone": "090-5555-6666"}) as r:
                assert r.status in (403, 404)  # not a city admin
        await w.app[AUDIT].flush()  # type: ignore[index]
        got = [(e.what, e.detail) for e in await w.store.audit.entries() if e.action == "staff"]
    # which kinds changed is on record; the numbers themselves are not
    assert got == [("contacts", "head_a mobile,telegram"), ("contacts", "head_a mobile"),
                   ("contacts", "head_a telegram")]


async def test_a_heads_lost_phone_replaced_on_admin_gets_none_of_the_alerts_waiting_for_it(tmp_path: Path) -> None:
    """Review: a deputy lost her phone and the admin replaced its number here; the help alerts still
    queued, or waiting to retry, went to the lost phone with a household's name, address and phones."""
    clock = FakeClock()
    async with world(tmp_path, clock) as w, client() as http:
        csrf = await login(http, w, "admin")
        found = await w.store.auth.staff_by_login("deputy_a")
        assert found is not None
        deputy = found[0].id
        await w.store.auth.set_staff_contacts(deputy, {"mobile": "+819011112222", "telegram": "4242"})
        link = f"{w.url}/a/{w.assoc_ids[ASSOC_A]}"
        now = w.clock.now()
        await w.store.outbox.queue_staff([StaffAlert(w.campaign_id, deputy, "sms", "+819011112222", "山田 桜町1-1", link),
                                          StaffAlert(w.campaign_id, deputy, "telegram", "4242", "山田 桜町1-1", link)],
                                         now)
        await w.store.outbox.queue_staff([StaffAlert(w.campaign_id, deputy, "sms", "+819011112222", "later", link)],
                                         now + 60)  # as one waiting to retry
        async with http.post(f"{w.url}/admin/staff/contacts",
                             data={"csrf": csrf, "login": "deputy_a", "contact_phone": "080-3333-4444"}) as r:
            assert r.status == 200
        await clock.advance(60)
        assert await w.store.outbox.claim_staff("sms", 10, "w1", 60) == []  # the lost phone gets nothing
        (tg,) = await w.store.outbox.claim_staff("telegram", 10, "w1", 60)
        assert tg.address == "4242"  # a contact the change left as it was still hears
        counts = await w.store.campaigns.delivery_counts(w.campaign_id)
        assert counts[(STAFF_STEP, "sms", "skipped")] == 2


async def test_with_the_store_failing_staff_read_a_staff_page_and_residents_keep_theirs(tmp_path: Path) -> None:
    """QA: with the database failing, the login, /city's console and the admin page answered the residents'
    page (「…命に関わるときは、すぐに119番へ電話してください」) to staff. Staff read that the database
    cannot be reached, that the answers recorded are kept, to try again and to tell the IT operator; a
    resident's page (the reply page) keeps its 119."""
    from dashboard_fixtures import SECRET
    from store_helpers import break_writes

    from safetynet.replies.tokens import reply_token

    def staff_failure(page: str) -> None:
        assert "データベースに接続できません" in page and "消えずに残っています" in page
        assert "システムの担当者" in page and "The database cannot be reached" in page
        assert page.index("データベースに接続できません") < page.index("The database cannot be reached")
        assert "119" not in page and "ただいまご利用になれません" not in page

    async with world(tmp_path) as w, client() as http, client() as other:
        csrf = await login(http, w, "admin")
        token = await _form_token(other, w)
        await break_writes(w.store, True)
        try:
            async with other.post(f"{w.url}/login", data={"csrf": token, "login": "head_a",
                                                          "password": password("head_a")}) as r:
                assert r.status == 503 and r.headers["Retry-After"] == "30"
                page = await r.text()
            staff_failure(page)
            assert '<a href="/login">もう一度開く</a>' in page
            drill = {"csrf": csrf, "kind": "drill", "title": "町会訓練", "message_ja": "訓練です。", "message_en": "",
                     "scope": f"association:{ASSOC_A}"}
            async with http.post(f"{w.url}/city/campaigns/start", data=drill) as r:
                assert r.status == 503
                page = await r.text()
            staff_failure(page)
            # the form's page, not its POST-only action, and what was typed comes back there (keep.js)
            assert '<a href="/city#kept">もう一度開く</a>' in page
            async with http.post(f"{w.url}/admin/staff", data={"csrf": csrf, "login": "deputy_new", "name": "新",
                                                               "role": "deputy", "scope": f"association:{ASSOC_A}",
                                                               "password": "a long enough passphrase 1"}) as r:
                assert r.status == 503
                staff_failure(await r.text())
            async with http.get(f"{w.url}/city") as r:
                assert r.status == 200  # reads still work: the overview is there to watch
            # a resident on the reply page keeps the residents' words, 119 among them
            link = f"{w.url}/r/{reply_token(SECRET, w.campaign_id, w.hh('A-001').id)}"
            async with http.post(link, data={"status": "need_help", "k": "down-1"}) as r:
                assert r.status == 503
                page = await r.text()
            assert "ただいまご利用になれません" in page and "119" in page and "データベースに接続できません" not in page
            async with http.post(f"{w.url}/api/campaigns/{w.campaign_id}/close", json={},
                                 headers={"Authorization": f"Bearer {w.tokens['admin']}"}) as r:
                assert r.status == 503 and r.content_type == "application/json"  # the API keeps its JSON
        finally:
            await break_writes(w.store, False)
        async with other.post(f"{w.url}/login", data={"csrf": token, "login": "head_a",
                                                      "password": password("head_a")}, allow_redirects=False) as r:
            assert r.status == 303


def test_the_failure_page_is_the_staffs_on_staff_paths_only() -> None:
    from safetynet.web.app import staff_page

    for path in ("/", "/login", "/logout", "/a/3", "/a/3/doorknock", "/city", "/city/campaigns/start", "/city/letters",
                 "/admin", "/admin/staff", "/campaigns/4/report"):
        assert staff_page(path), path
    for path in ("/r/abc", "/r/", "/join", "/join/ABCD/sms", "/c/abc", "/sw.js", "/static/base.css", "/icons/icon-192.png",
                 "/cap/feed.atom", "/healthz", "/anything-else"):
        assert not staff_page(path), path


async def test_a_fault_on_a_staff_page_is_the_staffs_failure_page(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Another failure than the store's (a 500): the staff's words for it, not the residents' 119."""
    async with world(tmp_path) as w, client() as http:
        await login(http, w, "admin")

        async def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("a fault")

        monkeypatch.setattr(w.store.dashboard, "campaigns_for", broken)
        async with http.get(f"{w.url}/city?lang=en") as r:
            assert r.status == 500 and "Retry-After" not in r.headers
            page = await r.text()
        assert "サーバーでエラーが起きました" in page and "The server ran into an error" in page
        assert "消えずに残っています" in page and "119" not in page and "a fault" not in page
        assert '<a href="/city?lang=en">もう一度開く</a>' in page

"""What the admin console, the letters page and the report refuse is said in the page's language, from the
catalogs, on the console's refusal page: never an English text/plain body ("unknown scope", "format must be
html, csv or json") on a Japanese page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from dashboard_fixtures import ASSOC_A, client, login, world

from safetynet.roster.codes import MissingSecretKey
from safetynet.web import letters_page
from safetynet.web.audit_api import AUDIT


def refusal(page: str) -> list[str]:
    """The reasons a refusal page gives."""
    return re.findall(r'<p role="alert" class="error">([^<]*)</p>', page)


async def test_the_admin_console_refuses_a_role_and_scope_in_the_pages_language(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        csrf = await login(http, w, "admin")
        staff = {"csrf": csrf, "login": "fuku1", "display_name": "副会長 一", "role": "deputy",
                 "scope": f"association:{ASSOC_A}", "password": ""}
        for form, ja, en in (
                ({**staff, "scope": "city"}, "副会長・班長の対象には町会を選んでください（選んだのは「市全体」です）。",
                 "role deputy needs scope association:NAME, got city"),
                ({**staff, "scope": "association:無い町会"},
                 "名簿に「町会: 無い町会」がありません。ページを読み込み直して選んでください。",
                 "unknown scope: association:無い町会"),
                ({**staff, "role": "mayor"}, "役割は一覧の中から選んでください。", "Choose the role from the list offered."),
                ({**staff, "scope": "town:x"}, "範囲は一覧の中から選んでください。", "Choose the scope from the list offered."),
                ({**staff, "login": " "}, "ログイン名を入力してください。", "login is required")):
            async with http.post(f"{w.url}/admin/staff?lang=ja", data=form) as r:  # ?lang= is remembered
                assert r.status == 400 and r.content_type == "text/html"
                page = await r.text()
            assert '<html lang="ja"' in page and "<h1>エラー</h1>" in page and 'href="/admin"' in page
            assert refusal(page) == [ja], form
            async with http.post(f"{w.url}/admin/staff?lang=en", data=form) as r:
                assert r.status == 400
                page = await r.text()
            assert refusal(page) == [en], form
        assert await w.store.auth.staff_by_login("fuku1") is None
        tokens = await w.store.auth.list_api_tokens()
        async with http.post(f"{w.url}/admin/tokens?lang=ja", data={"csrf": csrf, "role": "district_head",
                                                            "scope": f"association:{ASSOC_A}"}) as r:
            assert r.status == 400
            assert refusal(await r.text()) == [
                f"地区長の対象には地区を選んでください（選んだのは「町会: {ASSOC_A}」です）。"]
        assert await w.store.auth.list_api_tokens() == tokens


async def test_no_one_who_starts_or_approves_campaigns_is_added_on_the_admin_page(tmp_path: Path) -> None:
    """Review: one city admin added a second city-admin account on this page (or a district head, who may
    start a real event in their district), signed in as it and approved their own real event. Those roles
    are added at the server by the operator; the form offers the rest, and a refused add is in the audit log."""
    async with world(tmp_path) as w, client() as http:
        csrf = await login(http, w, "admin")
        async with http.get(f"{w.url}/admin?lang=ja") as r:
            page = await r.text()
        form = page[page.index('action="/admin/staff"'):page.index("</form>", page.index('action="/admin/staff"'))]
        assert 'value="city_admin"' not in form and 'value="district_head"' not in form and 'value="deputy"' in form
        assert "サーバーで運用担当者が safetynet staff add で追加します" in form
        for role, scope in (("city_admin", "city"), ("district_head", "district:桜地区")):
            async with http.post(f"{w.url}/admin/staff?lang=ja", data={
                    "csrf": csrf, "login": "second", "display_name": "二人目", "role": role, "scope": scope,
                    "password": ""}) as r:
                assert r.status == 403
                assert refusal(await r.text()) == [
                    "市の管理者と地区長（安否確認を開始・承認する役割）は、サーバーで運用担当者が safetynet staff add で"
                    "追加します。実災害の送信には二人が必要なため、ここでは追加できません"]
        assert await w.store.auth.staff_by_login("second") is None
        await w.app[AUDIT].flush()  # type: ignore[index]
        refused = [(e.actor, e.what, e.detail) for e in await w.store.audit.entries() if e.action == "staff"]
        assert refused == [("admin", "add_refused", "second city_admin"), ("admin", "add_refused", "second district_head")]


async def test_a_reports_unknown_format_is_said_in_the_pages_language(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        await login(http, w, "admin")
        base = f"{w.url}/campaigns/{w.campaign_id}/report"
        async with http.get(f"{base}?format=pdf") as r:
            assert r.status == 400 and r.content_type == "text/html"
            page = await r.text()
        assert '<html lang="ja"' in page and refusal(page) == ["形式は html、csv、json のいずれかを指定してください。"]
        async with http.get(f"{base}?format=xml&lang=en") as r:
            assert r.status == 400 and refusal(await r.text()) == ["format must be html, csv or json"]


async def test_letters_without_a_secret_key_are_said_in_the_pages_language(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_key(*args: Any, **kwargs: Any) -> list[str]:
        raise MissingSecretKey("no secret key: run `safetynet init` or set SAFETYNET_SECRET_KEY")

    monkeypatch.setattr(letters_page, "write_letters", no_key)
    async with world(tmp_path) as w, client() as http:
        csrf = await login(http, w, "admin")
        form = {"csrf": csrf, "scope": f"association:{ASSOC_A}", "format": "html"}
        async with http.post(f"{w.url}/city/letters", data=form) as r:
            assert r.status == 503 and r.content_type == "text/html"
            page = await r.text()
        assert 'href="/city/letters"' in page
        assert refusal(page) == ["秘密鍵が設定されていないため、手紙を作れません。サーバーで `safetynet init` を実行してください。"]
        async with http.post(f"{w.url}/city/letters?lang=en", data=form) as r:
            assert r.status == 503 and refusal(await r.text()) == ["no secret key: run `safetynet init`"]

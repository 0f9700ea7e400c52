"""What the campaign console refuses is said in the page's language, from the catalogs: never the
broadcast service's English on a Japanese page ("campaign 12 is closed; …", as it was)."""

from __future__ import annotations

import re
from pathlib import Path

from dashboard_fixtures import ASSOC_A, client, login, world

from safetynet.broadcast.service import CampaignService


def refusal(page: str) -> list[str]:
    """The reasons a refusal page gives."""
    return re.findall(r'<p role="alert" class="error">([^<]*)</p>', page)


async def test_a_refused_close_says_why_in_the_pages_language(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        w.svc.campaigns = CampaignService(w.store, w.cfg, w.clock)
        csrf = await login(http, w, "admin")
        cid = w.campaign_id
        async with http.post(f"{w.url}/city/campaigns/{cid}/close", data={"csrf": csrf, "really": "1"},
                             allow_redirects=False) as r:
            assert r.status == 303
        async with http.post(f"{w.url}/city/campaigns/{cid}/close", data={"csrf": csrf, "really": "1"}) as r:
            assert r.status == 409
            page = await r.text()
        assert '<html lang="ja"' in page and "<h1>エラー</h1>" in page
        assert refusal(page) == [f"安否確認 {cid} の状態は「終了」です。終了できるのは実施中の安否確認だけです。"]
        async with http.post(f"{w.url}/city/campaigns/{cid}/cancel?lang=en", data={"csrf": csrf, "really": "1"}) as r:
            assert r.status == 409
            assert refusal(await r.text()) == [f"campaign {cid} is closed; it can no longer be cancelled"]


async def test_the_confirmation_box_is_asked_for_in_the_pages_language(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        w.svc.campaigns = CampaignService(w.store, w.cfg, w.clock)
        csrf = await login(http, w, "admin")
        for path in (f"/city/campaigns/{w.campaign_id}/close", f"/city/campaigns/{w.campaign_id}/cancel"):
            async with http.post(f"{w.url}{path}?lang=ja", data={"csrf": csrf}) as r:  # ?lang= is remembered
                assert r.status == 400 and r.content_type == "text/html"
                assert refusal(await r.text()) == ["確認の印を付けてから、もう一度押してください。"]
            async with http.post(f"{w.url}{path}?lang=en", data={"csrf": csrf}) as r:
                assert r.status == 400
                assert refusal(await r.text()) == ["Tick the confirmation box, then press the button again."]
        async with http.post(f"{w.url}/city/campaigns/check?lang=en", data={"csrf": csrf, "scope": "district:無い地区",
                                                                    "really": "1"}) as r:
            assert r.status == 400 and refusal(await r.text()) == ["Choose the scope from the list offered."]
        async with http.post(f"{w.url}/city/campaigns/check?lang=ja", data={"csrf": csrf, "scope": "city"}) as r:
            assert r.status == 400
            assert refusal(await r.text()) == ["選んだ範囲のすべての連絡先に、すぐ送ります。送ったメッセージは取り消せません。"]
        running = await w.store.campaigns.get(w.campaign_id)
        assert running is not None and running.state == "running"  # nothing was done
        assert [c for c in await w.store.campaigns.list_campaigns() if c.kind == "check"] == []


async def test_the_start_forms_problems_each_in_the_pages_language(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        w.svc.campaigns = CampaignService(w.store, w.cfg, w.clock)
        csrf = await login(http, w, "admin")
        bad = {"csrf": csrf, "kind": "drill", "title": "訓練\n二行目", "message_ja": "訓練です。",
               "message_en": "Drill\u202e", "scope": f"association:{ASSOC_A}"}
        async with http.post(f"{w.url}/city/campaigns/start", data=bad) as r:
            assert r.status == 400
            assert refusal(await r.text()) == [
                "件名: 3 文字目に U+000A (LF) が入っています。件名は改行や目に見えない文字のない1行にしてください",
                "本文（English）: 6 文字目に目に見えない制御文字 U+202E (RIGHT-TO-LEFT OVERRIDE) が入っています。削除してください"]
        async with http.post(f"{w.url}/city/campaigns/preview?lang=en", data={**bad, "title": ""}) as r:
            assert r.status == 400 and refusal(await r.text()) == ["A kind, a title and a Japanese message are required."]
        async with http.post(f"{w.url}/city/campaigns/preview?lang=ja", data={**bad, "title": ""}) as r:
            assert r.status == 400 and refusal(await r.text()) == ["種類、件名、日本語の本文を入力してください。"]


async def test_the_start_form_comes_back_with_what_was_typed(tmp_path: Path) -> None:
    """A long message typed at 3 a.m. and a title refused: the form is on the refusal page again, filled in,
    to mend and preview once more (the page's link back used to open an empty form)."""
    async with world(tmp_path) as w, client() as http:
        w.svc.campaigns = CampaignService(w.store, w.cfg, w.clock)
        csrf = await login(http, w, "admin")
        message = "震度6弱の地震がありました。<b>第一小学校</b>へ避難してください。" * 5
        typed = {"csrf": csrf, "kind": "real", "title": "地震", "message_ja": message,
                 "message_en": "Go to school No. 1 & stay there.", "scope": f"association:{ASSOC_A}"}
        async with http.post(f"{w.url}/city/campaigns/preview", data=typed) as r:
            assert r.status == 400
            page = await r.text()
        assert refusal(page) == ["件名: 3 文字目に U+0007 (control character) が入っています。件名は改行や目に見えない文字のない1行にしてください"]
        form = page[page.index('action="/city/campaigns/preview"'):]
        assert 'name="title" required maxlength="120" value="地震"' in form
        assert f'name="message_ja" required maxlength="1000" rows="3">{message.replace("<", "&lt;").replace(">", "&gt;")}</textarea>' in form
        assert ">Go to school No. 1 &amp; stay there.</textarea>" in form
        assert 'value="real" checked' in form and f'value="association:{ASSOC_A}" selected' in form
        assert f'name="csrf" value="{csrf}"' in form


async def test_a_second_contact_check_of_the_same_scope_asks_once_more(tmp_path: Path) -> None:
    """It showed the service's English sentence, with no way to start it anyway."""
    async with world(tmp_path) as w, client() as http:
        w.svc.campaigns = CampaignService(w.store, w.cfg, w.clock)
        csrf = await login(http, w, "admin")
        check = {"csrf": csrf, "scope": f"association:{ASSOC_A}", "really": "1"}
        async with http.post(f"{w.url}/city/campaigns/check", data=check, allow_redirects=False) as r:
            assert r.status == 303
            first = int(r.headers["Location"].rsplit("=", 1)[1])
        async with http.post(f"{w.url}/city/campaigns/check", data=check, allow_redirects=False) as r:
            assert r.status == 409
            page = await r.text()
        assert "同じ配信が実施中です" in page and f'href="/city?campaign={first}"' in page
        assert 'action="/city/campaigns/check"' in page and 'name="force"' in page
        assert "same scenario" not in page
        again = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page))
        assert again["scope"] == f"association:{ASSOC_A}" and again["really"] == "1"
        async with http.post(f"{w.url}/city/campaigns/check", data={**again, "force": "1"},
                             allow_redirects=False) as r:
            assert r.status == 303
        checks = [c for c in await w.store.campaigns.list_campaigns() if c.kind == "check"]
        assert len(checks) == 2

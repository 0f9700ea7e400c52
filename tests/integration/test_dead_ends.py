"""A reply link or enrolment code that leads nowhere says what to do and whom to call."""

from __future__ import annotations

from pathlib import Path

from replies_fixtures import enrolment_code, running_app

PHONE = "03-1234-5678"


async def test_a_bad_reply_link_says_what_to_do_and_the_number_to_call(tmp_path: Path) -> None:
    async with running_app(tmp_path, SAFETYNET_CITY_CONTACT_PHONE=PHONE) as env:
        async with env.http.get(f"{env.url}/r/not-a-token-at-all-really") as resp:
            assert resp.status == 404
            page = await resp.text()
    assert "このリンクは無効か、受付を終了しました。" in page
    assert "最新のリンク" in page  # what to do next, in Japanese
    assert "Open the newest link" in page  # and in English
    assert f'href="tel:0312345678">☎ {PHONE}</a>' in page
    assert "さくら市" in page
    assert "町会長か班長" not in page  # with a number, no "ask someone" line


async def test_without_a_number_the_page_says_to_ask_the_association(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        async with env.http.get(f"{env.url}/r/not-a-token-at-all-really") as resp:
            page = await resp.text()
    assert resp.status == 404
    assert "tel:" not in page
    assert "町会長か班長にお聞きください" in page


async def test_a_bad_enrolment_code_offers_to_type_it_again_and_a_number(tmp_path: Path) -> None:
    async with running_app(tmp_path, SAFETYNET_CITY_CONTACT_PHONE=PHONE) as env:
        code = await enrolment_code(env, "A-001")
        async with env.http.get(f"{env.url}/join/WRONG-CODE-0000") as resp:
            assert resp.status == 404
            page = await resp.text()
        assert "登録コードが正しくありません" in page
        assert "打ち間違い" in page
        assert 'action="/join"' in page and 'name="code"' in page
        assert f"☎ {PHONE}" in page
        # the field's form opens the code typed again
        async with env.http.get(f"{env.url}/join", params={"code": code}, allow_redirects=False) as resp:
            assert resp.status == 303
            assert resp.headers["Location"].startswith("/join/")
        async with env.http.get(f"{env.url}/join", params={"code": code}) as resp:
            assert resp.status == 200
            assert 'id="channels"' in await resp.text()
        async with env.http.get(f"{env.url}/join", params={"code": ""}) as resp:
            # nothing typed yet: the field to type it, with no word of a wrong code (test_glued_links)
            assert resp.status == 200 and "登録コードが正しくありません" not in await resp.text()

"""The join page as an installable web app: its manifest, its icons, and the iPhone steps by User-Agent."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from replies_fixtures import enrolment_code, running_app

from safetynet.web.pwa import is_ios

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
ANDROID = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and zlib.crc32(data[12:16 + length]) == struct.unpack(">I", data[16 + length:20 + length])[0]
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_each_household_gets_a_manifest_that_opens_its_own_page(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        code = await enrolment_code(env, "A-001")
        async with env.http.get(f"{env.url}/join/{code}/manifest.webmanifest") as r:
            assert r.status == 200 and r.content_type == "application/manifest+json"
            m = await r.json(content_type=None)
        assert (m["display"], m["scope"], m["lang"]) == ("standalone", "/", "ja")
        assert m["name"] == "さくら市 安否確認" and m["short_name"] == "安否確認"
        assert m["start_url"] == f"/join/{code}?lang=ja&source=homescreen"
        assert {i["sizes"] for i in m["icons"]} == {"192x192", "512x512"}
        assert any(i["purpose"] == "maskable" for i in m["icons"])
        # typed loosely (as on a letter) it still names the grouped code; English for English pages
        loose = code.replace("-", "").lower()
        async with env.http.get(f"{env.url}/join/{loose}/manifest.webmanifest?lang=en") as r:
            m = await r.json(content_type=None)
        assert m["start_url"] == f"/join/{code}?lang=en&source=homescreen" and m["short_name"] == "Safety check"
        for bad in ("not-a-code", "K7QM-4XPA-93TF", "%00"):
            async with env.http.get(f"{env.url}/join/{bad}/manifest.webmanifest") as r:
                assert r.status == 404


async def test_icons_are_pngs_of_their_size(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        for size in (180, 192, 512):
            async with env.http.get(f"{env.url}/icons/icon-{size}.png") as r:
                assert r.status == 200 and r.content_type == "image/png"
                assert _png_size(await r.read()) == (size, size)
        for bad in ("100", "abc", "1920"):
            async with env.http.get(f"{env.url}/icons/icon-{bad}.png") as r:
                assert r.status == 404


async def test_the_join_page_links_its_manifest_and_tells_iphones_to_add_it_first(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        code = await enrolment_code(env, "A-001")
        pages = {}
        for ua in (IPHONE, ANDROID):
            async with env.http.get(f"{env.url}/join/{code}", headers={"User-Agent": ua}) as r:
                pages[ua] = await r.text()
        for page in pages.values():
            assert f'<link rel="manifest" href="/join/{code}/manifest.webmanifest?lang=ja">' in page
            assert '<link rel="apple-touch-icon" href="/icons/icon-180.png">' in page
            assert '<meta name="apple-mobile-web-app-capable" content="yes">' in page
        assert '<section class="step" id="iphone"><h2>' in pages[IPHONE] and "ホーム画面に追加" in pages[IPHONE]
        assert '<section class="step" id="iphone" hidden>' in pages[ANDROID]
        async with env.http.get(f"{env.url}/join/{code}?lang=ja-easy", headers={"User-Agent": IPHONE}) as r:
            assert "ホームがめんに ついか" in await r.text()


def test_ios_is_told_by_its_user_agent() -> None:
    assert is_ios(IPHONE) and is_ios("Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X)")
    assert not is_ios(ANDROID) and not is_ios("") and not is_ios("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4)")

"""HTML enrolment letters as Chromium prints them: one A4 page each, every QR code decoding to its join URL."""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path

import pytest
from browser import artifact, browser, pdf
from pg_helpers import store_env
from roster_helpers import EN, SECRET_KEY, create_store, csv_bytes, row

from safetynet import cli
from safetynet.config import load_config

pytestmark = [pytest.mark.browser]

PUBLIC = "https://bousai.sakura.example.jp"


def _run(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()


async def test_html_letters_print_one_page_each_and_their_qr_codes_decode(tmp_path: Path) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "secret.key").write_text(SECRET_KEY, encoding="utf-8")
    config = tmp_path / "config.toml"
    config.write_text(f'[server]\npublic_url = "{PUBLIC}"\n[store]\npath = "var/x.db"\n', encoding="utf-8")
    households = [row(household=str(i), name=n, language=lang)
                  for i, (n, lang) in enumerate([("佐藤 一郎", "ja"), ("Emily Brown", "en"), ("Tran Thi Mai", "vi")], 1)]
    (tmp_path / "roster.csv").write_bytes(csv_bytes(EN, households))
    await create_store(load_config(config, env=store_env()))
    # the command runs its own event loop: in a thread beside this test's
    assert await asyncio.to_thread(cli.main, ["--config", str(config), "roster", "import", str(tmp_path / "roster.csv")]) == 0
    out = tmp_path / "letters.html"
    assert await asyncio.to_thread(cli.main, ["--config", str(config), "roster", "letters", "--output", str(out)]) == 0
    printed = re.findall(re.escape(PUBLIC) + r"/join/[0-9A-Z-]{19}", out.read_text(encoding="utf-8"))
    urls = list(dict.fromkeys(printed))
    assert len(urls) == 3

    async with browser() as b:
        page = await b.new_page(viewport={"width": 900, "height": 1200})
        await page.goto(out.as_uri())
        decoded = []
        for i, letter in enumerate(await page.locator("section.letter").all()):
            shot = tmp_path / f"qr-{i}.png"
            await letter.locator(".qr").screenshot(path=str(shot))
            decoded.append(await asyncio.to_thread(_run, "zbarimg", "--raw", "-q", str(shot)))
        assert decoded == urls  # each letter's QR code is the URL printed on it, in letter order
        printed_pdf = await pdf(page, "letters-html")
    info = await asyncio.to_thread(_run, "pdfinfo", str(printed_pdf))
    assert re.search(r"^Pages:\s+3$", info, re.M), info  # one A4 page per household
    assert "(A4)" in info
    assert artifact("letters-html.pdf").exists()

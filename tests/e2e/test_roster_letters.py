"""Enrolment letters: one A4 page per household in its language, its QR code decoding back to its join URL."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import re
import stat
import subprocess
from pathlib import Path

import pytest
from pg_helpers import store_env
from roster_helpers import EN, SECRET_KEY, csv_bytes, make_config, new_city, row

from safetynet import cli
from safetynet.channels import registry
from safetynet.config import Config, load_config
from safetynet.roster.codes import hash_code, join_url, normalize_code
from safetynet.roster.letters import wrap
from safetynet.roster.pdfstream import Canvas, PdfStream, text_width
from safetynet.store import store_session

PUBLIC = "https://bousai.city.sakura.lg.jp"  # a city's own address: the letters are real (no 見本)
KEY = SECRET_KEY
HOUSEHOLDS = [
    row(association="東町会", group="1班", household="1", name="佐藤 一郎", language="ja"),
    row(association="東町会", group="1班", household="2", name="Emily Brown", language="en"),
    row(association="東町会", group="2班", household="3", name="Nguyen Van An", language="vi"),
    row(association="東町会", group="2班", household="4", name="鈴木 花子", language="ja-easy", phone=""),
    row(association="西町会", group="1班", household="1", name="高橋 三郎", language="ja"),
]
TITLES = {"佐藤 一郎": "登録のお願い", "Emily Brown": "Please register", "Nguyen Van An": "とうろくの おねがい",
          "鈴木 花子": "とうろくの おねがい", "高橋 三郎": "登録のお願い"}  # fmt: skip


@pytest.fixture
def city(tmp_path: Path) -> Path:
    """A config with a public URL and a key, and a roster of five households (one English, two easy Japanese)."""
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "secret.key").write_text(KEY, encoding="utf-8")
    (tmp_path / "config.toml").write_text(
        f'[server]\npublic_url = "{PUBLIC}"\n[store]\npath = "var/x.db"\n[city]\nname = "さくら市"\n', encoding="utf-8")
    (tmp_path / "roster.csv").write_bytes(csv_bytes(EN, HOUSEHOLDS))
    new_city(tmp_path / "config.toml")
    assert cli.main(["--config", str(tmp_path / "config.toml"), "roster", "import", str(tmp_path / "roster.csv")]) == 0
    return tmp_path


def _cfg(city: Path) -> Config:
    return load_config(city / "config.toml", env=store_env())  # the store the command line used


def _run(city: Path, *args: str) -> int:
    return cli.main(["--config", str(city / "config.toml"), "roster", "letters", *args])


def _pages(pdf: Path, tmp: Path) -> list[tuple[str, list[str]]]:
    """(text, decoded QR codes) of each page: rasterised by poppler, read back by zbar."""
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    subprocess.run(["pdftoppm", "-r", "110", "-gray", "-png", str(pdf), str(tmp / "page")], check=True)
    out = []
    for n in range(1, pages + 1):
        image = next(tmp.glob(f"page-{n:0{len(str(pages))}d}.png"))
        found = subprocess.run(["zbarimg", "--raw", "-q", str(image)], capture_output=True, text=True)
        text = subprocess.run(["pdftotext", "-f", str(n), "-l", str(n), "-layout", str(pdf), "-"],
                              capture_output=True, text=True, check=True).stdout
        out.append((text, found.stdout.split()))
    return out


async def _household_of(cfg: Config, url: str) -> str:
    code = url.rsplit("/join/", 1)[1]
    async with store_session(cfg) as store:
        h = await store.roster.household_by_code_hash(hash_code(code, KEY))
    return h.name if h else ""


def test_a_pdf_of_letters_decodes_back_to_each_households_join_url(city: Path, tmp_path: Path) -> None:
    out = city / "letters.pdf"
    assert _run(city, "--output", str(out)) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # the codes are secrets
    assert not list(city.glob(".*.partial"))
    (tmp_path / "pages").mkdir()
    pages = _pages(out, tmp_path / "pages")
    assert len(pages) == len(HOUSEHOLDS)
    cfg = _cfg(city)
    seen = []
    for text, urls in pages:
        assert len(urls) == 1, text
        url = urls[0]
        assert url.startswith(f"{PUBLIC}/join/")
        code = url.rsplit("/", 1)[1]
        assert url == join_url(PUBLIC, code)
        # the code printed on the page is the one in its QR code, and it opens this very household
        assert code in text.replace("‑", "-")
        name = asyncio.run(_household_of(cfg, url))
        assert name and name.split()[-1] in text, (name, text)
        assert TITLES[name] in text.replace("  ", " "), (name, text)
        seen.append(name)
    # letter order: association, group, household
    assert seen == ["佐藤 一郎", "Emily Brown", "Nguyen Van An", "鈴木 花子", "高橋 三郎"]
    steps = pages[0][0]
    for step in ("通知で受け取る", "ホーム画面に追加", "SMS", "固定電話"):
        assert step in steps.replace(" ", ""), step


def test_codes_are_issued_once_and_reissued_only_with_rotate(city: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _cfg(city)
    first = city / "first.pdf"
    assert _run(city, "--output", str(first), "--scope", "association:東町会") == 0
    (tmp_path / "a").mkdir()
    old = {u for _, urls in _pages(first, tmp_path / "a") for u in urls}
    assert len(old) == 4
    capsys.readouterr()

    # a second run prints only the households still without a code (西町会's)
    again = city / "again.pdf"
    assert _run(city, "--output", str(again)) == 0
    assert "wrote 1 enrolment letters" in capsys.readouterr().out
    assert _run(city, "--output", str(city / "none.pdf")) == 0
    assert "nothing written" in capsys.readouterr().out
    assert not (city / "none.pdf").exists()

    # --rotate: new codes for the scope; the old letters stop working
    rotated = city / "rotated.pdf"
    assert _run(city, "--output", str(rotated), "--scope", "association:東町会", "--rotate") == 0
    assert "no longer work" in capsys.readouterr().out
    (tmp_path / "b").mkdir()
    new = {u for _, urls in _pages(rotated, tmp_path / "b") for u in urls}
    assert len(new) == 4 and not new & old
    assert all(asyncio.run(_household_of(cfg, u)) for u in new)
    assert not any(asyncio.run(_household_of(cfg, u)) for u in old)


def test_html_letters_carry_the_same_content(city: Path) -> None:
    out = city / "letters.html"
    assert _run(city, "--output", str(out), "--scope", "group:東町会/1班") == 0
    text = out.read_text(encoding="utf-8")
    assert text.count('<section class="letter"') == 2
    assert text.count("<svg") == 2
    assert 'lang="en"' in text and "Please register" in text and "登録のお願い" in text
    for code in {line.split("/join/")[1][:19] for line in text.split(PUBLIC)[1:]}:
        normalize_code(code)
    assert "@page { size: A4" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--output", "letters.txt"], "--format pdf or html"),
     (["--output", "x.pdf", "--scope", "association:ない町会"], "unknown association: ない町会"),
     (["--output", "x.pdf", "--scope", "somewhere"], "scope must be"),
     (["--output", "no/such/dir/x.pdf"], "cannot write")],
)  # fmt: skip
def test_bad_requests_say_why_and_issue_nothing(city: Path, args: list[str], message: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    args = [str(city / a) if a.endswith((".pdf", ".txt")) else a for a in args]
    assert _run(city, *args) == 2
    assert message in capsys.readouterr().err
    assert not list(city.rglob("*.partial"))

    async def codes() -> int:
        async with store_session(_cfg(city)) as store:
            return int(await store.roster.db.fetchval("SELECT count(*) FROM enrolment_codes"))

    assert asyncio.run(codes()) == 0


def test_without_a_secret_key_nothing_is_written(city: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (city / "var" / "secret.key").unlink()
    assert _run(city, "--output", str(city / "x.pdf")) == 2
    assert "secret key" in capsys.readouterr().err
    assert not (city / "x.pdf").exists()


# -- the pieces ---------------------------------------------------------------------------------------


def test_lines_break_between_japanese_characters_but_never_before_closing_punctuation() -> None:
    text = "大きな災害が起きたとき、さくら市から「無事ですか」という確認をお送りします。登録は無料です。"
    for width in (60, 90, 130, 200):
        lines = wrap(text, 10, width)
        assert "".join(lines) == text
        assert all(text_width(line, 10) <= width + 10 for line in lines)  # a hanging 、。 may pass the edge
        assert not any(line[0] in "、。」" for line in lines)


def test_latin_breaks_at_spaces_and_a_url_longer_than_a_line_is_cut() -> None:
    lines = wrap("Scan the QR code with your phone's camera", 10, 100)
    assert " ".join(lines) == "Scan the QR code with your phone's camera"
    assert all(not line.startswith(" ") and text_width(line, 10) <= 100 for line in lines)
    url = "https://bousai.sakura.example.jp/join/K7QM-4XPA-93TF-R2DN"
    assert "".join(wrap(url, 10, 120)) == url


def test_the_pdf_stream_writes_a_page_tree_of_many_nodes(tmp_path: Path) -> None:
    path = tmp_path / "many.pdf"
    with path.open("wb") as f:
        pdf = PdfStream(f, title="試験")
        shared = Canvas()
        shared.text(50, 100, 10, "共通の部分")
        pdf.add_form("Shared", shared)
        for i in range(600):  # more than two nodes of 256 pages
            c = Canvas()
            c.text(50, 700, 12, f"ページ {i + 1} 𠮷田")
            c.form("Shared")
            pdf.add_page(c)
        pdf.close()
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
    assert "Pages:           600" in info.stdout and "試験" in info.stdout and not info.stderr
    last = subprocess.run(["pdftotext", "-f", "600", "-l", "600", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout
    # a character outside UCS-2 becomes 〓 rather than garbage; the form is drawn on every page
    assert "ページ 600 〓田" in last and "共通の部分" in last
    buf = io.BytesIO()
    empty = PdfStream(buf)
    empty.close()
    assert buf.getvalue().startswith(b"%PDF-1.4") and buf.getvalue().endswith(b"%%EOF\n")


# -- the page for city admins ---------------------------------------------------------------------------


async def test_city_admins_print_letters_from_the_page_and_nobody_else_can(tmp_path: Path) -> None:
    from dashboard_fixtures import ASSOC_A, client, login, world

    from safetynet.web import letters_page

    async with world(tmp_path) as w, client() as http:
        csrf = await login(http, w, "admin")
        async with http.get(f"{w.url}/city/letters") as r:
            page = await r.text()
            assert r.status == 200 and "登録のご案内（手紙）の印刷" in page and f"association:{ASSOC_A}" in page
        form = {"csrf": csrf, "scope": f"association:{ASSOC_A}", "which": "new", "format": "pdf"}
        async with http.post(f"{w.url}/city/letters", data={**form, "csrf": "wrong"}) as r:
            assert r.status == 403
        async with http.post(f"{w.url}/city/letters", data=form) as r:
            assert r.status == 200 and r.content_type == "application/pdf"
            assert r.headers["Content-Disposition"].startswith('attachment; filename="letters-')
            pdf = await r.read()
        (tmp_path / "dl").mkdir()
        (tmp_path / "dl" / "l.pdf").write_bytes(pdf)
        pages = await asyncio.to_thread(_pages, tmp_path / "dl" / "l.pdf", tmp_path / "dl")
        assert len(pages) == 6  # the association's households, each with one code that opens its household
        for text, urls in pages:
            code = urls[0].rsplit("/join/", 1)[1]
            h = await w.store.roster.household_by_code_hash(hash_code(code, w.cfg.secrets.secret_key))
            assert h is not None and h.association == ASSOC_A and h.name.split()[-1] in text
        # again: every household there has a code now
        async with http.post(f"{w.url}/city/letters", data=form) as r:
            assert r.status == 200 and "すべて登録コードを持っています" in await r.text()
        async with http.post(f"{w.url}/city/letters", data={**form, "which": "rotate", "format": "html"}) as r:
            assert r.status == 200 and r.content_type == "text/html"
            assert (await r.text()).count('<section class="letter"') == 6
        for bad in ({"scope": "association:ない町会"}, {"scope": "nowhere"}, {"format": "docx"}):
            async with http.post(f"{w.url}/city/letters", data={**form, **bad}) as r:
                assert r.status == 400 and "正しくありません" in await r.text()
        letters_page.LETTERS_PER_REQUEST, limit = 3, letters_page.LETTERS_PER_REQUEST
        try:
            async with http.post(f"{w.url}/city/letters", data={**form, "which": "rotate"}) as r:
                assert r.status == 400 and "6世帯は多すぎます" in await r.text()
        finally:
            letters_page.LETTERS_PER_REQUEST = limit

        before = await w.store.roster.db.fetchall("SELECT household_id, code_hash FROM enrolment_codes")
        async with client() as other:
            csrf = await login(other, w, "dhead")
            async with other.get(f"{w.url}/city/letters") as r:
                assert r.status == 404
            async with other.post(f"{w.url}/city/letters", data={"csrf": csrf, "scope": "city"}) as r:
                assert r.status == 404
        async with client() as bot:
            async with bot.post(f"{w.url}/city/letters", data={"scope": "city"},
                                headers={"Authorization": f"Bearer {w.tokens['admin']}"}) as r:
                assert r.status == 404  # staff sign-in only: a letter run is a person's act
        after = await w.store.roster.db.fetchall("SELECT household_id, code_hash FROM enrolment_codes")
        assert [tuple(r) for r in after] == [tuple(r) for r in before]


def test_a_letters_steps_are_the_enabled_channels_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A channel brings its letter steps in its spec (LINE, email once they exist): the letters name no channel."""
    from safetynet.roster.letters import letter_steps

    specs = tuple(dataclasses.replace(s, letter_steps=("email",)) if s.name == "telegram" else s
                  for s in registry.SPECS if s.name != "email")
    monkeypatch.setattr(registry, "SPECS", specs)
    # the free channels' steps first (in the registry's order), then the priced ones'
    assert letter_steps(make_config(tmp_path)) == ("webpush", "iphone", "email", "line", "phone", "landline")


def test_every_step_reads_in_every_letter_language(tmp_path: Path) -> None:
    from safetynet.roster.letters import letter_steps, step_texts, step_values

    every = ("line", "webpush", "iphone", "telegram", "email", "phone", "landline")
    values = step_values(make_config(tmp_path))
    assert values == {"sender": "safetynet@example.jp", "domain": "example.jp"}  # the default from_address
    for lang in ("ja", "ja-easy", "en", "vi"):
        items = step_texts(lang, every, "さくら市", values)
        assert len(items) == len(every) and all(text for _, text in items)
        assert "example.jp" in items[every.index("email")][1] and "safetynet@example.jp" in items[every.index("email")][1]
        assert [bool(title) for title, _ in items] == [True] * 6 + [False]  # landline follows the phone step
    assert step_texts("en", ("line",), "x")[0][0] == "LINE" and "LINE" in step_texts("ja", ("line",), "x")[0][0]
    # the default config: web push (with iPhone's), Telegram, LINE, email, then SMS and calls
    assert letter_steps(make_config(tmp_path)) == ("webpush", "iphone", "telegram", "line", "email", "phone", "landline")
    (tmp_path / "config.toml").write_text("[channels.telegram]\nenabled = false\n[channels.voice]\nenabled = false\n")
    assert letter_steps(load_config(tmp_path / "config.toml", env={})) == ("webpush", "iphone", "line", "email", "phone")


def _pdf_pages(pdf: Path) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return [re.sub(r"\s+", "", page) for page in text.split("\f") if page.strip()]  # lines joined


def test_the_email_step_names_the_sender_a_phone_must_allow(city: Path) -> None:
    """指定受信: a feature phone's carrier mail takes only the senders its owner listed, so the letter names
    the configured From address and its domain, in every letter language (vi reads やさしい日本語)."""
    with (city / "config.toml").open("a", encoding="utf-8") as f:
        f.write('[channels.email]\nfrom_address = "anpi@bousai.sakura.lg.jp"\n')
    assert _run(city, "--output", str(city / "letters.pdf")) == 0
    pages = _pdf_pages(city / "letters.pdf")
    assert len(pages) == len(HOUSEHOLDS)
    for page in pages:
        assert "anpi@bousai.sakura.lg.jp" in page and "safetynet@example.jp" not in page, page
    ja, en, vi, easy, _ = pages
    assert "「bousai.sakura.lg.jp」（差出人anpi@bousai.sakura.lg.jp）" in ja
    assert "domainbousai.sakura.lg.jp(sender:anpi@bousai.sakura.lg.jp)" in en
    assert "「bousai.sakura.lg.jp」（anpi@bousai.sakura.lg.jp）" in vi and "「bousai.sakura.lg.jp」" in easy
    assert _run(city, "--output", str(city / "letters.html"), "--rotate") == 0
    html = (city / "letters.html").read_text(encoding="utf-8")
    assert html.count("「bousai.sakura.lg.jp」（差出人 anpi@bousai.sakura.lg.jp）") == 2  # both 日本語 letters
    assert html.count("anpi@bousai.sakura.lg.jp") == len(HOUSEHOLDS) and "safetynet@example.jp" not in html


def test_without_email_a_letter_says_nothing_of_a_sender(city: Path) -> None:
    with (city / "config.toml").open("a", encoding="utf-8") as f:
        f.write("[channels.email]\nenabled = false\n")
    assert _run(city, "--output", str(city / "letters.html")) == 0
    html = (city / "letters.html").read_text(encoding="utf-8")
    assert html.count('<section class="letter"') == len(HOUSEHOLDS)
    assert "メールで受け取る" not in html and "safetynet@example.jp" not in html and "「example.jp」" not in html


def test_letters_that_cannot_be_handed_out_say_so_on_every_page(city: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """QA printed letters with http://127.0.0.1 in the QR code and the example sender, and nothing said so."""
    config = city / "config.toml"
    config.write_text(config.read_text(encoding="utf-8").replace(PUBLIC, "http://127.0.0.1:8080")
                      + '[channels.email]\nenabled = true\nfrom_address = "safetynet@example.jp"\n', encoding="utf-8")
    out = city / "sample.pdf"
    assert _run(city, "--output", str(out), "--scope", "association:西町会") == 0
    err = capsys.readouterr().err  # in the terminal's language
    assert ("見本" in err or "SAMPLE" in err) and "http://127.0.0.1:8080" in err and "safetynet@example.jp" in err
    ((text, qr),) = _pages(out, tmp_path)
    head = " ".join(text.split()[:6])
    assert head.startswith("【見本・このまま配らないでください】") and qr[0].startswith("http://127.0.0.1:8080/join/")
    html = city / "sample.html"
    assert _run(city, "--output", str(html), "--scope", "association:東町会", "--rotate") == 0
    page = html.read_text(encoding="utf-8")
    assert page.count('<p class="sample" lang="ja">【見本・このまま配らないでください】') == 4


def test_real_letters_carry_no_sample_mark(city: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = city / "config.toml"
    config.write_text(config.read_text(encoding="utf-8")
                      + '[channels.email]\nfrom_address = "bousai@city.sakura.lg.jp"\n', encoding="utf-8")
    out = city / "real.pdf"
    assert _run(city, "--output", str(out), "--scope", "association:西町会") == 0
    assert "見本" not in capsys.readouterr().err
    ((text, _),) = _pages(out, tmp_path)
    assert "見本" not in text

    async def exports() -> list[str]:
        async with store_session(_cfg(city)) as store:
            return [e.detail for e in await store.audit.entries() if e.what == "letters"]

    # the format written, named by the file (QA: the audit log said "None, 10 households")
    assert asyncio.run(exports()) == ["pdf, 1 households, association:西町会"]

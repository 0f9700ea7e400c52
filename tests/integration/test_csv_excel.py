"""Every CSV file opens right in Japanese Excel: UTF-8 with a byte order mark (or CP932 when asked),
Japanese headers by default, and a cell CP932 cannot hold stops the file instead of becoming "?".

Run through the real command line (`safetynet.cli.main`) and the real HTTP route."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path

import pytest
from dashboard_fixtures import ASSOC_A, DIST_S, World, client, index_households, login, start_campaign, world

from safetynet.cli import main
from safetynet.domain.roster import HouseholdRecord

BOM = b"\xef\xbb\xbf"
KANJI_OUTSIDE_CP932 = "𠮷"  # tsuchi-yoshi, common in family names; not in Shift_JIS


def _config(w: World) -> str:
    return str(Path(w.cfg.base_dir) / "config.toml")


async def _cli(w: World, *argv: str) -> int:
    key = w.cfg.data_dir / "secret.key"  # what `safetynet init` leaves for the commands (the world has it in env)
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)  # on PostgreSQL no database file made the folder
        key.write_text(w.cfg.secrets.secret_key, encoding="utf-8")
    return await asyncio.to_thread(main, [*argv, "--config", _config(w)])


def _files(folder: Path, word: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if word in p.name)


def _rows(data: bytes, encoding: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(encoding))))


async def test_reports_open_in_excel_with_japanese_headers_by_default(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        out = tmp_path / "report.csv"
        assert await _cli(w, "campaign", "report", str(w.campaign_id), "--format", "csv", "--output", str(out)) == 0
        data = out.read_bytes()
        assert data.startswith(BOM)
        rows = _rows(data, "utf-8-sig")
        assert rows[0][:4] == ["区分", "地区", "町会", "世帯数"] and rows[1][0] == "全体"
        lists = rows[rows.index([]) + 1:]
        assert lists[0][:7] == ["一覧", "地区", "町会", "班", "世帯番号", "世帯主", "住所"]
        assert "一度も回答のなかった世帯" in {r[0] for r in lists[1:]}

        english = tmp_path / "report-en.csv"
        assert await _cli(w, "campaign", "report", str(w.campaign_id), "--format", "csv", "--output", str(english),
                          "--lang", "en") == 0
        assert _rows(english.read_bytes(), "utf-8-sig")[0][:4] == ["level", "district", "association", "households"]

        sjis = tmp_path / "report-sjis.csv"
        assert await _cli(w, "campaign", "report", str(w.campaign_id), "--format", "csv", "--output", str(sjis),
                          "--encoding", "cp932") == 0
        assert not sjis.read_bytes().startswith(BOM)
        assert _rows(sjis.read_bytes(), "cp932") == rows  # the same table, every header and name intact

        async with client() as http:
            await login(http, w, "admin")
            async with http.get(f"{w.url}/campaigns/{w.campaign_id}/report?format=csv") as r:
                assert r.status == 200 and r.headers["Content-Type"].startswith("text/csv")
                served = await r.read()
        assert served.startswith(BOM) and _rows(served, "utf-8-sig")[0][0] == "区分"


async def test_enrolment_letters_in_cp932_when_asked(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        letters = tmp_path / "letters.csv"
        assert await _cli(w, "roster", "codes", "--output", str(letters), "--encoding", "cp932") == 0
        data = letters.read_bytes()
        assert not data.startswith(BOM)
        rows = _rows(data, "cp932")
        assert rows[0] == ["地区", "町会", "班", "世帯番号", "世帯主", "住所", "登録コード", "登録URL"]
        assert len(rows) == 1 + len(w.households)
        english = tmp_path / "letters-en.csv"
        assert await _cli(w, "roster", "codes", "--output", str(english), "--rotate", "--headers", "en") == 0
        assert english.read_bytes().startswith(BOM)
        assert _rows(english.read_bytes(), "utf-8-sig")[0][:3] == ["district", "association", "group"]


async def test_a_name_cp932_cannot_hold_stops_the_file_and_nothing_is_left(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async with world(tmp_path) as w:
        name = f"{KANJI_OUTSIDE_CP932}田 太郎"
        await w.store.roster.import_households([HouseholdRecord(DIST_S, ASSOC_A, "9班", "A-900", name, "桜町9-9-9", 1)])
        await index_households(w)
        cid = await start_campaign(w, title="全員の訓練")

        report = tmp_path / "report.csv"
        assert await _cli(w, "campaign", "report", str(cid), "--format", "csv", "--output", str(report),
                          "--encoding", "cp932") == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and KANJI_OUTSIDE_CP932 in err and name in err and "utf-8" in err
        assert _files(tmp_path, "report") == []  # no file, no .partial

        letters = tmp_path / "letters.csv"
        assert await _cli(w, "roster", "codes", "--output", str(letters), "--encoding", "cp932") == 1
        err = capsys.readouterr().err
        assert KANJI_OUTSIDE_CP932 in err and "no code was issued" in err
        assert _files(tmp_path, "letters") == []
        assert len(await w.store.roster.code_targets(only_without_code=True)) == len(w.households)

        # UTF-8 (the default) holds every name
        assert await _cli(w, "campaign", "report", str(cid), "--format", "csv", "--output", str(report)) == 0
        assert name in report.read_text(encoding="utf-8-sig")


async def test_an_encoding_is_for_a_csv_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async with world(tmp_path) as w:
        assert await _cli(w, "campaign", "report", str(w.campaign_id), "--format", "csv", "--encoding", "cp932") == 2
        assert await _cli(w, "campaign", "report", str(w.campaign_id), "--format", "html", "--output",
                          str(tmp_path / "r.html"), "--encoding", "cp932") == 2
        assert "--encoding" in capsys.readouterr().err
        assert not (tmp_path / "r.html").exists()

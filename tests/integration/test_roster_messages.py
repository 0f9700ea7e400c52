"""`roster check` and `roster import` name each problem of a file in the terminal's language: Japanese
under a Japanese locale, with the row and the column, English otherwise (QA: the row errors and the
consent warning were English under LANG=ja_JP.UTF-8 while the summary was Japanese)."""

from __future__ import annotations

import asyncio
import codecs
from pathlib import Path

import pytest
from locale_helpers import terminal_locale
from roster_helpers import EN, JA, csv_bytes, make_config, row

from safetynet.cli import main
from safetynet.config import Config
from safetynet.i18n import catalog
from safetynet.roster.csvio import RosterWriteError, parse_bytes, write_roster
from safetynet.store import store_session


def _roster(tmp_path: Path, *argv: str) -> int:
    cfg = make_config(tmp_path)
    if argv[0] != "check":
        asyncio.run(_create_store(cfg))  # as `init` would: the other commands refuse a missing database
    return main(["roster", *argv, "--config", str(tmp_path / "config.toml")])


async def _create_store(cfg: Config) -> None:
    async with store_session(cfg):
        pass


BAD_ROWS = [row(household="1"), row(household="2", members="abc"), row(household="3", vulnerable="たぶん"),
            row(household="1", language="??"), row(household="5", district="南地区", consent="maybe")]


def test_check_names_every_row_error_in_japanese_under_a_japanese_locale(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    terminal_locale(monkeypatch, "ja_JP.UTF-8")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes(JA, BAD_ROWS))
    assert _roster(tmp_path, "check", str(bad)) == 1
    assert capsys.readouterr().err.splitlines() == [
        "3行目・列「人数」: 「abc」は人数（整数）ではありません",
        "4行目・列「要配慮」: 「たぶん」は要配慮の有無として読めません（1/0、yes/no、はい/いいえ、○/×、有/無 のいずれかを"
        "書くか、空欄にしてください）",
        "5行目・列「言語」: 「??」は言語コードとして読めません（ja、やさしい日本語は ja-easy、en、zh、ko、vi、pt、"
        "または pt-BR のような BCP 47 の言語タグを書いてください）",
        "5行目・列「世帯番号」: 町会「東町会」の世帯番号 1 は 2 行目にもあります",
        "6行目・列「同意」: 「maybe」は同意の値として読めません（同意/不同意/条例、yes/no/ordinance のいずれかを書くか、"
        "空欄にしてください。空欄は、以前の名簿で同意を記入した登録済みの世帯ではその同意のまま、それ以外では通常の世帯を同意、"
        "要配慮の世帯を不同意として扱います）",
        "6行目・列「地区」: 町会「東町会」は 2 行目では地区「北地区」になっています",
        f"{bad}: 問題 6 件。このファイルはこのままでは取り込めません",
    ]


def test_check_names_every_row_error_in_english_otherwise(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    terminal_locale(monkeypatch, "C.UTF-8")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes(EN, BAD_ROWS))
    assert _roster(tmp_path, "check", str(bad)) == 1
    assert capsys.readouterr().err.splitlines() == [
        "row 3, column members: 'abc' is not a whole number of people",
        "row 4, column vulnerable: 'たぶん' is not yes or no (use 1/0, yes/no, はい/いいえ, ○/×, 有/無 or leave empty)",
        "row 5, column language: '??' is not a language code (use ja, ja-easy for やさしい日本語, en, zh, ko, vi, pt"
        " or another BCP 47 tag such as pt-BR)",
        "row 5, column household: household 1 of association 東町会 is also on row 2",
        "row 6, column consent: 'maybe' is not a consent (use yes/no/ordinance, 同意/不同意/条例, or leave empty:"
        " a registered household whose consent an earlier file stated keeps it; otherwise 同意 for an ordinary"
        " household, 不同意 for a 要配慮 one)",
        "row 6, column district: association 東町会 is in district 北地区 on row 2",
        f"{bad}: 6 problems; roster import would refuse this file",
    ]


def test_file_problems_in_japanese(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    terminal_locale(monkeypatch, "ja_JP.UTF-8")
    cases = {
        codecs.BOM_UTF16_LE + "地区".encode("utf-16-le"): "ファイルが UTF-16（Excel の「Unicode テキスト」）で、CSV ではありません。",
        csv_bytes([c for c in JA if c != "世帯主"], [[]]): "必須の列「世帯主」（name）がありません",
        csv_bytes([*JA, "name"], [[*row(), "x"]]): "列「世帯主」と列「name」は同じ列（name）です",
        csv_bytes(JA, [[*row(), "", "余分"]]): f"2行目: セルが {len(JA) + 2} 個ありますが、見出しは {len(JA)} 列です",
        csv_bytes(JA, [row(name="佐藤\u202egpj")]): ("2行目・列「世帯主」: 3 文字目に目に見えない制御文字 U+202E "
                                                   "(RIGHT-TO-LEFT OVERRIDE) が入っています"),
        csv_bytes(JA, [row(notes="要介護2"), row(household="2")]).replace(",要介護2,".encode(), ',"要介護2,'.encode()): (
            "2行目・列「備考」: ファイルの 2 行目で開いた引用符（\"）がその行で閉じられていないため、2〜3 行目が"),
        csv_bytes(JA, [row(name="")]): "2行目・列「世帯主」: 空欄です。どの世帯にも必要な項目です",
        csv_bytes(JA, [row(address="東町1-2\nさくら荘101")]): (
            "2行目・列「住所」: セルの中に改行があります（ファイルの 2〜3 行目。Excel の Alt+Enter など）"),
        csv_bytes(JA, []): "見出しの行はありますが、世帯の行がありません",
    }
    for i, (data, expected) in enumerate(cases.items()):
        bad = tmp_path / f"bad{i}.csv"
        bad.write_bytes(data)
        assert _roster(tmp_path, "check", str(bad)) == 1
        err = capsys.readouterr().err
        assert err.startswith(expected), (expected, err)


def test_the_consent_warning_of_import_in_each_language(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "roster.csv"
    data.write_bytes(csv_bytes(EN, [row(household="1", vulnerable="1"), row(household="2", phone="090-1234-0002")]))
    terminal_locale(monkeypatch, "ja_JP.UTF-8")
    assert _roster(tmp_path, "import", str(data)) == 0
    assert capsys.readouterr().err == (
        "注意: 要配慮の世帯 1 件は同意欄が空欄です。以前の名簿で同意を記入した世帯ならその同意のまま変えず、そうでなければ"
        "不同意として取り込みます（不同意の世帯の氏名・住所・電話番号は、実災害のときだけ町会長・副会長に表示されます）。"
        "同意を得ている場合は「同意」、条例で提供できる場合は「条例」と書いてください\n")
    terminal_locale(monkeypatch, "en_US.UTF-8")
    assert _roster(tmp_path, "import", str(data)) == 0
    assert capsys.readouterr().err == (
        "warning: 1 household marked vulnerable (要配慮) has an empty consent (同意) cell: it is read as no (不同意), so "
        "heads and deputies see its name, address and phone only during a real event, unless an earlier file stated "
        "its consent, which it keeps. Write yes (同意) or ordinance (条例) where the city has one\n")


def test_the_export_names_a_cell_it_cannot_write_in_japanese(
        tmp_path: Path) -> None:
    (record,) = parse_bytes(csv_bytes(EN, [row(name="João")])).records
    with pytest.raises(RosterWriteError) as e:
        write_roster(tmp_path / "x.csv", [record], encoding="cp932")
    (issue,) = e.value.issues
    assert issue.text("ja") == "2行目・列「世帯主」: 「ã」は cp932 では書き出せません。UTF-8 で書き出してください"
    assert str(issue) == "row 2, column 世帯主: 'ã' cannot be written in cp932; export as UTF-8"


def test_the_summary_counts_one_as_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """QA: `1 associations, 1 districts` and `17 with Mobile`."""
    terminal_locale(monkeypatch, "C.UTF-8")
    one = tmp_path / "one.csv"
    one.write_bytes(csv_bytes(EN, [row(vulnerable="1", consent="yes")]))
    assert _roster(tmp_path, "check", str(one)) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"ok: {one} (utf-8): 1 household, 1 association, 1 district\n")
    assert "\n  1 household with vulnerable members\n" in out
    assert "\n  Mobile (SMS, voice): 1, Landline (voice): 0, " in out  # not "1 with Mobile (SMS, voice)"
    assert _roster(tmp_path, "import", str(one)) == 0
    assert capsys.readouterr().out.startswith(f"imported {one}: 1 district, 1 association\n")
    two = tmp_path / "two.csv"
    two.write_bytes(csv_bytes(EN, [row(household="1"), row(household="2", association="西町会", district="南地区")]))
    assert _roster(tmp_path, "check", str(two)) == 0
    assert capsys.readouterr().out.startswith(f"ok: {two} (utf-8): 2 households, 2 associations, 2 districts\n")
    terminal_locale(monkeypatch, "ja_JP.UTF-8")
    assert _roster(tmp_path, "check", str(one)) == 0
    assert capsys.readouterr().out.startswith(f"問題なし: {one}（utf-8）: 1 世帯、1 町会、1 地区\n")


def test_the_roster_texts_are_complete_in_japanese_and_english() -> None:
    ja = {k for k in catalog("ja") if k.startswith("roster.")}
    assert len(ja) > 25
    assert ja == {k for k in catalog("en") if k.startswith("roster.")}


def test_a_first_import_says_every_association_is_new_and_what_is_still_to_do(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """QA: a first import into an empty city said nothing of its new associations, though a later
    import lists each. Every one is new then: one line says so and what is still to do (a city's
    thousand associations one a line would bury the summary); a later import lists its new one."""
    terminal_locale(monkeypatch, "ja_JP.UTF-8")
    first = tmp_path / "first.csv"
    first.write_bytes(csv_bytes(EN, [row(household=str(i), association=a)
                                     for i, a in enumerate(("桜台一丁目町内会", "桜台二丁目町内会"))]))
    assert _roster(tmp_path, "import", str(first)) == 0
    out = capsys.readouterr().out
    assert "初めての取り込みです。2 町会をすべて新しい町会として登録しました（会長・副会長の登録と案内状の印刷はこれからです）" in out
    assert "新しい町会:" not in out
    later = tmp_path / "later.csv"
    later.write_bytes(csv_bytes(EN, [row(household="9", association="桜台三丁目町内会")]))
    assert _roster(tmp_path, "import", str(later)) == 0
    out = capsys.readouterr().out
    assert "新しい町会: 桜台三丁目町内会" in out and "初めての取り込み" not in out


def test_a_new_association_spelled_like_an_existing_one_is_refused_until_said_otherwise(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """QA: 「桜台１丁目町内会」 for 「桜台一丁目町内会」 imported ten households again as a new association."""
    from safetynet.config import load_config

    terminal_locale(monkeypatch, "ja_JP.UTF-8")
    first = tmp_path / "first.csv"
    first.write_bytes(csv_bytes(EN, [row(household=str(i), association="桜台一丁目町内会") for i in (1, 2)]))
    assert _roster(tmp_path, "import", str(first)) == 0
    capsys.readouterr()
    typo = tmp_path / "typo.csv"
    typo.write_bytes(csv_bytes(EN, [row(household=str(i), association="桜台１丁目町内会") for i in (1, 2)]
                                   + [row(household="9", association="桜台三丁目町内会")]))
    # a refusal of the file's content: exit 1, and `check` says it as `import` does (review: the import
    # said 2, "could not run", and `check` said 問題なし)
    alike = "町会「桜台1丁目町内会」（2 世帯）は新しい町会になりますが、既にある「桜台一丁目町内会」と同じ町会に見えます"
    assert _roster(tmp_path, "check", str(typo)) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.endswith(
        f"エラー: {alike}。\nエラー: 表記を既にある町会名に揃えてください。本当に別の町会なら --yes を付けて確認し、"
        f"取り込んでください\n{typo}: 問題 1 件。このファイルはこのままでは取り込めません\n")
    assert _roster(tmp_path, "import", str(typo)) == 1
    out, err = capsys.readouterr()
    assert alike in err
    assert "--yes" in err and "何も取り込んでいません" in out
    assert _roster(tmp_path, "check", str(typo), "--yes") == 0
    assert capsys.readouterr().out.startswith(f"問題なし: {typo}")
    terminal_locale(monkeypatch, "C.UTF-8")
    assert _roster(tmp_path, "check", str(typo)) == 1
    assert capsys.readouterr().err.endswith(
        "error: association 桜台1丁目町内会 (2 households) would be new, but it looks like the existing 桜台一丁目町内会.\n"
        "error: spell it as the existing association; if it really is another association, check and import with --yes\n"
        f"{typo}: 1 problem; roster import would refuse this file\n")
    terminal_locale(monkeypatch, "ja_JP.UTF-8")

    async def associations() -> list[str]:
        async with store_session(load_config(tmp_path / "config.toml")) as store:
            return sorted(a.name for a in await store.roster.list_associations())

    import asyncio
    assert asyncio.run(associations()) == ["桜台一丁目町内会"]  # nothing imported
    assert _roster(tmp_path, "import", str(typo), "--yes") == 0  # "it really is another association"
    out = capsys.readouterr().out
    assert "新しい町会: 桜台1丁目町内会" in out and "新しい町会: 桜台三丁目町内会" in out
    assert asyncio.run(associations()) == ["桜台1丁目町内会", "桜台一丁目町内会", "桜台三丁目町内会"]

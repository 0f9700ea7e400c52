"""Enrolment codes: format, entropy, forgiving input, keyed hashes, and `roster codes`."""

from __future__ import annotations

import argparse
import asyncio
import csv
import math
import re
import stat
from collections import Counter
from pathlib import Path

import pytest
from roster_helpers import SECRET_KEY, make_config, stored_bytes

from safetynet.config import Config
from safetynet.roster import commands
from safetynet.roster.codes import (
    ALPHABET,
    BITS,
    CodeError,
    MissingSecretKey,
    hash_code,
    join_url,
    new_code,
    normalize_code,
)
from safetynet.roster.generate import generate_roster
from safetynet.store import store_session

FORMAT = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}")


def test_codes_are_grouped_from_an_unambiguous_alphabet() -> None:
    assert BITS >= 80
    assert len(ALPHABET) == 32 and not set("ILOU") & set(ALPHABET)
    for _ in range(200):
        assert FORMAT.fullmatch(new_code())


def test_codes_use_the_whole_alphabet_evenly() -> None:
    codes = [new_code() for _ in range(4000)]
    assert len(set(codes)) == len(codes)
    counts = Counter("".join(c.replace("-", "") for c in codes))
    assert set(counts) == set(ALPHABET)
    expected = 4000 * 16 / 32
    # chi-square with 31 degrees of freedom: 70 is far beyond the 0.9999 quantile (~64)
    chi2 = sum((n - expected) ** 2 / expected for n in counts.values())
    assert chi2 < 70
    assert math.log2(len(ALPHABET)) * 16 == BITS


@pytest.mark.parametrize(
    "typed",
    ["K7QM-4XPA-93TF-R2DN", "k7qm4xpa93tfr2dn", " k7qm 4xpa 93tf r2dn ", "Ｋ７ＱＭ－４ＸＰＡ－９３ＴＦ－Ｒ２ＤＮ",
     "K7QM—4XPA—93TF—R2DN", "k7qm_4xpa.93tf r2dn"],
)  # fmt: skip
def test_normalisation_forgives_case_spacing_hyphens_and_width(typed: str) -> None:
    assert normalize_code(typed) == "K7QM4XPA93TFR2DN"


def test_letters_read_as_digits() -> None:
    assert normalize_code("O1IL-oilL-0000-1111") == "0111011100001111"


@pytest.mark.parametrize(
    ("typed", "message"),
    [("K7QM-4XPA-93TF", "has 16 characters, this one has 12"), ("K7QM-4XPA-93TF-R2DNX", "this one has 17"),
     ("K7QM-4XPA-93TF-R2DU", "cannot contain 'U'"), ("K7QM-4XPA-93TF-R2D!", "cannot contain '!'"), ("", "has 0")],
)  # fmt: skip
def test_bad_codes_are_refused(typed: str, message: str) -> None:
    with pytest.raises(CodeError, match=re.escape(message)):
        normalize_code(typed)


def test_hash_is_keyed_and_ignores_how_the_code_was_typed() -> None:
    code = new_code()
    h = hash_code(code, "key-1")
    assert re.fullmatch(r"[0-9a-f]{64}", h)
    assert hash_code(code.lower().replace("-", " "), "key-1") == h
    assert hash_code(code, "key-2") != h
    with pytest.raises(MissingSecretKey):
        hash_code(code, "")


def test_join_url() -> None:
    assert join_url("https://anpi.example.jp/", "k7qm4xpa93tfr2dn") == "https://anpi.example.jp/join/K7QM-4XPA-93TF-R2DN"


def _args(output: Path, rotate: bool = False, association: list[str] | None = None) -> argparse.Namespace:
    return argparse.Namespace(output=str(output), rotate=rotate, association=association)


def _read_letters(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _import_small_city(cfg: Config) -> None:
    async def run() -> None:
        async with store_session(cfg) as store:
            await store.roster.import_households(list(generate_roster(30, seed=5, households_per_association=10)))

    asyncio.run(run())


def _lookup(cfg: Config, code: str) -> tuple[str, str] | None:
    async def run() -> tuple[str, str] | None:
        async with store_session(cfg) as store:
            h = await store.roster.household_by_code_hash(hash_code(code, SECRET_KEY))
            return (h.association, h.household_key) if h else None

    return asyncio.run(run())


def test_codes_command_writes_letters_and_stores_only_hashes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = make_config(tmp_path, secret_key=SECRET_KEY)
    _import_small_city(cfg)
    out = tmp_path / "letters.csv"
    assert commands.codes(cfg, _args(out)) == 0
    assert "wrote 30 enrolment codes" in capsys.readouterr().out
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    letters = _read_letters(out)
    assert len(letters) == 30
    assert list(letters[0]) == ["地区", "町会", "班", "世帯番号", "世帯主", "住所", "登録コード", "登録URL"]
    first = letters[0]
    assert FORMAT.fullmatch(first["登録コード"])
    assert first["登録URL"] == f"http://127.0.0.1:8080/join/{first['登録コード']}"
    assert _lookup(cfg, first["登録コード"]) == (first["町会"], first["世帯番号"])
    assert first["登録コード"].encode() not in stored_bytes(cfg)

    again = tmp_path / "again.csv"
    assert commands.codes(cfg, _args(again)) == 0  # every household has a code: nothing to issue
    assert "already has an enrolment code" in capsys.readouterr().out
    assert not again.exists()
    assoc = first["町会"]
    assert commands.codes(cfg, _args(again, rotate=True, association=[assoc])) == 0
    rotated = _read_letters(again)
    assert {r["町会"] for r in rotated} == {assoc} and len(rotated) == 10
    assert _lookup(cfg, first["登録コード"]) is None  # the previous code of that household no longer works
    new = next(r for r in rotated if r["世帯番号"] == first["世帯番号"])
    assert _lookup(cfg, new["登録コード"]) == (assoc, first["世帯番号"])
    other = next(r for r in letters if r["町会"] != assoc)
    assert _lookup(cfg, other["登録コード"]) is not None  # other associations keep theirs


def test_codes_command_needs_a_secret_key_and_a_known_association(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = make_config(tmp_path)
    _import_small_city(cfg)
    assert commands.codes(cfg, _args(tmp_path / "x.csv")) == 2
    assert "no secret key" in capsys.readouterr().err
    cfg = make_config(tmp_path, secret_key=SECRET_KEY)
    assert commands.codes(cfg, _args(tmp_path / "x.csv", association=["無い町会"])) == 2
    assert "unknown association: 無い町会" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

"""Replay of the official JMA sample telegrams (tests/data/jma) through the trigger rules.

Four deployments, each chosen so that the samples matter to it:
- ishikawa: 石川県能登/加賀 (390/391), 金沢市 (1720100), threshold 震度3, drills on, propose.
  The samples only reach 震度3 there (2009 Suruga Bay, 2011 Tohoku): two proposals, one update.
- tohoku: 岩手県内陸南部 (213), 宮城県北部 (220), 金ケ崎町 (0338100), 宮城県 coast, threshold 震度4,
  drills off: the 2008 Iwate-Miyagi quake cancelled (取消) → withdrawn; the two EventIDs of
  2010-07-05 one minute apart → the second is an aftershock; 2011: tsunami and 震度7 updates.
- shizuoka: 静岡県伊豆/中部 (440/442), 焼津市, 静岡県 coast, threshold 震度5弱, drills on, start:
  the 2009 Suruga Bay quake, the 2009 drill (訓練) and the 2016 tsunami drill start campaigns.
- kagoshima: 大隅/種子島/宮崎県南部平野部, threshold 震度4, start: two quakes three minutes apart.
Every telegram's decision was worked out by reading the files; the tables below are the result.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DATA

from safetynet.config import Config, JmaConfig, TriggersConfig
from safetynet.domain.triggers import TriggerRules
from safetynet.triggers.replay import ReplayRow, folder_files, replay
from safetynet.triggers.settings import rules_from_config

JMA = DATA / "jma"
REPO = Path(__file__).resolve().parents[2]

# Reason categories: a phrase every reason of that kind contains.
EEW = "early warning (緊急地震速報)"
HYPO = "Hypocentre report"
OTHER = "neither starts nor changes"
TEST = "Test telegram (試験)"
DUP = "already received"
NOAREA = "None of your areas or cities"
NOCOAST = "None of your coasts"
NOCOASTS_SET = "No coasts are configured"
BELOW = "below your threshold"
SAME = "no change for your places"
RAISED = "raised for your places"
CANCEL_NONE = "no campaign was based on it"
ADVISORY = "an advisory, not a warning"
NOWARNING = "No tsunami warning"
PROPOSED = "campaign proposed"
STARTED = "started automatically"  # a drill's: a real event waits for a city admin's approval
APPROVAL = "approval asked: nothing is sent until a city admin approves it"
AFTERSHOCK = "treated as an aftershock"
WITHDRAWN = "The proposed campaign is withdrawn"
DRILLS_OFF = "drills are switched off"


def rules(areas: tuple[str, ...], cities: tuple[str, ...], coasts: tuple[str, ...], min_intensity: str,
          action: str, drills: bool) -> TriggerRules:
    jma = JmaConfig(areas=areas, cities=cities, min_intensity=min_intensity, action=action, drills=drills)
    base = rules_from_config(Config(triggers=TriggersConfig(jma=jma)))
    return dataclasses.replace(base, coasts=frozenset(coasts))


ISHIKAWA = rules(("390", "391"), ("1720100",), ("360", "361"), "3", "propose", True)
TOHOKU = rules(("213", "220"), ("0338100",), ("220",), "4", "propose", False)
SHIZUOKA = rules(("440", "442"), ("2221200",), ("380",), "5-", "start", True)
KAGOSHIMA = rules(("771", "776", "762"), (), (), "4", "start", False)

# Every telegram, in the replay's time order, for the Ishikawa deployment.
ISHIKAWA_TABLE = [
    ("36_02_01_100915_VXSE41.xml", "ignore", None, EEW),
    ("36_02_02_100915_VXSE41.xml", "ignore", None, EEW),
    ("36_02_03_100915_VXSE41.xml", "ignore", None, EEW),
    ("37_02_01_100915_VXSE40.xml", "ignore", None, EEW),
    ("36_02_04_110223_VXSE41.xml", "ignore", None, EEW),
    ("36_02_05_100915_VXSE41.xml", "ignore", None, EEW),
    ("36_02_06_100915_VXSE41.xml", "ignore", None, EEW),
    ("36_02_07_100915_VXSE41.xml", "ignore", None, EEW),
    ("37_02_02_100915_VXSE40.xml", "ignore", None, EEW),
    ("36_02_08_100915_VXSE41.xml", "ignore", None, EEW),
    ("36_02_09_100915_VXSE41.xml", "ignore", None, EEW),
    ("36_02_10_100915_VXSE41.xml", "ignore", None, EEW),
    ("32-35_06_01_100915_VXSE52.xml", "ignore", None, HYPO),
    ("32-35_06_03_100915_VXSE53.xml", "ignore", None, BELOW),
    ("36_02_11_100915_VXSE41.xml", "ignore", None, EEW),
    ("37_02_03_100915_VXSE40.xml", "ignore", None, EEW),
    ("32-35_06_02_100915_VXSE52.xml", "ignore", None, HYPO),
    ("32-35_06_04_100915_VXSE53.xml", "ignore", None, BELOW),
    ("32-35_06_05_100915_VXSE53.xml", "ignore", None, BELOW),
    ("32-35_06_06_100915_VXSE53.xml", "ignore", None, CANCEL_NONE),
    ("32-35_06_09_100915_VXSE61.xml", "ignore", None, OTHER),
    ("32-35_06_10_100915_VXSE61.xml", "ignore", None, OTHER),
    ("32-35_03_01_100514_VXSE60.xml", "ignore", None, OTHER),
    ("54_01_01_100514_VXSE42.xml", "ignore", None, TEST),
    ("36_03_01_100915_VXSE41.xml", "ignore", None, EEW),
    ("37_03_01_100915_VXSE40.xml", "ignore", None, EEW),
    ("36_03_02_100915_VXSE41.xml", "ignore", None, EEW),
    ("36_03_03_100915_VXSE41.xml", "ignore", None, EEW),
    ("36_03_04_100915_VXSE41.xml", "ignore", None, EEW),
    ("36_03_05_100915_VXSE41.xml", "ignore", None, EEW),
    ("36_03_06_100915_VXSE41.xml", "ignore", None, EEW),
    ("36_03_07_100915_VXSE41.xml", "ignore", None, EEW),
    ("36_03_08_100915_VXSE41.xml", "ignore", None, EEW),
    ("36_03_09_100915_VXSE41.xml", "ignore", None, EEW),
    ("36_03_10_100915_VXSE41.xml", "ignore", None, EEW),
    ("32-35_01_01_100806_VXSE51.xml", "propose", 1, PROPOSED),
    ("32-35_07_01_100915_VXSE51.xml", "ignore", None, DUP),
    ("32-35_07_02_100915_VXSE51.xml", "ignore", None, SAME),
    ("32-35_07_03_100915_VXSE51.xml", "update", 1, RAISED),
    ("36_03_11_100915_VXSE41.xml", "ignore", None, EEW),
    ("37_03_02_100915_VXSE40.xml", "ignore", None, EEW),
    ("32-35_07_04_100915_VXSE51.xml", "ignore", None, SAME),
    ("32-35_07_05_100915_VXSE51.xml", "ignore", None, SAME),
    ("32-35_07_06_100915_VXSE53.xml", "ignore", None, SAME),
    ("32-35_07_07_100915_VXSE53.xml", "ignore", None, SAME),
    ("32-35_03_02_100514_VXSE61.xml", "ignore", None, OTHER),
    ("32-35_07_09_100915_VXSE61.xml", "ignore", None, DUP),
    ("32-35_01_02_100514_VXSE52.xml", "ignore", None, HYPO),
    ("32-35_01_03_100806_VXSE53.xml", "ignore", None, NOAREA),
    ("32-35_01_03_100514_VXSE53.xml", "ignore", None, NOAREA),
    ("32-35_04_01_100831_VXSE51.xml", "ignore", None, NOAREA),
    ("32-35_04_02_100831_VXSE51.xml", "ignore", None, NOAREA),
    ("32-35_04_03_100831_VXSE52.xml", "ignore", None, HYPO),
    ("32-35_04_04_100831_VXSE53.xml", "ignore", None, NOAREA),
    ("32-35_04_05_100831_VXSE51.xml", "ignore", None, NOAREA),
    ("32-35_04_06_100831_VXSE53.xml", "ignore", None, NOAREA),
    ("32-39_05_01_100831_VXSE53.xml", "ignore", None, NOAREA),
    ("32-39_05_02_100831_VXSE53.xml", "ignore", None, NOAREA),
    ("32-39_05_04_100831_VXSE53.xml", "ignore", None, NOAREA),
    ("32-39_05_05_100831_VXSE53.xml", "ignore", None, NOAREA),
    ("32-39_05_06_100831_VXSE53.xml", "ignore", None, NOAREA),
    ("32-39_05_07_100831_VXSE53.xml", "ignore", None, NOAREA),
    ("32-39_05_08_100831_VXSE53.xml", "ignore", None, NOAREA),
    ("32-39_05_12_100831_VXSE53.xml", "ignore", None, NOAREA),
    ("32-39_05_12_100915_VXSE53.xml", "ignore", None, CANCEL_NONE),
    ("36_04_01_110223_VXSE41.xml", "ignore", None, EEW),
    ("36_04_02_110223_VXSE41.xml", "ignore", None, EEW),
    ("36_04_03_100915_VXSE41.xml", "ignore", None, EEW),
    ("32-35_08_01_100915_VXSE51.xml", "ignore", None, NOAREA),
    ("32-35_08_02_100915_VXSE51.xml", "ignore", None, NOAREA),
    ("32-35_08_03_100915_VXSE51.xml", "ignore", None, NOAREA),
    ("32-35_08_04_100915_VXSE51.xml", "ignore", None, NOAREA),
    ("32-35_08_05_100915_VXSE51.xml", "ignore", None, NOAREA),
    ("32-35_08_06_100915_VXSE52.xml", "ignore", None, HYPO),
    ("32-35_08_07_100915_VXSE53.xml", "ignore", None, NOAREA),
    ("32-35_08_08_100915_VXSE53.xml", "ignore", None, NOAREA),
    ("32-39_11_01_120615_VXSE51.xml", "ignore", None, NOAREA),
    ("37_04_01_110311_VXSE43.xml", "ignore", None, EEW),
    ("32-39_11_02_120615_VTSE41.xml", "ignore", None, NOCOAST),
    ("37_04_02_110311_VXSE43.xml", "ignore", None, EEW),
    ("32-39_11_06_120615_VTSE41.xml", "ignore", None, NOCOAST),
    ("32-39_11_05_120615_VXSE53.xml", "propose", 2, PROPOSED),
    ("32-39_11_09_120615_VTSE41.xml", "ignore", None, SAME),
    ("32-39_11_11_120615_VTSE41.xml", "ignore", None, SAME),
    ("32-39_11_13_120615_VTSE41.xml", "ignore", None, SAME),
    ("33_12_01_120615_VXSE52.xml", "ignore", None, HYPO),
    ("38-39_02_01_191025_VTSE41.xml", "ignore", None, NOCOAST),
    ("38-39_02_04_191025_VTSE41.xml", "ignore", None, NOCOAST),
    ("32-39_12_02_191025_VTSE41.xml", "ignore", None, ADVISORY),
    ("32-39_12_07_191025_VTSE41.xml", "ignore", None, ADVISORY),
    ("32-39_12_13_191025_VTSE41.xml", "ignore", None, NOWARNING),
    ("32-39_13_02_191025_VTSE41.xml", "ignore", None, NOCOAST),
    ("32-39_13_07_191025_VTSE41.xml", "ignore", None, NOCOAST),
    ("32-35_09_01_191111_VXSE56.xml", "ignore", None, OTHER),
    ("74_02_01_200512_VXSE56.xml", "ignore", None, OTHER),
    ("74_02_02_200512_VXSE56.xml", "ignore", None, OTHER),
    ("74_02_03_200512_VXSE56.xml", "ignore", None, OTHER),
    ("74_02_04_200512_VXSE56.xml", "ignore", None, OTHER),
    ("74_02_05_200512_VXSE56.xml", "ignore", None, OTHER),
    ("74_02_06_200512_VXSE56.xml", "ignore", None, OTHER),
    ("74_02_07_200512_VXSE56.xml", "ignore", None, OTHER),
    ("75_02_01_200512_VXSE56.xml", "ignore", None, OTHER),
    ("75_02_02_200512_VXSE56.xml", "ignore", None, OTHER),
    ("75_02_03_200512_VXSE56.xml", "ignore", None, OTHER),
    ("75_02_04_200512_VXSE56.xml", "ignore", None, OTHER),
]


@functools.cache
def _replayed(r: TriggerRules) -> tuple[ReplayRow, ...]:
    return tuple(replay(folder_files(JMA), r))


def _rows(r: TriggerRules) -> list[ReplayRow]:
    return list(_replayed(r))


def test_sample_set_is_all_there() -> None:
    assert len(folder_files(JMA)) == 105


def test_ishikawa_every_telegram() -> None:
    got = [(row.file, row.decision, row.campaign) for row in _rows(ISHIKAWA)]
    assert got == [(f, d, c) for f, d, c, _ in ISHIKAWA_TABLE]
    for row, (_, _, _, phrase) in zip(_rows(ISHIKAWA), ISHIKAWA_TABLE, strict=True):
        assert phrase in row.reason, (row.file, row.reason)


def _check(r: TriggerRules, expected: dict[str, tuple[str, int | None, str]]) -> None:
    rows = _rows(r)
    assert len(rows) == 105
    by_file = {row.file: row for row in rows}
    for name, (decision, campaign, phrase) in expected.items():
        row = by_file[name]
        assert (row.decision, row.campaign) == (decision, campaign), (name, row.reason)
        assert phrase in row.reason, (name, row.reason)
    # Everything not listed is ignored, and an ignored telegram names no campaign.
    for row in rows:
        if row.file not in expected:
            assert (row.decision, row.campaign) == ("ignore", None), (row.file, row.reason)


def test_tohoku_cancellation_aftershock_and_tsunami() -> None:
    _check(TOHOKU, {
        # 2008-06-14 岩手・宮城内陸地震: 震度6強 → proposed; serial 2 repeats it; serial 3 adds 金ケ崎町 5強
        # (it was "震度５弱以上未入電", counted as 5弱); then JMA cancels the report (取消) → withdrawn.
        "32-35_06_03_100915_VXSE53.xml": ("propose", 1, PROPOSED),
        "32-35_06_04_100915_VXSE53.xml": ("ignore", None, SAME),
        "32-35_06_05_100915_VXSE53.xml": ("update", 1, RAISED),
        "32-35_06_06_100915_VXSE53.xml": ("withdraw", 1, WITHDRAWN),
        # the hypocentre report's cancellation does not touch the campaign
        "32-35_06_02_100915_VXSE52.xml": ("ignore", None, HYPO),
        "32-35_07_06_100915_VXSE53.xml": ("ignore", None, BELOW),
        "32-35_01_03_100806_VXSE53.xml": ("ignore", None, DRILLS_OFF),
        # 2010-07-05: 065511 first reports 震度3 (below), 065610 reports 震度4 → proposed; 065511's
        # later 震度4 telegrams are a second event within 6 h, not stronger → aftershock.
        "32-35_08_01_100915_VXSE51.xml": ("ignore", None, NOAREA),
        "32-35_08_02_100915_VXSE51.xml": ("propose", 2, PROPOSED),
        "32-35_08_03_100915_VXSE51.xml": ("ignore", None, AFTERSHOCK),
        "32-35_08_04_100915_VXSE51.xml": ("ignore", None, SAME),
        "32-35_08_05_100915_VXSE51.xml": ("ignore", None, AFTERSHOCK),
        "32-35_08_07_100915_VXSE53.xml": ("ignore", None, SAME),
        "32-35_08_08_100915_VXSE53.xml": ("ignore", None, SAME),
        # 2011-03-11: 震度6強 → proposed; 大津波警報 for 宮城県 raises it; 震度7 raises it again.
        "32-39_11_01_120615_VXSE51.xml": ("propose", 3, PROPOSED),
        "32-39_11_02_120615_VTSE41.xml": ("update", 3, RAISED),
        "32-39_11_06_120615_VTSE41.xml": ("ignore", None, SAME),
        "32-39_11_05_120615_VXSE53.xml": ("update", 3, RAISED),
        "32-39_11_09_120615_VTSE41.xml": ("ignore", None, SAME),
        "32-39_11_11_120615_VTSE41.xml": ("ignore", None, SAME),
        "32-39_11_13_120615_VTSE41.xml": ("ignore", None, SAME),
        # the 2016 tsunami drill has 津波警報 for 宮城県, but drills are off here
        "32-39_12_02_191025_VTSE41.xml": ("ignore", None, DRILLS_OFF),
        "54_01_01_100514_VXSE42.xml": ("ignore", None, TEST),
    })


def test_shizuoka_real_quake_and_drills_start() -> None:
    _check(SHIZUOKA, {
        # 2009-08-11 駿河湾: 震度6弱 静岡県中部 → started; the same telegram again is a duplicate;
        # 静岡県伊豆 rises 5強 → 6弱 and 焼津市 appears at 6弱 → updates.
        "32-35_01_01_100806_VXSE51.xml": ("start", 1, APPROVAL),
        "32-35_07_01_100915_VXSE51.xml": ("ignore", None, DUP),
        "32-35_07_02_100915_VXSE51.xml": ("ignore", None, SAME),
        "32-35_07_03_100915_VXSE51.xml": ("update", 1, RAISED),
        "32-35_07_04_100915_VXSE51.xml": ("ignore", None, SAME),
        "32-35_07_05_100915_VXSE51.xml": ("ignore", None, SAME),
        "32-35_07_06_100915_VXSE53.xml": ("update", 1, RAISED),
        "32-35_07_07_100915_VXSE53.xml": ("ignore", None, SAME),
        # 2009-10-01 drill (訓練): 震度5弱 → a drill campaign
        "32-35_01_03_100806_VXSE53.xml": ("start", 2, STARTED),
        # 2011: only 震度4 here, and a tsunami advisory (注意報) for 静岡県
        "32-39_11_05_120615_VXSE53.xml": ("ignore", None, BELOW),
        "32-39_11_02_120615_VTSE41.xml": ("ignore", None, ADVISORY),
        "32-39_11_13_120615_VTSE41.xml": ("ignore", None, NOWARNING),
        # 2016 tsunami drill: 大津波警報 for 静岡県 → a drill campaign; later ones change nothing
        "32-39_12_02_191025_VTSE41.xml": ("start", 3, STARTED),
        "32-39_12_07_191025_VTSE41.xml": ("ignore", None, SAME),
        "32-39_12_13_191025_VTSE41.xml": ("ignore", None, SAME),
        # 2018 tsunami drill: an advisory only
        "32-39_13_02_191025_VTSE41.xml": ("ignore", None, ADVISORY),
        "32-35_06_03_100915_VXSE53.xml": ("ignore", None, BELOW),
    })


def test_kagoshima_second_quake_is_an_aftershock() -> None:
    _check(KAGOSHIMA, {
        "32-35_04_01_100831_VXSE51.xml": ("start", 1, APPROVAL),
        "32-35_04_02_100831_VXSE51.xml": ("ignore", None, AFTERSHOCK),
        "32-35_04_04_100831_VXSE53.xml": ("ignore", None, AFTERSHOCK),
        "32-35_04_05_100831_VXSE51.xml": ("ignore", None, AFTERSHOCK),
        "32-35_04_06_100831_VXSE53.xml": ("ignore", None, AFTERSHOCK),
        "32-39_11_02_120615_VTSE41.xml": ("ignore", None, NOCOASTS_SET),
    })


def test_drill_campaigns_are_drills_and_real_ones_real() -> None:
    kinds = {row.campaign: row.kind for row in _rows(SHIZUOKA) if row.decision == "start"}
    assert kinds == {1: "real", 2: "drill", 3: "drill"}
    drill = next(r for r in _rows(SHIZUOKA) if r.campaign == 2)
    assert drill.reason.startswith("Drill (訓練)")


def test_order_is_report_time() -> None:
    times = [row.reported_at or 0.0 for row in _rows(ISHIKAWA)]
    assert all(times) and times == sorted(times)


def test_unreadable_file_is_reported_last(tmp_path: Path) -> None:
    good = tmp_path / "a.xml"
    good.write_bytes((JMA / "32-35_04_01_100831_VXSE51.xml").read_bytes())
    (tmp_path / "0-broken.xml").write_bytes(b"<Report")
    rows = replay(folder_files(tmp_path), KAGOSHIMA)
    assert [r.file for r in rows] == ["a.xml", "0-broken.xml"]
    assert rows[1].decision == "ignore" and "not well-formed" in rows[1].reason


def _cli(*args: str, env_extra: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[store]\npath = "var/safetynet.db"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFETYNET_")}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-m", "safetynet", "triggers", "replay", *args, "--config", str(cfg)],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=60, check=False,
    )


@pytest.mark.slow
def test_cli_json_one_object_per_line(tmp_path: Path) -> None:
    env = {"SAFETYNET_TRIGGERS_JMA_AREAS": "440,442", "SAFETYNET_TRIGGERS_JMA_CITIES": "2221200",
           "SAFETYNET_TRIGGERS_JMA_MIN_INTENSITY": "5-", "SAFETYNET_TRIGGERS_JMA_ACTION": "start",
           "SAFETYNET_TRIGGERS_JMA_DRILLS": "true"}
    proc = _cli(str(JMA), "--json", env_extra=env, tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 105
    objs = [json.loads(line) for line in lines]
    assert all(list(o) == ["file", "event_id", "decision", "reason", "campaign"] for o in objs)
    acted = [(o["file"], o["decision"], o["campaign"]) for o in objs if o["decision"] != "ignore"]
    assert acted == [
        ("32-35_01_01_100806_VXSE51.xml", "start", 1),
        ("32-35_07_03_100915_VXSE51.xml", "update", 1),
        ("32-35_07_06_100915_VXSE53.xml", "update", 1),
        ("32-35_01_03_100806_VXSE53.xml", "start", 2),
    ]


def test_cli_refuses_a_missing_folder(tmp_path: Path) -> None:
    proc = _cli(str(tmp_path / "nope"), env_extra={}, tmp_path=tmp_path)
    assert proc.returncode == 2
    assert "not a folder" in proc.stderr


TOHOKU_ENV = {"SAFETYNET_TRIGGERS_JMA_AREAS": "213,220", "SAFETYNET_TRIGGERS_JMA_CITIES": "0338100",
              "SAFETYNET_TRIGGERS_JMA_TSUNAMI_AREAS": "220", "SAFETYNET_TRIGGERS_JMA_MIN_INTENSITY": "4",
              "SAFETYNET_TRIGGERS_JMA_ACTION": "propose"}


def _said_reasons(stdout: str) -> list[str]:
    """The reason lines of the replay's table (each decision's second line, indented)."""
    return [line.strip() for line in stdout.splitlines() if line.startswith("    ")]


@pytest.mark.slow
def test_cli_says_the_reasons_in_a_japanese_terminals_language(tmp_path: Path) -> None:
    """City hall's 防災担当 read the reasons to judge whether to trust the trigger: in Japanese, no
    English sentence left (a config setting named in a reason is as config.toml spells it, a time ends
    in JST as the table's times do)."""
    env = {**TOHOKU_ENV, "LANG": "ja_JP.UTF-8", "LC_ALL": "", "LANGUAGE": "", "LC_MESSAGES": ""}
    proc = _cli(str(JMA), env_extra=env, tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    reasons = _said_reasons(proc.stdout)
    assert len(reasons) == 105
    for reason in reasons:
        words = re.sub(r"triggers\.[a-z_.]+( = [a-z]+)?|\bJST\b", "", reason)
        assert re.search(r"[A-Za-z]{3,}", words) is None, reason
    assert reasons.count("緊急地震速報は予測で、観測ではありません。安否確認は、観測した震度（震度速報）を待って判断します。") > 10
    assert "この震度速報には、設定した地域・市町村が含まれていません。安否確認は作りません。" in reasons
    assert ("気象庁が、安否確認 #1 のもとになった震源・震度に関する情報を取り消しました。"
            "提案していた安否確認を取り下げます。") in reasons
    assert any(r.endswith("余震として扱い、新しい安否確認は作りません。") for r in reasons)


@pytest.mark.slow
def test_cli_says_the_reasons_in_english_elsewhere_as_stored(tmp_path: Path) -> None:
    """Under C.UTF-8 the table says the same English as the log, the store and --json."""
    env = {**TOHOKU_ENV, "LANG": "C.UTF-8", "LC_ALL": "", "LANGUAGE": "", "LC_MESSAGES": ""}
    proc = _cli(str(JMA), env_extra=env, tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert _said_reasons(proc.stdout) == [row.reason for row in _rows(TOHOKU)]
    as_json = _cli(str(JMA), "--json", env_extra={**env, "LANG": "ja_JP.UTF-8"}, tmp_path=tmp_path)
    assert [json.loads(line)["reason"] for line in as_json.stdout.splitlines()] == [row.reason for row in _rows(TOHOKU)]

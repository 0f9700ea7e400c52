"""A trigger decision's reason as catalog keys (`trigger.reason.*`): every key a reason can name is in the
Japanese and the English catalog with the same values, the English said from the parts is the stored
`reason`, and a decision stored before parts existed still reads."""

from __future__ import annotations

import ast
import json
import string
from pathlib import Path

from conftest import DATA

from safetynet.domain.triggers import NAMED_KINDS, Decision, ReasonPart, TriggerRules, intensity_rank
from safetynet.i18n import catalog
from safetynet.triggers import rules as rules_module
from safetynet.triggers.reasons import keys_of, say_reason
from safetynet.triggers.replay import ReplayRow, folder_files, replay

PREFIX = "trigger.reason."
TRIGGERS = Path(rules_module.__file__).parent
# Deployments the sample telegrams matter to (as in tests/e2e/test_triggers_replay.py), between them
# reaching every kind of reason the samples give: proposals, starts, drills, updates, cancellations.
DEPLOYMENTS = [
    TriggerRules(areas=frozenset({"390", "391"}), cities=frozenset({"1720100"}), coasts=frozenset({"360", "361"}),
                 min_intensity=intensity_rank("3"), action="propose", drills=True),
    TriggerRules(areas=frozenset({"213", "220"}), cities=frozenset({"0338100"}), coasts=frozenset({"220"}),
                 min_intensity=intensity_rank("4"), action="propose"),
    TriggerRules(areas=frozenset({"440", "442"}), cities=frozenset({"2221200"}), coasts=frozenset({"380"}),
                 min_intensity=intensity_rank("5-"), action="start", drills=True),
    TriggerRules(areas=frozenset({"771", "776", "762"}), min_intensity=intensity_rank("4"), action="start"),
    TriggerRules(cap_codes=frozenset({"17201"}), cap_action="start", drills=True),
]


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _keys_named_in_the_code() -> set[str]:
    keys = set()
    for path in TRIGGERS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(PREFIX):
                if not node.value.endswith((".", "_")):  # an f-string's start: its family is listed below
                    keys.add(node.value)
    # the families the rules build from a value
    keys |= {f"{PREFIX}kind.{k}" for k in (*NAMED_KINDS, "report")}
    keys |= {f"{PREFIX}how.{action}_{kind}" for action in ("propose", "start") for kind in ("real", "drill")}
    keys |= {f"{PREFIX}started_tail.drill_{source}" for source in ("jma", "cap")}
    keys |= {f"{PREFIX}aftershock.{which}" for which in ("earthquake", "tsunami")}
    keys |= {f"{PREFIX}cap.{which}" for which in ("alert", "update_unknown")}
    return keys


def _rows() -> list[ReplayRow]:
    rows = []
    for r in DEPLOYMENTS:
        rows += replay(folder_files(DATA / "jma"), r)
        rows += replay(folder_files(DATA / "cap"), r)
    return rows


def test_japanese_and_english_have_the_same_reason_keys_and_values() -> None:
    ja = {k: v for k, v in catalog("ja").items() if k.startswith(PREFIX)}
    en = {k: v for k, v in catalog("en").items() if k.startswith(PREFIX)}
    assert len(ja) > 30
    assert sorted(ja) == sorted(en)
    assert [k for k in ja if _fields(ja[k]) != _fields(en[k])] == []


def test_every_key_the_code_names_is_in_japanese_and_english() -> None:
    named = _keys_named_in_the_code()
    assert len(named) > 30  # the scan sees the keys (a broken scan finds none)
    assert sorted(named - set(catalog("ja"))) == []
    assert sorted(named - set(catalog("en"))) == []


def test_every_part_of_the_samples_reasons_is_said_in_japanese_and_its_english_is_the_reason() -> None:
    rows = _rows()
    used = set()
    for row in rows:
        assert row.parts, row
        used |= keys_of(row.parts)
        assert say_reason(row.parts, "en") == row.reason
        ja = say_reason(row.parts, "ja")
        assert ja != row.reason and "campaign" not in ja and "your" not in ja, (row.file, ja)
    assert len(used) > 25
    assert sorted(used - set(catalog("ja"))) == [] and sorted(used - set(catalog("en"))) == []


def test_parts_are_stored_with_the_decision_and_old_decisions_keep_their_text() -> None:
    inner = (ReasonPart.of("trigger.reason.drill"), ReasonPart.of(
        "trigger.reason.below_threshold", threshold="震度5弱",
        summary=ReasonPart.of("trigger.reason.summary.intensity", intensity="震度4", places="焼津市")))
    stale = ReasonPart.of("trigger.reason.stale", time="2026-04-01 10:00 JST", hours="12", meant=inner)
    d = Decision("ignore", say_reason((stale,), "en"), event_id="20260401100000", parts=(stale,))
    assert Decision.from_json(d.to_json()) == d
    assert "本来の判断: 【訓練】焼津市で震度4。" in say_reason(d.parts, "ja")
    # a decision stored before reasons had parts: no parts, its English text as stored
    old = json.loads(d.to_json())
    del old["parts"]
    was = Decision.from_json(json.dumps(old))
    assert was.parts == () and was.reason == d.reason
    row = ReplayRow("a.xml", was.event_id, was.decision, was.reason, None, parts=was.parts)
    assert row.said("ja") == d.reason

"""Fuzzing the inputs: whatever bytes arrive, the only exception is TriggerInputError, and whatever
parses can be decided without an exception."""

from __future__ import annotations

import os
import re
from pathlib import Path
from xml.sax.saxutils import escape

from conftest import DATA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safetynet.domain.triggers import TriggerInputError, TriggerRules, TriggerState, intensity_rank
from safetynet.triggers.cap import parse_cap
from safetynet.triggers.inputs import parse_telegram
from safetynet.triggers.jma import parse_jma
from safetynet.triggers.rules import apply, decide

JMA = DATA / "jma"
CAP = Path(__file__).resolve().parents[1] / "data" / "cap"
RULES = TriggerRules(areas=frozenset({"771", "390", "220", "442"}), cities=frozenset({"1720100", "0338100"}),
                     coasts=frozenset({"220", "380"}), cap_codes=frozenset({"17201"}),
                     min_intensity=intensity_rank("3"), drills=True)
# The small samples (every kind, every status, cancellations) keep each example fast.
SAMPLES = [p.read_bytes() for p in sorted(JMA.glob("*.xml")) if p.stat().st_size < 12_000]
SAMPLES += [p.read_bytes() for p in sorted(CAP.glob("*.xml"))]
_TEXT = re.compile(rb">([^<]*)<")
SPANS = [[m.span(1) for m in _TEXT.finditer(b)] for b in SAMPLES]
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "100")), deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def _survives(body: bytes, state: TriggerState) -> None:
    for parse in (parse_jma, parse_cap):
        try:
            parse(body, RULES)
        except TriggerInputError:
            pass
    try:
        telegram = parse_telegram(body, RULES)
    except TriggerInputError:
        return
    d = decide(telegram, state, RULES)
    assert d.decision in ("ignore", "propose", "start", "update", "withdraw") and d.reason
    apply(state, d)


@st.composite
def byte_mutations(draw: st.DrawFn) -> bytes:
    body = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "delete", "insert", "truncate"]))
        at = draw(st.integers(0, max(0, len(body) - 1)))
        if op == "flip" and body:
            body[at] = draw(st.integers(0, 255))
        elif op == "delete":
            del body[at:at + draw(st.integers(1, 40))]
        elif op == "insert":
            body[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            del body[at:]
    return bytes(body)


# Values a field may get: real vocabulary mixed with nonsense, so the rules see odd but well-formed telegrams.
_VALUES = st.one_of(
    st.sampled_from(["", "通常", "訓練", "試験", "発表", "訂正", "取消", "1", "5-", "5+", "6-", "7", "8", "-1", "51", "52",
                     "62", "390", "771", "220", "2011-03-11T14:48:00+09:00", "9999-12-31T23:59:59+09:00",
                     "0001-01-01T00:00:00-12:00", "Actual", "Exercise", "Test", "Cancel", "Update", "Ack",
                     "震度５弱以上未入電", "17201", "a,b c,d", "\u3000"]),
    st.text(max_size=30),
)


@st.composite
def text_mutations(draw: st.DrawFn) -> bytes:
    index = draw(st.integers(0, len(SAMPLES) - 1))
    body, spans = SAMPLES[index], SPANS[index]
    chosen = draw(st.lists(st.sampled_from(spans), min_size=1, max_size=6, unique=True))
    for start, end in sorted(chosen, reverse=True):  # from the end, so earlier spans stay valid
        body = body[:start] + escape(draw(_VALUES)).encode() + body[end:]
    return body


@FUZZ
@given(st.binary(max_size=3000))
def test_random_bytes(body: bytes) -> None:
    _survives(body, TriggerState())


@FUZZ
@given(st.lists(byte_mutations(), min_size=1, max_size=3))
def test_mutated_bytes_of_real_telegrams(bodies: list[bytes]) -> None:
    state = TriggerState()
    for body in bodies:
        _survives(body, state)


@FUZZ
@given(st.lists(text_mutations(), min_size=1, max_size=4))
def test_mutated_values_of_real_telegrams(bodies: list[bytes]) -> None:
    state = TriggerState()
    for body in bodies:
        _survives(body, state)


@FUZZ
@given(st.text(max_size=400))
def test_random_text_in_a_jma_envelope(inner: str) -> None:
    body = ('<Report xmlns="http://xml.kishou.go.jp/jmaxml1/">' + inner + "</Report>").encode("utf-8", "surrogatepass")
    _survives(body, TriggerState())

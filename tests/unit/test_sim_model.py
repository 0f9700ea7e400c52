from __future__ import annotations

import statistics

import pytest

from safetynet.domain import Status
from safetynet.lab.sim.model import ResidentModel, intent_of, reaction


def test_shares_match_the_model_over_a_city() -> None:
    model = ResidentModel(answer_share=0.8, need_help_share=0.05, late_share=0.1, seed=7)
    intents = [intent_of(model, h) for h in range(20_000)]
    answering = [i for i in intents if i.answers]
    assert abs(len(answering) / len(intents) - 0.8) < 0.02
    assert abs(sum(i.status == Status.NEED_HELP for i in answering) / len(answering) - 0.05) < 0.01
    assert abs(sum(i.late for i in answering) / len(answering) - 0.1) < 0.02


def test_delays_are_lognormal_around_the_mode() -> None:
    model = ResidentModel(delay_mode_seconds=120, delay_sigma=0.9, seed=3)
    delays = sorted(intent_of(model, h).delay_seconds for h in range(20_000))
    # the densest 30-second band of the histogram sits near the mode
    bands = statistics.multimode(int(d // 30) for d in delays)
    assert any(60 <= b * 30 <= 150 for b in bands)
    assert max(delays) <= model.max_delay_seconds
    assert statistics.median(delays) > 120  # right-skewed: median above the mode


def test_decisions_are_repeatable_and_seeded() -> None:
    a = ResidentModel(seed=1)
    assert [intent_of(a, h) for h in range(50)] == [intent_of(a, h) for h in range(50)]
    b = ResidentModel(seed=2)
    assert [intent_of(a, h) for h in range(50)] != [intent_of(b, h) for h in range(50)]


def test_late_residents_ignore_app_channels_and_compression_scales_waits() -> None:
    model = ResidentModel(answer_share=1.0, late_share=1.0, time_compression=60)
    assert reaction(model, 5, "webpush") is None
    got = reaction(model, 5, "sms")
    assert got is not None
    assert got[1] == pytest.approx(intent_of(model, 5).delay_seconds / 60)


@pytest.mark.parametrize("bad", [{"answer_share": 1.5}, {"delay_sigma": 0}, {"time_compression": -1}])
def test_bad_model_values_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ResidentModel(**bad)  # type: ignore[arg-type]


def test_unknown_simulation_key_is_named() -> None:
    with pytest.raises(ValueError, match="unknown key answer_rate"):
        ResidentModel.from_table({"answer_rate": 0.5})

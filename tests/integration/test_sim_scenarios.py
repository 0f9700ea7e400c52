"""The drill scenarios carry a resident model, the tsunami drill fits the sample city, bad tables are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from safetynet.broadcast.scenario import load_scenario
from safetynet.lab.sim import city
from safetynet.lab.sim.model import ResidentModel, has_no_channel
from safetynet.roster import csvio

DRILLS = sorted(city.DRILLS.glob("*.toml"))


def test_the_three_drills_are_shipped() -> None:
    assert {p.name for p in DRILLS} >= {"citywide-earthquake.toml", "association-monthly.toml",
                                       "tsunami-evacuation.toml"}


@pytest.mark.parametrize("path", DRILLS, ids=lambda p: p.stem)
def test_every_drill_has_a_resident_model(path: Path) -> None:
    scenario = load_scenario(path)
    assert "simulate" in scenario.options
    model = city.resident_model(scenario, time_compression=60)
    assert 0.5 <= model.answer_share <= 1.0 and model.time_compression == 60
    assert isinstance(model.delay_mode_seconds, float)


def test_the_tsunami_drill_reaches_the_coastal_districts_of_the_sample_city() -> None:
    s = load_scenario(city.DRILLS / "tsunami-evacuation.toml")
    districts = {r.district for r in csvio.read_roster(city.SAMPLE_ROSTER).records}
    assert {x.partition(":")[2] for x in s.scope} <= districts
    assert "避難" in s.messages["ja"] and "場所" in s.messages["ja"]
    assert "sms" in s.ladder[0].channels  # evacuation orders do not wait for the SMS rung
    assert s.ladder[-1].door_knock
    assert city.resident_model(s).shelter_share > 0


def test_a_bad_simulation_table_is_refused_with_its_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('title = "t"\n[messages]\nja = "訓練"\n[simulate]\nanswer_rate = 0.5\n', encoding="utf-8")
    with pytest.raises(city.CityError, match="unknown key answer_rate"):
        city.resident_model(load_scenario(bad))
    bad.write_text('title = "t"\n[messages]\nja = "訓練"\n[simulate]\nanswer_share = "most"\n', encoding="utf-8")
    with pytest.raises(city.CityError, match=r"simulation\.answer_share must be a number"):
        city.resident_model(load_scenario(bad))


def test_compression_scales_every_rung() -> None:
    s = load_scenario(city.DRILLS / "citywide-earthquake.toml")
    spec = city.drill_spec(s, 30)
    assert [st.after_seconds for st in spec.ladder] == [0, 20, 40, 60]
    assert spec.options["simulated"] is True and spec.options["simulate"]["answer_share"] == 0.8


def test_no_channel_households_follow_their_share() -> None:
    model = ResidentModel(no_channel_share=0.1, seed=5)
    share = sum(has_no_channel(model, h) for h in range(20_000)) / 20_000
    assert abs(share - 0.1) < 0.01
    assert not any(has_no_channel(ResidentModel(), h) for h in range(1000))


def test_enrolment_choice_follows_the_shares_and_repeats() -> None:
    chosen = city.choose_enrolment(range(10_000), 0.6, 0.2, seed=3)
    push = sum(1 for c in chosen.values() if c == "webpush") / 10_000
    tg = sum(1 for c in chosen.values() if c == "telegram") / 10_000
    assert abs(push - 0.6) < 0.02 and abs(tg - 0.2) < 0.02
    assert chosen == city.choose_enrolment(range(10_000), 0.6, 0.2, seed=3)

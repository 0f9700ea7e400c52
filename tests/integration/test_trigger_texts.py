"""A trigger's words come from a machine (a CAP headline, a JMA telegram): they are fitted to a
campaign's rules, never refused, since a real event must go out."""

from __future__ import annotations

from pathlib import Path

from dashboard_fixtures import ASSOC_A as ASSOC
from dashboard_fixtures import world

from safetynet.broadcast.scenario import MAX_MESSAGE_CHARS, MAX_TITLE_CHARS, message_problem, title_problem
from safetynet.broadcast.service import CampaignService
from safetynet.broadcast.triggered import FALLBACK_MESSAGES
from safetynet.triggers.port import CampaignRequest

# a CAP headline may run to 200 characters, over lines, with whatever its sender's editor left in it
HEADLINE = "大雨特別警報\n" + "桜市全域に避難指示。" * 20 + "\u202e\t終"


def request(key: str, scenario: str, messages: dict[str, str] | None = None) -> CampaignRequest:
    return CampaignRequest(dedupe_key=key, kind="real", start=False, title=HEADLINE, hazard="alert",
                           scenario=scenario, source="cap", reason="Severe", messages=messages or {})


async def test_a_long_machine_written_headline_is_fitted_not_refused(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        svc = CampaignService(w.store, w.cfg, w.clock)
        campaign = await w.store.campaigns.get(await svc.create_campaign(request("cap:1", "drills/citywide-earthquake.toml")))
        assert campaign is not None and title_problem(campaign.title) is None
        assert campaign.title.startswith("大雨特別警報 桜市全域に避難指示。") and campaign.title.endswith("…")
        assert len(campaign.title) == MAX_TITLE_CHARS


async def test_without_its_scenario_the_sources_own_text_goes_out_fitted(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        svc = CampaignService(w.store, w.cfg, w.clock)
        long_text = "避難してください。\r\n\x00" + "川に近づかないでください。" * 100
        made = await svc.create_campaign(request("cap:2", "drills/no-such-scenario.toml",
                                                 messages={"ja": long_text, "en": "\x00\x1b"}))
        campaign = await w.store.campaigns.get(made)
        assert campaign is not None and title_problem(campaign.title) is None
        text = campaign.messages["ja"]
        assert message_problem(text) is None and len(text) == MAX_MESSAGE_CHARS
        assert text.startswith("避難してください。\r\n 川に近づかないでください。")
        assert campaign.messages["en"] == FALLBACK_MESSAGES["en"]  # nothing readable left: the fallback's words


async def test_a_trigger_scenario_with_a_long_title_or_pasted_characters_is_fitted_not_replaced(tmp_path: Path) -> None:
    """Read at the moment of a real event: refusing it would send the city-wide fallback instead of the
    city's own scope, ladder and words."""
    async with world(tmp_path) as w:
        scenario = tmp_path / "drills" / "pasted.toml"
        scenario.parent.mkdir(exist_ok=True)
        scenario.write_text(
            'title = "' + "地震" * 100 + '"\nscope = ["association:' + ASSOC + '"]\n'
            '[messages]\nja = "避難所を開設しました。\\u2028第一小学校\\u0007へ。"\n', encoding="utf-8")
        svc = CampaignService(w.store, w.cfg, w.clock)
        campaign = await w.store.campaigns.get(await svc.create_campaign(request("cap:3", str(scenario))))
        assert campaign is not None and campaign.scope == (f"association:{ASSOC}",)  # the scenario's, not the fallback
        assert campaign.messages["ja"] == "避難所を開設しました。\n第一小学校 へ。"

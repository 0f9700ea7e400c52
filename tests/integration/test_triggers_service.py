"""The trigger service on a real SQLite store, with an in-memory implementation of our CampaignPort."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator, Mapping, MutableMapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import structlog
from conftest import DATA
from pg_helpers import on_test_store
from structlog.testing import capture_logs

from safetynet.clock import FakeClock
from safetynet.config import CapConfig, Config, JmaConfig, TriggersConfig
from safetynet.domain.triggers import TriggerInputError
from safetynet.store import Store, open_store
from safetynet.triggers.port import CampaignRequest
from safetynet.triggers.reasons import say_reason
from safetynet.triggers.service import TriggerService, handle_cap, handle_jma
from safetynet.triggers.xmlsafe import MAX_BODY_BYTES

JMA = DATA / "jma"
CAP = Path(__file__).resolve().parents[1] / "data" / "cap"
# 2008-06-14 08:47 JST, the first 震源・震度情報 of the Iwate-Miyagi earthquake, plus a minute.
IWATE_MIYAGI = 1213400820.0 + 60


@dataclass
class Campaign:
    id: int
    request: CampaignRequest
    state: str
    title: str
    updates: list[str] = field(default_factory=list)


class MemoryCampaigns:
    """A test double of our CampaignPort, idempotent on the request's dedupe key like the real one must be."""

    def __init__(self) -> None:
        self.campaigns: dict[int, Campaign] = {}
        self.by_key: dict[str, int] = {}
        self.created = asyncio.Event()
        self.fail = False
        self.reads: list[int] = []  # campaign_state calls, by campaign

    async def create_campaign(self, request: CampaignRequest) -> int:
        if self.fail:
            raise RuntimeError("campaign service down")
        if request.dedupe_key in self.by_key:
            return self.by_key[request.dedupe_key]
        cid = len(self.campaigns) + 1
        self.campaigns[cid] = Campaign(cid, request, "running" if request.start else "draft", request.title)
        self.by_key[request.dedupe_key] = cid
        self.created.set()
        return cid

    async def update_campaign(self, campaign_id: int, title: str, messages: Mapping[str, str], reason: str) -> None:
        self.campaigns[campaign_id].title = title
        self.campaigns[campaign_id].updates.append(reason)

    async def cancel_proposed(self, campaign_id: int, reason: str) -> bool:
        c = self.campaigns[campaign_id]
        if c.state != "draft":
            return False
        c.state = "cancelled"
        return True

    async def campaign_state(self, campaign_id: int) -> str | None:
        self.reads.append(campaign_id)
        c = self.campaigns.get(campaign_id)
        return None if c is None else c.state


def tohoku(**jma: object) -> Config:
    base: dict[str, object] = {"areas": ("213", "220"), "cities": ("0338100",), "min_intensity": "4",
                               "action": "propose"}
    base.update(jma)
    return Config(triggers=TriggersConfig(jma=JmaConfig(**base)))  # type: ignore[arg-type]


@contextmanager
def captured_logs() -> Iterator[list[MutableMapping[str, Any]]]:
    """capture_logs, whatever level another test left structlog filtering at."""
    old = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with capture_logs() as logs:
            yield logs
    finally:
        structlog.configure(**old)


@asynccontextmanager
async def service_on(tmp_path: Path, cfg: Config, port: MemoryCampaigns, clock: FakeClock) -> AsyncIterator[
        tuple[TriggerService, Store]]:
    store = await open_store(on_test_store(cfg), clock, path=tmp_path / "var" / "safetynet.db")
    try:
        yield TriggerService(store, cfg, port, clock), store
    finally:
        await store.close()


def sample(name: str) -> bytes:
    return (JMA / name).read_bytes()


async def test_every_decision_is_acted_on_and_stored(tmp_path: Path) -> None:
    port, clock = MemoryCampaigns(), FakeClock(IWATE_MIYAGI)
    async with service_on(tmp_path, tohoku(), port, clock) as (svc, store):
        with captured_logs() as logs:
            d1 = await svc.ingest_jma(sample("32-35_06_03_100915_VXSE53.xml"), "http")
            d2 = await svc.ingest_jma(sample("32-35_06_04_100915_VXSE53.xml"), "http")
            d3 = await svc.ingest_jma(sample("32-35_06_05_100915_VXSE53.xml"), "feed")
            d4 = await svc.ingest_jma(sample("32-35_06_06_100915_VXSE53.xml"), "file:x.xml")
        assert [(d.decision, d.campaign) for d in (d1, d2, d3, d4)] == [
            ("propose", 1), ("ignore", 1), ("update", 1), ("withdraw", 1)]
        c = port.campaigns[1]
        assert (c.state, c.request.kind, c.request.start, c.request.hazard, c.request.source) == (
            "cancelled", "real", False, "earthquake", "jma")
        assert c.request.title.startswith("地震 震度6強 岩手県内陸南部、宮城県北部")
        assert c.request.scenario == "drills/citywide-earthquake.toml"
        assert c.request.messages == {"ja": "１４日０８時４３分ころ、地震がありました。"}
        assert len(c.updates) == 1 and "金ケ崎町" in c.updates[0]
        rows = await store.triggers.recent()
        assert [(r.decision, r.campaign_id, r.origin, r.intensity) for r in reversed(rows)] == [
            ("propose", 1, "http", "6+"), ("ignore", 1, "http", "6+"), ("update", 1, "feed", "6+"),
            ("withdraw", 1, "file:x.xml", None)]
        assert [r.reason for r in reversed(rows)] == [d.reason for d in (d1, d2, d3, d4)]
        decided = [e for e in logs if e["event"] == "trigger_decided"]
        assert [e["decision"] for e in decided] == ["propose", "ignore", "update", "withdraw"]


async def test_a_telegram_received_twice_is_decided_once(tmp_path: Path) -> None:
    port, clock = MemoryCampaigns(), FakeClock(IWATE_MIYAGI)
    async with service_on(tmp_path, tohoku(), port, clock) as (svc, store):
        body = sample("32-35_06_03_100915_VXSE53.xml")
        assert (await handle_jma(svc, body))[1]["decision"] == "propose"
        status, answer = await handle_jma(svc, body)
        assert status == 200 and answer["decision"] == "ignore" and "already received" in answer["reason"]
        assert len(port.campaigns) == 1 and len(await store.triggers.recent()) == 1


async def test_a_restart_remembers_the_campaign_of_an_event(tmp_path: Path) -> None:
    port, clock = MemoryCampaigns(), FakeClock(IWATE_MIYAGI)
    async with service_on(tmp_path, tohoku(), port, clock) as (svc, _):
        assert (await svc.ingest_jma(sample("32-35_06_03_100915_VXSE53.xml"))).decision == "propose"
    async with service_on(tmp_path, tohoku(), port, clock) as (svc, _):
        d = await svc.ingest_jma(sample("32-35_06_05_100915_VXSE53.xml"))
        assert (d.decision, d.campaign) == ("update", 1)
        assert (await svc.ingest_jma(sample("32-35_06_03_100915_VXSE53.xml"))).decision == "ignore"
    assert len(port.campaigns) == 1


async def test_two_processes_decide_one_earthquake_as_one(tmp_path: Path) -> None:
    """Review: each process kept its own memory, loaded once. The 震度速報 pushed to one made #1, the
    震源・震度情報 of the same earthquake pushed to the other made #2, and its 取消, landing on the second,
    never withdrew #1. Each now reads what the others stored since it last looked."""
    port, clock = MemoryCampaigns(), FakeClock(IWATE_MIYAGI)
    async with service_on(tmp_path, tohoku(), port, clock) as (a, store):
        b = TriggerService(store, tohoku(), port, clock)
        await b.load()  # b serves its first push before a's decision: its memory has none of it
        await clock.advance(30)
        assert (await a.ingest_jma(sample("32-35_06_03_100915_VXSE53.xml"))).decision == "propose"
        await clock.advance(30)
        d = await b.ingest_jma(sample("32-35_06_05_100915_VXSE53.xml"))
        assert (d.decision, d.campaign) == ("update", 1)
        assert (await b.ingest_jma(sample("32-35_06_03_100915_VXSE53.xml"))).decision == "ignore"  # a's, seen
        withdrawn = await a.ingest_jma(sample("32-35_06_06_100915_VXSE53.xml"))
        assert (withdrawn.decision, withdrawn.campaign) == ("withdraw", 1)
        assert len(port.campaigns) == 1 and port.campaigns[1].state == "cancelled"


async def test_a_proposal_started_by_an_admin_is_left_running(tmp_path: Path) -> None:
    port, clock = MemoryCampaigns(), FakeClock(IWATE_MIYAGI)
    async with service_on(tmp_path, tohoku(), port, clock) as (svc, _):
        await svc.ingest_jma(sample("32-35_06_03_100915_VXSE53.xml"))
        port.campaigns[1].state = "running"  # one click in the console
        d = await svc.ingest_jma(sample("32-35_06_06_100915_VXSE53.xml"))
        assert d.decision == "withdraw" and "already been started by a city admin" in d.reason
        assert port.campaigns[1].state == "running"


def another_quake(hours: int) -> bytes:
    """The first report of the Iwate-Miyagi earthquake as a new earthquake of the same strength `hours` later."""
    body = sample("32-35_06_03_100915_VXSE53.xml")
    for before, after in ((b"20080614084350", f"20080614{8 + hours:02d}4350"),
                          (b"2008-06-14T08:47:00+09:00", f"2008-06-14T{8 + hours:02d}:47:00+09:00"),
                          (b"2008-06-13T23:47:47Z", f"2008-06-14T{hours - 1:02d}:47:47Z")):
        body = body.replace(before, after.encode())
    return body


async def test_a_proposal_a_person_cancelled_is_not_updated_a_report_raising_it_proposes_anew(tmp_path: Path) -> None:
    """Review: the on-call admin cancelled the proposal of a 震度5弱 report; the next report, stronger for the
    city, was "updated" into the cancelled campaign: nothing happened, no new proposal, no alert."""
    port, clock = MemoryCampaigns(), FakeClock(IWATE_MIYAGI)
    async with service_on(tmp_path, tohoku(), port, clock) as (svc, store):
        assert (await svc.ingest_jma(sample("32-35_06_03_100915_VXSE53.xml"))).decision == "propose"
        port.campaigns[1].state = "cancelled"  # 取消 on /city
        same = await svc.ingest_jma(sample("32-35_06_04_100915_VXSE53.xml"))  # raises nothing
        assert (same.decision, same.campaign) == ("ignore", 1)
        assert "campaign #1 was cancelled by city hall: no campaign." in same.reason
        assert "市役所で中止されているため、安否確認は作りません" in say_reason(same.parts, "ja")
        raised = await svc.ingest_jma(sample("32-35_06_05_100915_VXSE53.xml"))  # 金ケ崎町 reaches the threshold
        assert (raised.decision, raised.campaign, raised.mode) == ("propose", 2, "propose")
        assert raised.reason.startswith("Same event as campaign #1, which city hall cancelled; raised since for your "
                                        "places: 金ケ崎町")
        assert raised.reason.endswith("As for a new event, campaign proposed: a city admin starts it, then a second "
                                      "city admin approves it before anything is sent.")
        ja = say_reason(raised.parts, "ja")
        assert ja.startswith("同じ地震の安否確認 #1 は市役所で中止されていますが") and "安否確認を提案しました" in ja
        new = port.campaigns[2]
        assert (new.state, new.request.kind, new.request.start) == ("draft", "real", False)  # two people, as ever
        assert new.request.reason == raised.reason
        assert port.campaigns[1].updates == [] and port.campaigns[1].state == "cancelled"
        assert port.reads == [1]  # asked about once: once ended, it ends its event for good
        assert [(r.decision, r.campaign_id) for r in reversed(await store.triggers.recent())] == [
            ("propose", 1), ("ignore", 1), ("propose", 2)]
    async with service_on(tmp_path, tohoku(), port, clock) as (svc, _):  # a restart: the event's campaign is #2
        d = await svc.ingest_jma(sample("32-35_06_06_100915_VXSE53.xml"))
        assert (d.decision, d.campaign) == ("withdraw", 2) and port.campaigns[2].state == "cancelled"


@pytest.mark.parametrize(("ended", "word"), [("cancelled", "中止"), ("closed", "終了")])
async def test_a_cancellation_after_a_person_ended_the_campaign_claims_nothing_left_running(
        tmp_path: Path, ended: str, word: str) -> None:
    """Review: a 取消 after a person's cancel said the proposal was "left running… city admins get a staff alert"."""
    port, clock = MemoryCampaigns(), FakeClock(IWATE_MIYAGI)
    async with service_on(tmp_path, tohoku(), port, clock) as (svc, _):
        await svc.ingest_jma(sample("32-35_06_03_100915_VXSE53.xml"))
        port.campaigns[1].state = ended
        d = await svc.ingest_jma(sample("32-35_06_06_100915_VXSE53.xml"))
        assert (d.decision, d.campaign) == ("ignore", 1)
        assert d.reason.endswith(f"(取消); campaign #1 had already been {ended} by city hall: nothing to withdraw.")
        assert "left running" not in d.reason and "staff alert" not in d.reason
        assert f"すでに市役所で{word}されているため、取り下げるものはありません" in say_reason(d.parts, "ja")
        assert port.campaigns[1].state == ended


async def test_an_equal_quake_after_a_campaign_city_hall_closed_is_no_aftershock(tmp_path: Path) -> None:
    """Review: city hall closed the campaign early, and an equally strong new earthquake within the aftershock
    window was ignored as an aftershock of it."""
    port, clock = MemoryCampaigns(), FakeClock(IWATE_MIYAGI)
    async with service_on(tmp_path, tohoku(action="start"), port, clock) as (svc, _):
        assert (await svc.ingest_jma(sample("32-35_06_03_100915_VXSE53.xml"))).decision == "start"
        port.campaigns[1].state = "closed"  # all safe, closed on /city
        await clock.advance(3600)
        d = await svc.ingest_jma(another_quake(1))
        assert (d.decision, d.campaign) == ("start", 2)
        assert "aftershock" not in d.reason and d.reason.startswith("震度6強 in 岩手県内陸南部、宮城県北部")
        assert port.campaigns[2].request.start is True
        await clock.advance(3600)
        after = await svc.ingest_jma(another_quake(2))  # the open campaign #2 is what aftershocks are measured by
        assert after.decision == "ignore" and "aftershock" in after.reason and "campaign #2" in after.reason
        assert port.reads == [1, 2]  # one read per campaign still counted on; an ended one is not asked again


async def test_action_start_and_drills(tmp_path: Path) -> None:
    cfg = Config(triggers=TriggersConfig(jma=JmaConfig(areas=("440", "442"), min_intensity="5-", action="start",
                                                      drills=True)))
    port, clock = MemoryCampaigns(), FakeClock(1254372600.0 + 60)  # 2009-10-01 13:50 JST
    async with service_on(tmp_path, cfg, port, clock) as (svc, _):
        d = await svc.ingest_jma(sample("32-35_01_03_100806_VXSE53.xml"))
        assert (d.decision, d.kind) == ("start", "drill")
        c = port.campaigns[1]
        assert (c.state, c.request.kind, c.request.start) == ("running", "drill", True)
        assert c.request.title.startswith("【訓練】")


async def test_an_old_telegram_is_recorded_but_not_acted_on(tmp_path: Path) -> None:
    port, clock = MemoryCampaigns(), FakeClock(IWATE_MIYAGI + 13 * 3600)
    async with service_on(tmp_path, tohoku(), port, clock) as (svc, store):
        d = await svc.ingest_jma(sample("32-35_06_03_100915_VXSE53.xml"))
        assert d.decision == "ignore" and "too old to act on" in d.reason and "campaign proposed" in d.reason
        # a Japanese reader reads both the age and what it would have meant in Japanese
        ja = say_reason(d.parts, "ja")
        assert "古すぎて対応しません" in ja and "安否確認を提案しました" in ja and "campaign" not in ja
        assert port.campaigns == {}
        assert [r.decision for r in await store.triggers.recent()] == ["ignore"]


async def test_a_failing_campaign_side_records_nothing_so_a_retry_acts(tmp_path: Path) -> None:
    port, clock = MemoryCampaigns(), FakeClock(IWATE_MIYAGI)
    async with service_on(tmp_path, tohoku(), port, clock) as (svc, store):
        port.fail = True
        with pytest.raises(RuntimeError):
            await svc.ingest_jma(sample("32-35_06_03_100915_VXSE53.xml"))
        assert await store.triggers.recent() == []
        port.fail = False
        assert (await svc.ingest_jma(sample("32-35_06_03_100915_VXSE53.xml"))).decision == "propose"


BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
                  b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><Report xmlns="http://xml.kishou.go.jp/jmaxml1/">&c;</Report>')
XXE = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
       b'<Report xmlns="http://xml.kishou.go.jp/jmaxml1/"><Control><Title>&x;</Title></Control></Report>')


@pytest.mark.parametrize(("body", "message"), [
    (b"<Report xmlns='http://xml.kishou.go.jp/jmaxml1/'><Control>", "not well-formed XML"),
    ((CAP / "01-actual-alert.xml").read_bytes(), "not a JMA telegram"),
    (b"<x/>" + b" " * MAX_BODY_BYTES, "larger than the limit of 1048576 bytes"),
    (BILLION_LAUGHS, "declares a DTD or entities"),
    (XXE, "declares a DTD or entities"),
])
async def test_http_refusals_are_400_with_no_campaign(tmp_path: Path, body: bytes, message: str) -> None:
    port, clock = MemoryCampaigns(), FakeClock(IWATE_MIYAGI)
    async with service_on(tmp_path, tohoku(), port, clock) as (svc, store):
        status, answer = await handle_jma(svc, body)
        assert status == 400 and message in answer["error"], answer
        assert port.campaigns == {} and await store.triggers.recent() == []


async def test_cap_over_http(tmp_path: Path) -> None:
    cfg = Config(triggers=TriggersConfig(cap=CapConfig(codes=("17201",), action="propose")))
    port, clock = MemoryCampaigns(), FakeClock(1775005200.0 + 60)
    async with service_on(tmp_path, cfg, port, clock) as (svc, store):
        status, answer = await handle_cap(svc, (CAP / "01-actual-alert.xml").read_bytes())
        assert (status, answer["decision"], answer["campaign"], answer["kind"]) == (200, "propose", 1, "real")
        assert port.campaigns[1].request.messages == {
            "ja": "金沢市に土砂災害警戒情報\n大雨により土砂災害の危険度が高まっています。\n安全な場所へ避難してください。",
            "en": "Landslide warning for Kanazawa\nHeavy rain has raised the risk of landslides.\nMove to a safe place now.",
        }
        assert (await handle_cap(svc, (CAP / "02-actual-update.xml").read_bytes()))[1]["decision"] == "update"
        assert port.campaigns[1].title == "金沢市の土砂災害警戒情報（更新）"
        status, answer = await handle_cap(svc, sample("32-35_04_01_100831_VXSE51.xml"))
        assert status == 400 and "not a CAP 1.2 alert" in answer["error"]
        assert [r.source for r in await store.triggers.recent()] == ["cap", "cap"]


async def test_ingest_any_refuses_garbage(tmp_path: Path) -> None:
    port, clock = MemoryCampaigns(), FakeClock(IWATE_MIYAGI)
    async with service_on(tmp_path, tohoku(), port, clock) as (svc, _):
        with pytest.raises(TriggerInputError):
            await svc.ingest_any(b"\x00\x01", "file:junk.xml")


def cap_update_also_naming(code: str, name: str) -> bytes:
    """The sample update of the Kanazawa alert as another update of it that also names `code`."""
    body = (CAP / "02-actual-update.xml").read_bytes()
    more = (f"</area>\n    <area><areaDesc>{name}</areaDesc><geocode><valueName>JIS X0402</valueName>"
            f"<value>{code}</value></geocode></area>")
    return body.replace(b"ISK-2026-0002<", b"ISK-2026-0004<").replace(b"</area>", more.encode(), 1)


def kanazawa(*codes: str) -> Config:
    return Config(triggers=TriggersConfig(cap=CapConfig(codes=codes or ("17201",), action="propose")))


async def test_a_cap_alert_whose_campaign_a_person_closed_is_updated_and_cancelled_into_nothing(tmp_path: Path) -> None:
    port, clock = MemoryCampaigns(), FakeClock(1775005200.0 + 60)
    async with service_on(tmp_path, kanazawa(), port, clock) as (svc, _):
        assert (await svc.ingest_cap((CAP / "01-actual-alert.xml").read_bytes())).decision == "propose"
        port.campaigns[1].state = "closed"
        update = await svc.ingest_cap((CAP / "02-actual-update.xml").read_bytes())
        assert (update.decision, update.campaign) == ("ignore", 1)
        assert update.reason == ("A later message of the alert of campaign #1, which city hall closed, names none of "
                                 "your areas anew: no campaign.")
        assert port.campaigns[1].updates == [] and port.campaigns[1].title == "金沢市に土砂災害警戒情報"
        cancel = await svc.ingest_cap((CAP / "03-actual-cancel.xml").read_bytes())  # it refers to the update
        assert (cancel.decision, cancel.campaign) == ("ignore", 1)
        assert cancel.reason == ("The sender cancelled the alert of campaign #1, which city hall had already closed: "
                                 "nothing to withdraw.")
        assert "すでに市役所で終了されているため" in say_reason(cancel.parts, "ja")
        assert len(port.campaigns) == 1 and port.campaigns[1].state == "closed"


async def test_a_cap_update_naming_new_areas_after_a_person_cancelled_proposes_anew(tmp_path: Path) -> None:
    port, clock = MemoryCampaigns(), FakeClock(1775005200.0 + 60)
    async with service_on(tmp_path, kanazawa("17201", "17202"), port, clock) as (svc, _):
        assert (await svc.ingest_cap((CAP / "01-actual-alert.xml").read_bytes())).decision == "propose"
        port.campaigns[1].state = "cancelled"
        d = await svc.ingest_cap(cap_update_also_naming("17202", "石川県七尾市"))
        assert (d.decision, d.campaign, d.kind) == ("propose", 2, "real")
        assert d.reason.startswith("A later message of the alert of campaign #1, which city hall cancelled, names more "
                                   "of your areas: ")
        assert "七尾市" in d.reason and "a second city admin approves it" in d.reason
        assert port.campaigns[2].request.start is False and port.campaigns[1].updates == []

"""The trigger rules on built telegrams: aftershocks, corrections, cancellations, drills, memory."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt

from conftest import DATA

from safetynet.domain.triggers import Decision, TriggerRules, TriggerState, TsunamiGrade, intensity_rank
from safetynet.triggers.jma import JmaTelegram, parse_jma
from safetynet.triggers.rules import apply, decide

JST = dt.timezone(dt.timedelta(hours=9))
T0 = dt.datetime(2026, 4, 1, 10, 0, tzinfo=JST)
RULES = TriggerRules(areas=frozenset({"771"}), coasts=frozenset({"770"}), min_intensity=intensity_rank("5-"),
                     action="start", drills=True)

# Built on the structure of the official 震度速報/震源・震度情報 (VXSE51/VXSE53) and VTSE41 samples.
_TITLES = {"flash": "震度速報", "detail": "震源・震度に関する情報"}
_QUAKE = """<?xml version="1.0" encoding="UTF-8"?>
<Report xmlns="http://xml.kishou.go.jp/jmaxml1/">
 <Control><Title>{title}</Title><DateTime>{control}</DateTime><Status>{status}</Status>
  <EditorialOffice>気象庁本庁</EditorialOffice><PublishingOffice>気象庁</PublishingOffice></Control>
 <Head xmlns="http://xml.kishou.go.jp/jmaxml1/informationBasis1/">
  <Title>{title}</Title><ReportDateTime>{report}</ReportDateTime><TargetDateTime>{report}</TargetDateTime>
  <EventID>{event}</EventID><InfoType>{info}</InfoType><Serial>{serial}</Serial>
  <InfoKind>地震情報</InfoKind><InfoKindVersion>1.0_0</InfoKindVersion>
  <Headline><Text>地震による強い揺れを感じました。</Text></Headline></Head>
 <Body xmlns="http://xml.kishou.go.jp/jmaxml1/body/seismology1/"><Intensity><Observation>
  <MaxInt>{intensity}</MaxInt>
  <Pref><Name>鹿児島県</Name><Code>46</Code><MaxInt>{intensity}</MaxInt>
   <Area><Name>鹿児島県大隅</Name><Code>771</Code><MaxInt>{intensity}</MaxInt></Area></Pref>
 </Observation></Intensity></Body>
</Report>"""
_TSUNAMI = """<?xml version="1.0" encoding="UTF-8"?>
<Report xmlns="http://xml.kishou.go.jp/jmaxml1/">
 <Control><Title>津波警報・注意報・予報a</Title><DateTime>{control}</DateTime><Status>{status}</Status></Control>
 <Head xmlns="http://xml.kishou.go.jp/jmaxml1/informationBasis1/">
  <Title>津波警報</Title><ReportDateTime>{report}</ReportDateTime><EventID>{event}</EventID>
  <InfoType>{info}</InfoType><Serial></Serial><Headline><Text>津波警報を発表しました。</Text></Headline></Head>
 <Body xmlns="http://xml.kishou.go.jp/jmaxml1/body/seismology1/"><Tsunami><Forecast><Item>
  <Area><Name>鹿児島県東部</Name><Code>770</Code></Area>
  <Category><Kind><Name>津波警報</Name><Code>{code}</Code></Kind></Category>
 </Item></Forecast></Tsunami></Body>
</Report>"""


def quake(minutes: float, intensity: str, event: str = "20260401100000", *, kind: str = "flash",
          info: str = "発表", status: str = "通常", serial: str = "", rules: TriggerRules = RULES) -> JmaTelegram:
    when = T0 + dt.timedelta(minutes=minutes)
    body = _QUAKE.format(title=_TITLES[kind], control=when.astimezone(dt.UTC).isoformat(), status=status,
                         report=when.isoformat(), event=event, info=info, serial=serial, intensity=intensity)
    return parse_jma(body.encode(), rules)


def tsunami(minutes: float, code: str, event: str = "20260401100000", info: str = "発表") -> JmaTelegram:
    when = T0 + dt.timedelta(minutes=minutes)
    body = _TSUNAMI.format(control=when.astimezone(dt.UTC).isoformat(), status="通常", report=when.isoformat(),
                           event=event, info=info, code=code)
    return parse_jma(body.encode(), RULES)


class Run:
    """Feeds telegrams like the replay does, numbering created campaigns from 1."""

    def __init__(self, rules: TriggerRules = RULES) -> None:
        self.rules = rules
        self.state = TriggerState()
        self.created = 0
        self.decisions: list[Decision] = []

    def __call__(self, t: JmaTelegram) -> Decision:
        d = decide(t, self.state, self.rules)
        if d.creates:
            self.created += 1
            d = dataclasses.replace(d, campaign=self.created)
        apply(self.state, d)
        self.decisions.append(d)
        return d


def test_stronger_quake_within_window_starts_and_becomes_the_reference() -> None:
    run = Run()
    assert run(quake(0, "5-", "E1")).decision == "start"
    d = run(quake(60, "5+", "E2"))
    assert (d.decision, d.campaign) == ("start", 2)
    weaker = run(quake(120, "5+", "E3"))  # compared with E2 now, not E1
    assert weaker.decision == "ignore" and "aftershock" in weaker.reason and "#2" in weaker.reason


def test_after_the_window_a_quake_starts_again() -> None:
    run = Run()
    run(quake(0, "6-", "E1"))
    assert run(quake(6 * 60 - 1, "5-", "E2")).decision == "ignore"
    assert run(quake(6 * 60 + 1, "5-", "E3")).decision == "start"


def test_window_length_comes_from_the_config() -> None:
    run = Run(dataclasses.replace(RULES, aftershock_window_seconds=3600))
    run(quake(0, "6-", "E1"))
    assert run(quake(61, "5-", "E2")).decision == "start"


def test_later_report_raises_never_duplicates() -> None:
    run = Run(dataclasses.replace(RULES, action="propose"))
    assert run(quake(0, "5-")).decision == "propose"
    same = run(quake(1, "5-", serial="1", kind="detail"))
    assert (same.decision, same.campaign) == ("ignore", 1) and "no change" in same.reason
    up = run(quake(2, "6+", serial="2", kind="detail"))
    assert (up.decision, up.campaign) == ("update", 1)
    assert "鹿児島県大隅 震度6強 (was 震度5弱)" in up.reason
    assert up.title.startswith("地震 震度6強 鹿児島県大隅")
    assert run.created == 1


def test_correction_updates_even_downwards() -> None:
    run = Run()
    run(quake(0, "5+", serial="1", kind="detail"))
    d = run(quake(5, "4", serial="1", kind="detail", info="訂正"))
    assert (d.decision, d.campaign) == ("update", 1)
    assert "訂正" in d.reason and "below your threshold" in d.reason


def test_cancel_withdraws_a_proposal_and_only_explains_for_a_started_one() -> None:
    proposed = Run(dataclasses.replace(RULES, action="propose"))
    proposed(quake(0, "6-"))
    d = proposed(quake(5, "6-", info="取消"))
    assert (d.decision, d.campaign, d.mode) == ("withdraw", 1, "propose")
    assert "withdrawn" in d.reason
    started = Run()
    started(quake(0, "6-"))
    d = started(quake(5, "6-", info="取消"))
    assert (d.decision, d.mode) == ("withdraw", "start")
    assert "not stopped by itself" in d.reason


def test_cancel_of_one_report_keeps_a_campaign_another_supports() -> None:
    run = Run()
    run(quake(0, "6-", kind="flash"))
    run(quake(3, "6-", kind="detail", serial="1"))
    kept = run(quake(6, "6-", kind="flash", info="取消"))
    assert kept.decision == "ignore" and "still reports" in kept.reason
    gone = run(quake(9, "6-", kind="detail", serial="1", info="取消"))
    assert (gone.decision, gone.campaign) == ("withdraw", 1)


def test_a_withdrawn_event_reported_again_gets_a_new_campaign() -> None:
    run = Run(dataclasses.replace(RULES, action="propose"))
    run(quake(0, "6-"))
    run(quake(1, "6-", info="取消"))
    again = run(quake(10, "6-", kind="detail", serial="1"))
    assert (again.decision, again.campaign) == ("propose", 2)


def test_withdrawn_campaign_does_not_count_for_aftershocks() -> None:
    run = Run(dataclasses.replace(RULES, action="propose"))
    run(quake(0, "6-", "E1"))
    run(quake(1, "6-", "E1", info="取消"))
    assert run(quake(30, "5-", "E2")).decision == "propose"


def test_an_event_a_person_ended_is_ignored_until_a_report_raises_it_then_it_gets_a_new_campaign() -> None:
    run = Run(dataclasses.replace(RULES, action="propose"))
    run(quake(0, "5-"))
    run.state.events["real:20260401100000"].ended = "cancelled"  # as the service learns it
    same = run(quake(1, "5-", kind="detail", serial="1"))
    assert (same.decision, same.campaign, same.earlier, same.ended) == ("ignore", 1, 1, "cancelled")
    assert "campaign #1 was cancelled by city hall: no campaign" in same.reason
    up = run(quake(2, "6-", kind="detail", serial="2"))
    assert (up.decision, up.campaign, up.earlier) == ("propose", 2, 1)
    assert "which city hall cancelled; raised since for your places: 鹿児島県大隅 震度6弱 (was 震度5弱)" in up.reason
    assert up.title.startswith("地震 震度6弱 鹿児島県大隅")
    # the new campaign is the event's now: updated, never duplicated, by what rises above what was known
    assert run(quake(3, "6-", kind="detail", serial="3")).decision == "ignore"
    assert (run(quake(4, "6+", kind="detail", serial="4")).decision, run.created) == ("update", 2)


def test_a_tsunami_warning_after_a_person_closed_the_earthquakes_campaign_makes_a_new_one() -> None:
    run = Run()
    run(quake(0, "6-", "E1"))
    run.state.events["real:E1"].ended = "closed"
    d = run(tsunami(20, "51", "E1"))
    assert (d.decision, d.hazard, d.campaign) == ("start", "tsunami", 2)
    assert "鹿児島県東部 津波警報 (new)" in d.reason and "campaign #1, which city hall closed" in d.reason


def test_a_campaign_a_person_ended_is_never_what_aftershocks_are_measured_by() -> None:
    run = Run()
    run(quake(0, "6-", "E1"))
    run.state.events["real:E1"].ended = "closed"
    d = run(quake(30, "5-", "E2"))
    assert (d.decision, d.campaign) == ("start", 2) and "aftershock" not in d.reason
    assert "aftershock" in run(quake(40, "5-", "E3")).reason  # measured by E2's open campaign


def test_a_cancellation_of_an_event_a_person_ended_withdraws_nothing() -> None:
    for action in ("propose", "start"):
        run = Run(dataclasses.replace(RULES, action=action))
        run(quake(0, "6-"))
        run.state.events["real:20260401100000"].ended = "cancelled"
        d = run(quake(5, "6-", info="取消"))
        assert (d.decision, d.campaign) == ("ignore", 1)
        assert d.reason.endswith("campaign #1 had already been cancelled by city hall: nothing to withdraw.")
        assert "staff alert" not in d.reason and not run.state.events["real:20260401100000"].withdrawn


def test_stored_decisions_rebuild_an_event_a_person_ended() -> None:
    run = Run()
    run(quake(0, "5-", "E1"))
    run.state.events["real:E1"].ended = "cancelled"
    for t in (quake(1, "5-", "E1", kind="detail", serial="1"), quake(2, "6-", "E1", kind="detail", serial="2")):
        run(t)
    rebuilt = TriggerState()
    for d in run.decisions:
        apply(rebuilt, Decision.from_json(d.to_json()))
    assert rebuilt == run.state and rebuilt.events["real:E1"].campaign == 2


def test_drills_are_drills_and_apart_from_real_events() -> None:
    run = Run()
    drill = run(quake(0, "6+", "E1", status="訓練"))
    assert (drill.decision, drill.kind) == ("start", "drill")
    assert drill.title.startswith("【訓練】") and drill.reason.startswith("Drill (訓練)")
    real = run(quake(1, "5-", "E1"))  # same EventID, but real: its own campaign, no aftershock of a drill
    assert (real.decision, real.kind, real.campaign) == ("start", "real", 2)
    off = Run(dataclasses.replace(RULES, drills=False))
    d = off(quake(0, "7", status="訓練"))
    assert d.decision == "ignore" and "drills are switched off" in d.reason


def test_test_telegrams_and_thresholds() -> None:
    run = Run()
    assert "試験" in run(quake(0, "7", status="試験")).reason
    below = run(quake(1, "4", "E2"))
    assert below.decision == "ignore" and "below your threshold of 震度5弱" in below.reason
    other = dataclasses.replace(RULES, areas=frozenset({"999"}))
    assert "None of your areas" in Run(other)(quake(0, "7", rules=other)).reason


def test_duplicate_is_ignored() -> None:
    run = Run()
    t = quake(0, "6-")
    assert run(t).decision == "start"
    assert "already received" in run(t).reason


def test_tsunami_warning_raises_an_earthquake_campaign_and_starts_alone() -> None:
    run = Run()
    run(quake(0, "5-", "E1"))
    up = run(tsunami(3, "51", "E1"))
    assert (up.decision, up.hazard, up.campaign) == ("update", "tsunami", 1)
    assert "鹿児島県東部 津波警報 (new)" in up.reason
    advisory = Run()(tsunami(0, "62", "E9"))
    assert advisory.decision == "ignore" and "advisory" in advisory.reason
    alone = Run()(tsunami(0, "52", "E9"))
    assert (alone.decision, alone.hazard, alone.tsunami) == ("start", "tsunami", TsunamiGrade.MAJOR)
    # another event's tsunami warning within the window starts only if graver than the last campaign's
    assert "aftershock" in run(tsunami(30, "51", "E2")).reason
    assert run(tsunami(31, "52", "E3")).decision == "start"
    quake_only = Run()
    quake_only(quake(0, "6-", "E1"))
    assert quake_only(tsunami(30, "51", "E2")).decision == "start"


def test_decide_is_pure() -> None:
    run = Run()
    run(quake(0, "5-", "E1"))
    before = copy.deepcopy(run.state)
    decide(quake(2, "7", "E1"), run.state, RULES)
    decide(quake(3, "7", "E2"), run.state, RULES)
    assert run.state == before


def test_stored_decisions_rebuild_the_same_memory() -> None:
    run = Run(dataclasses.replace(RULES, action="propose"))
    for t in (quake(0, "5-", "E1"), quake(1, "6-", "E1", kind="detail", serial="1"), quake(20, "5-", "E2"),
              tsunami(25, "52", "E1"), quake(30, "6+", "E3"), quake(31, "6+", "E3", info="取消")):
        run(t)
    rebuilt = TriggerState()
    for d in run.decisions:
        apply(rebuilt, Decision.from_json(d.to_json()))
    assert rebuilt == run.state


def test_the_reasons_say_a_real_event_waits_for_a_city_admins_approval() -> None:
    """QA: with action = "start" the log and the replay said "campaign started automatically" of a real
    event that waits for a city admin's approval (two-person rule), and with "propose" that "a city admin
    confirms it with one click" though a second admin must approve it too. A drill does start by itself."""
    started = Run()
    real = started(quake(0, "6-"))
    assert "approval asked: nothing is sent until a city admin approves it" in real.reason
    assert "started automatically" not in real.reason
    drill = started(quake(0, "6-", "E2", status="訓練"))
    assert drill.reason.endswith("campaign started automatically.")
    cancelled = started(quake(5, "6-", info="取消"))
    assert "wait for a city admin's approval" in cancelled.reason and "still waiting, it is cancelled" in cancelled.reason
    assert "close it on /city" in cancelled.reason and "staff alert" in cancelled.reason
    assert "started automatically" not in cancelled.reason
    proposed = Run(dataclasses.replace(RULES, action="propose"))
    real = proposed(quake(0, "6-"))
    assert "a city admin starts it, then a second city admin approves it before anything is sent" in real.reason
    assert "one click" not in real.reason
    assert "a city admin can start it with one click" in proposed(quake(0, "6-", "E2", status="訓練")).reason


def test_a_title_with_more_than_three_places_is_japanese() -> None:
    # QA: "静岡県中部、静岡県西部、静岡県伊豆 and 1 more", English in the title residents and city staff read
    shizuoka = TriggerRules(areas=frozenset({"440", "441", "442", "443"}), coasts=frozenset({"210", "220", "250", "300"}),
                            min_intensity=intensity_rank("5-"), action="start")
    quake = parse_jma((DATA / "jma" / "32-35_01_01_100806_VXSE51.xml").read_bytes(), shizuoka)
    d = decide(quake, TriggerState(), shizuoka)
    assert d.title == "地震 震度6弱 静岡県中部、静岡県西部、静岡県伊豆ほか1地域 (2009-08-11 05:09)"
    wave = parse_jma((DATA / "jma" / "32-39_11_02_120615_VTSE41.xml").read_bytes(), shizuoka)
    assert decide(wave, TriggerState(), shizuoka).title == "大津波警報 岩手県、宮城県、福島県ほか1地域"

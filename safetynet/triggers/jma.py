"""JMA disaster-information XML (気象庁防災情報XML): earthquake and tsunami telegrams into `JmaTelegram`.

Pure: bytes in, a typed telegram out, or `TriggerInputError` with a message fit to show.
Only the configured places are kept: the intensities of your areas (地震情報／細分区域) and
cities (市町村等), and the tsunami grades of your coasts (津波予報区).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from safetynet.domain.triggers import (
    KIND_BY_TITLE,
    UNRECEIVED_5LOWER,
    AreaMatch,
    JmaKind,
    TriggerInputError,
    TriggerRules,
    TsunamiGrade,
    intensity_rank,
)
from safetynet.triggers.xmlsafe import parse_time, parse_xml, split_tag, text_of

JMX_NS = "http://xml.kishou.go.jp/jmaxml1/"
HEAD_NS = "http://xml.kishou.go.jp/jmaxml1/informationBasis1/"
SEIS_NS = "http://xml.kishou.go.jp/jmaxml1/body/seismology1/"
NS = {"jmx": JMX_NS, "ib": HEAD_NS, "seis": SEIS_NS}

STATUSES = ("通常", "訓練", "試験")
# 遅延 (a delayed report) is an announcement like 発表.
INFO_TYPES = ("発表", "訂正", "遅延", "取消")
_MAX_FIELD = 100  # longest EventID/Serial/Title we accept; real ones are under 30 characters
RANK_5LOWER = intensity_rank("5-")


@dataclass(frozen=True)
class JmaTelegram:
    kind: JmaKind
    title: str  # Control/Title, e.g. 震度速報
    head_title: str  # Head/Title, e.g. 遠地地震に関する情報
    status: str  # 通常 | 訓練 | 試験
    info_type: str  # 発表 | 訂正 | 遅延 | 取消
    event_id: str
    serial: str
    report_time: float  # Head/ReportDateTime, epoch seconds
    message_time: float  # Control/DateTime: when this very message was made (second precision)
    message_time_text: str
    headline: str
    max_intensity: int  # highest intensity rank over your areas and cities; 0 when none reported
    matches: tuple[AreaMatch, ...]  # your places found in the telegram
    tsunami_grade: int  # highest TsunamiGrade over your coasts
    national_max_intensity: int

    @property
    def is_drill(self) -> bool:
        return self.status == "訓練"

    @property
    def is_test(self) -> bool:
        return self.status == "試験"

    @property
    def dedupe_key(self) -> str:
        # The Serial alone does not identify a telegram: 震度速報 and tsunami warnings have none and are
        # re-issued for one event; Control/DateTime tells those apart, and a re-sent copy keeps it.
        # The title keeps apart products sharing an EventID and a time (緊急地震速報 警報 and 予報).
        return f"jma:{self.title}:{self.event_id}:{self.serial}:{self.info_type}:{self.message_time_text}"

    @property
    def place_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m.name for m in self.matches))


def _kind(title: str) -> JmaKind:
    if title in KIND_BY_TITLE:
        return KIND_BY_TITLE[title]
    if title.startswith("緊急地震速報"):
        return JmaKind.EARLY_WARNING
    return JmaKind.OTHER


def _required(parent: Element, path: str, what: str) -> str:
    value = text_of(parent, path, NS)
    if not value:
        raise TriggerInputError(f"JMA telegram: {what} is missing")
    if len(value) > _MAX_FIELD:
        raise TriggerInputError(f"JMA telegram: {what} is too long ({len(value)} characters)")
    return value


def _check_root(root: Element) -> None:
    ns, local = split_tag(root.tag)
    if ns != JMX_NS or local != "Report":
        raise TriggerInputError(
            f"not a JMA telegram: the root is <{local}> in namespace {ns or '(none)'!r}; "
            f"expected <Report> in {JMX_NS!r}"
        )


def _observed(body: Element | None) -> Iterator[tuple[str, Element]]:
    """("area" | "city", element) for every area and city of Body/Intensity/Observation."""
    if body is None:
        return
    for area in body.iterfind("seis:Intensity/seis:Observation/seis:Pref/seis:Area", NS):
        yield "area", area
        for city in area.iterfind("seis:City", NS):
            yield "city", city


def _intensity_matches(body: Element | None, areas: Collection[str], cities: Collection[str]) -> list[AreaMatch]:
    found: list[AreaMatch] = []
    for level, el in _observed(body):
        code = text_of(el, "seis:Code", NS)
        if code not in (areas if level == "area" else cities):
            continue
        rank = intensity_rank(text_of(el, "seis:MaxInt", NS))
        note = text_of(el, "seis:Condition", NS)
        if note == UNRECEIVED_5LOWER:
            rank = max(rank, RANK_5LOWER)
        if rank:
            found.append(AreaMatch(code, text_of(el, "seis:Name", NS) or code, level, rank, note))
    return found


def _tsunami_matches(body: Element | None, coasts: Collection[str]) -> list[AreaMatch]:
    if body is None or not coasts:
        return []
    found: list[AreaMatch] = []
    for item in body.iterfind("seis:Tsunami/seis:Forecast/seis:Item", NS):
        code = text_of(item, "seis:Area/seis:Code", NS)
        if code in coasts:
            grade = TsunamiGrade.BY_CODE.get(text_of(item, "seis:Category/seis:Kind/seis:Code", NS), 0)
            name = text_of(item, "seis:Area/seis:Name", NS) or code
            found.append(AreaMatch(code, name, "coast", grade, text_of(item, "seis:Category/seis:Kind/seis:Name", NS)))
    return found


def parse_jma(body: bytes, rules: TriggerRules | None = None) -> JmaTelegram:
    """Parse one telegram, keeping the places of `rules` (none when it is None)."""
    return jma_from_root(parse_xml(body, "JMA telegram"), rules)


def jma_from_root(root: Element, rules: TriggerRules | None = None) -> JmaTelegram:
    rules = rules or TriggerRules()
    _check_root(root)
    control = root.find("jmx:Control", NS)
    head = root.find("ib:Head", NS)
    if control is None or head is None:
        raise TriggerInputError("JMA telegram: <Control> or <Head> is missing")
    title = _required(control, "jmx:Title", "Control/Title")
    status = _required(control, "jmx:Status", "Control/Status")
    if status not in STATUSES:
        raise TriggerInputError(f"JMA telegram: Control/Status must be 通常, 訓練 or 試験, got {status!r}")
    info_type = _required(head, "ib:InfoType", "Head/InfoType")
    if info_type not in INFO_TYPES:
        raise TriggerInputError(f"JMA telegram: Head/InfoType must be 発表, 訂正 or 取消, got {info_type!r}")
    message_time_text = _required(control, "jmx:DateTime", "Control/DateTime")
    report_text = _required(head, "ib:ReportDateTime", "Head/ReportDateTime")
    serial = text_of(head, "ib:Serial", NS)
    if len(serial) > _MAX_FIELD:
        raise TriggerInputError("JMA telegram: Head/Serial is too long")
    kind = _kind(title)
    sbody = root.find("seis:Body", NS)
    matches: list[AreaMatch] = []
    tsunami: list[AreaMatch] = []
    if kind in (JmaKind.INTENSITY_FLASH, JmaKind.HYPOCENTER_INTENSITY):
        matches = _intensity_matches(sbody, rules.areas, rules.cities)
    elif kind == JmaKind.TSUNAMI:
        tsunami = _tsunami_matches(sbody, rules.coasts)
    return JmaTelegram(
        kind=kind,
        title=title,
        head_title=text_of(head, "ib:Title", NS)[:_MAX_FIELD],
        status=status,
        info_type=info_type,
        event_id=_required(head, "ib:EventID", "Head/EventID"),
        serial=serial,
        report_time=parse_time(report_text, "JMA telegram: Head/ReportDateTime"),
        message_time=parse_time(message_time_text, "JMA telegram: Control/DateTime", dt.UTC),
        message_time_text=message_time_text,
        headline=text_of(head, "ib:Headline/ib:Text", NS)[:2000],
        max_intensity=max((m.rank for m in matches), default=0),
        matches=tuple(matches + tsunami),
        tsunami_grade=max((m.rank for m in tsunami), default=0),
        national_max_intensity=intensity_rank(
            text_of(sbody, "seis:Intensity/seis:Observation/seis:MaxInt", NS)
        ),
    )

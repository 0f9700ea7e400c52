"""Parsing JMA telegrams: the fields the rules use, and refusing what must not be read."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import DATA

from safetynet.config import Config, JmaConfig, TriggersConfig
from safetynet.domain.triggers import (
    JmaKind,
    ReasonPart,
    TriggerInputError,
    TriggerRules,
    TsunamiGrade,
    intensity_label,
    intensity_rank,
)
from safetynet.triggers.jma import parse_jma
from safetynet.triggers.reasons import say_part
from safetynet.triggers.rules import place_label
from safetynet.triggers.settings import TriggerConfigError, rules_from_config
from safetynet.triggers.xmlsafe import MAX_BODY_BYTES

JMA = DATA / "jma"
ISHIKAWA = TriggerRules(areas=frozenset({"390", "391"}), cities=frozenset({"1720100"}),
                        coasts=frozenset({"360", "361"}), min_intensity=3)


def sample(name: str) -> bytes:
    return (JMA / name).read_bytes()


def test_intensity_flash_fields() -> None:
    t = parse_jma(sample("32-35_01_01_100806_VXSE51.xml"), ISHIKAWA)
    assert t.kind == JmaKind.INTENSITY_FLASH
    assert (t.title, t.status, t.info_type, t.event_id, t.serial) == ("震度速報", "通常", "発表", "20090811050711", "")
    assert t.report_time == 1249934940.0  # 2009-08-11T05:09:00+09:00
    assert t.national_max_intensity == intensity_rank("6-")
    assert t.max_intensity == intensity_rank("3")
    assert t.place_names == ("石川県加賀",)
    assert t.headline.startswith("１１日０５時０７分ころ")


def test_city_intensities_of_ishikawa() -> None:
    t = parse_jma(sample("32-35_07_06_100915_VXSE53.xml"), ISHIKAWA)
    assert t.kind == JmaKind.HYPOCENTER_INTENSITY and t.serial == "1"
    found = {(m.level, m.code, m.name, m.rank) for m in t.matches}
    assert found == {("area", "390", "石川県能登", 3), ("area", "391", "石川県加賀", 3),
                     ("city", "1720100", "金沢市", 2)}


def test_unreceived_5lower_counts_as_5lower() -> None:
    rules = TriggerRules(cities=frozenset({"0338100"}))  # 金ケ崎町: no MaxInt, 震度５弱以上未入電
    t = parse_jma(sample("32-35_06_03_100915_VXSE53.xml"), rules)
    [m] = t.matches
    assert (m.name, m.rank, m.note) == ("金ケ崎町", intensity_rank("5-"), "震度５弱以上未入電")
    # a reason names it as JMA does, in both languages of the replay
    label = place_label(m)
    assert isinstance(label, ReasonPart)
    assert "未入電" in say_part(label, "en") and "未入電" in say_part(label, "ja")


def test_trailing_space_in_maxint_is_read() -> None:
    # 熱海市 carries "<MaxInt>4 </MaxInt>" in the 2009 drill telegram
    t = parse_jma(sample("32-35_01_03_100806_VXSE53.xml"), TriggerRules(cities=frozenset({"2220500"})))
    assert [m.rank for m in t.matches] == [4]


def test_tsunami_grades_per_coast() -> None:
    rules = TriggerRules(coasts=frozenset({"220", "380", "391"}))
    t = parse_jma(sample("32-39_11_02_120615_VTSE41.xml"), rules)
    assert t.kind == JmaKind.TSUNAMI
    grades = {m.name: m.rank for m in t.matches}
    assert grades == {"宮城県": TsunamiGrade.MAJOR, "静岡県": TsunamiGrade.ADVISORY, "伊勢・三河湾": TsunamiGrade.NONE}
    assert t.tsunami_grade == TsunamiGrade.MAJOR
    # 津波予報区 391 is 伊勢・三河湾, not 石川県加賀: coast codes are kept apart from area codes
    assert parse_jma(sample("32-39_11_02_120615_VTSE41.xml"), TriggerRules(areas=frozenset({"391"}))).matches == ()


def test_status_and_info_type() -> None:
    assert parse_jma(sample("54_01_01_100514_VXSE42.xml")).is_test
    assert parse_jma(sample("32-35_01_03_100806_VXSE53.xml")).is_drill
    assert parse_jma(sample("32-35_06_06_100915_VXSE53.xml")).info_type == "取消"
    assert parse_jma(sample("36_02_01_100915_VXSE41.xml")).kind == JmaKind.EARLY_WARNING
    assert parse_jma(sample("32-35_06_01_100915_VXSE52.xml")).kind == JmaKind.HYPOCENTER
    assert parse_jma(sample("74_02_01_200512_VXSE56.xml")).kind == JmaKind.OTHER


def test_dedupe_key_tells_reissued_telegrams_apart() -> None:
    a = parse_jma(sample("32-35_01_01_100806_VXSE51.xml"))
    same = parse_jma(sample("32-35_07_01_100915_VXSE51.xml"))  # the same telegram, other whitespace
    later = parse_jma(sample("32-35_07_02_100915_VXSE51.xml"))  # same event, no Serial, 15 s later
    assert a.dedupe_key == same.dedupe_key
    assert a.dedupe_key != later.dedupe_key
    warning = parse_jma(sample("37_03_01_100915_VXSE40.xml"))
    forecast = parse_jma(sample("36_03_01_100915_VXSE41.xml"))  # same EventID, serial and second
    assert warning.dedupe_key != forecast.dedupe_key


def test_every_sample_parses() -> None:
    for path in sorted(JMA.glob("*.xml")):
        t = parse_jma(path.read_bytes(), ISHIKAWA)
        assert t.event_id and t.report_time > 0, path.name


# -- refusals ---------------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<Report xmlns="http://xml.kishou.go.jp/jmaxml1/"><Control><Title>&lol4;</Title></Control></Report>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Report xmlns="http://xml.kishou.go.jp/jmaxml1/"><Control><Title>&xxe;</Title></Control></Report>"""

WRONG_NS = sample("32-35_04_01_100831_VXSE51.xml").replace(
    b'<Report xmlns="http://xml.kishou.go.jp/jmaxml1/"', b'<Report xmlns="http://example.org/not-jma/"'
)


@pytest.mark.parametrize(("body", "message"), [
    (b"", "empty"),
    (b"<Report><Control>", "not well-formed"),
    (b"\xff\xfe\x00garbage", "not well-formed"),
    (BILLION_LAUGHS, "DTD"),
    (EXTERNAL_ENTITY, "DTD"),
    (WRONG_NS, "not a JMA telegram"),
    (b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"/>', "not a JMA telegram"),
    (b"<Report/>", "namespace '(none)'"),
    (b" " * (MAX_BODY_BYTES + 1), "larger than the limit"),
])
def test_refused_with_a_clear_message(body: bytes, message: str) -> None:
    with pytest.raises(TriggerInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_jma(body)


@pytest.mark.parametrize(("old", "new", "message"), [
    (b"<EventID>20100125161221</EventID>", b"<EventID></EventID>", "EventID is missing"),
    (b"<Status>\xe9\x80\x9a\xe5\xb8\xb8</Status>", b"<Status>??</Status>", "Control/Status must be"),
    (b"<InfoType>\xe7\x99\xba\xe8\xa1\xa8</InfoType>", b"<InfoType>x</InfoType>", "InfoType must be"),
    (b"2010-01-25T16:16:00+09:00</ReportDateTime>", b"yesterday</ReportDateTime>", "not an ISO 8601 time"),
])
def test_missing_or_bad_fields(old: bytes, new: bytes, message: str) -> None:
    body = sample("32-35_04_01_100831_VXSE51.xml")
    assert old in body
    with pytest.raises(TriggerInputError, match=message):
        parse_jma(body.replace(old, new))


def test_intensity_scale() -> None:
    assert [intensity_rank(x) for x in ("1", "4", "5-", "5弱", "５強", "6+", "7", "", "8", None)] == [
        1, 4, 5, 5, 6, 8, 9, 0, 0, 0]
    assert intensity_label(intensity_rank("6-")) == "震度6弱"


def test_rules_from_config_refuse_a_bad_threshold() -> None:
    cfg = Config(triggers=TriggersConfig(jma=JmaConfig(min_intensity="5 lower")))
    with pytest.raises(TriggerConfigError, match="min_intensity"):
        rules_from_config(cfg)
    ok = rules_from_config(dataclasses.replace(cfg, triggers=TriggersConfig(jma=JmaConfig(min_intensity="5+"))))
    assert ok.min_intensity == intensity_rank("5+")
    assert ok.aftershock_window_seconds == 6 * 3600

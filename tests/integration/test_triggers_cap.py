"""CAP 1.2: the samples in tests/data/cap cover every status and msgType; export round-trips."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from conftest import DATA

from safetynet.domain.triggers import TriggerInputError, TriggerRules
from safetynet.triggers.cap import CAP_NS, campaign_to_cap, parse_cap
from safetynet.triggers.replay import folder_files, replay
from safetynet.triggers.xmlsafe import MAX_BODY_BYTES

CAP = Path(__file__).resolve().parents[1] / "data" / "cap"
JMA = DATA / "jma"
KANAZAWA = TriggerRules(cap_codes=frozenset({"17201"}), cap_action="propose")


def sample(name: str) -> bytes:
    return (CAP / name).read_bytes()


def test_alert_fields() -> None:
    a = parse_cap(sample("01-actual-alert.xml"), KANAZAWA)
    assert (a.identifier, a.sender, a.status, a.msg_type, a.scope) == (
        "ISK-2026-0001", "bousai@pref.ishikawa.example.jp", "Actual", "Alert", "Public")
    assert a.sent == 1775005200.0  # 2026-04-01T10:00:00+09:00
    assert [i.language for i in a.infos] == ["ja-JP", "en-US"]
    messages = dict(a.messages)
    assert messages["ja"].splitlines() == ["金沢市に土砂災害警戒情報", "大雨により土砂災害の危険度が高まっています。",
                                           "安全な場所へ避難してください。"]
    assert messages["en"].startswith("Landslide warning for Kanazawa")
    assert a.title == "金沢市に土砂災害警戒情報"
    assert [(m.code, m.name) for m in a.matches] == [("17201", "石川県金沢市")]


def test_references_keep_sender_and_identifier() -> None:
    a = parse_cap(sample("03-actual-cancel.xml"))
    assert a.references == ("bousai@pref.ishikawa.example.jp,ISK-2026-0002",)
    assert a.infos == () and a.messages == ()


# Every sample in time order: each status (Actual, Exercise, Test, System, Draft) and msgType
# (Alert, Update, Cancel, Ack, Error), with the decision for a city whose code is 17201 (金沢市).
EXPECTED = [
    ("01-actual-alert.xml", "propose", 1, "CAP alert for 石川県金沢市: campaign proposed"),
    ("02-actual-update.xml", "update", 1, "The sender updated the alert: campaign #1 gets the new text."),
    # the cancel references the update, which is known as the same event
    ("03-actual-cancel.xml", "withdraw", 1, "The proposed campaign is withdrawn."),
    ("04-exercise-alert.xml", "propose", 2, "Drill (CAP Exercise): CAP alert for 石川県金沢市"),
    ("05-exercise-update.xml", "update", 2, "Drill (CAP Exercise): The sender updated the alert"),
    ("06-exercise-cancel.xml", "withdraw", 2, "withdrawn"),
    ("07-test-alert.xml", "ignore", None, "CAP status Test: not a real alert nor an exercise"),
    ("08-system-alert.xml", "ignore", None, "CAP status System"),
    ("09-draft-alert.xml", "ignore", None, "CAP status Draft"),
    ("10-actual-ack.xml", "ignore", None, "CAP message type Ack"),
    ("11-actual-error.xml", "ignore", None, "CAP message type Error"),
    ("12-actual-alert-elsewhere.xml", "ignore", None, "None of your codes (triggers.cap.codes)"),
    ("13-actual-update-unknown.xml", "propose", 3, "an update of an alert never received here"),
    ("14-actual-cancel-unknown.xml", "ignore", None, "cancelled an alert that started no campaign here"),
]


def test_replay_every_sample() -> None:
    rows = replay(folder_files(CAP), KANAZAWA)
    assert [(r.file, r.decision, r.campaign) for r in rows] == [(f, d, c) for f, d, c, _ in EXPECTED]
    for row, (_, _, _, phrase) in zip(rows, EXPECTED, strict=True):
        assert phrase in row.reason, (row.file, row.reason)
    kinds = {r.campaign: r.kind for r in rows if r.decision in ("propose", "start")}
    assert kinds == {1: "real", 2: "drill", 3: "real"}


def test_action_start_and_started_cancel_is_not_stopped() -> None:
    rows = replay(folder_files(CAP), dataclasses.replace(KANAZAWA, cap_action="start"))
    assert rows[0].decision == "start"
    assert rows[2].decision == "withdraw" and "not stopped by itself" in rows[2].reason


def test_replay_mixes_cap_and_jma(tmp_path: Path) -> None:
    (tmp_path / "quake.xml").write_bytes((JMA / "32-35_04_01_100831_VXSE51.xml").read_bytes())
    (tmp_path / "alert.xml").write_bytes(sample("01-actual-alert.xml"))
    rules = dataclasses.replace(KANAZAWA, areas=frozenset({"771"}), min_intensity=4)
    rows = replay(folder_files(tmp_path), rules)
    assert [(r.file, r.decision, r.campaign) for r in rows] == [("quake.xml", "propose", 1), ("alert.xml", "propose", 2)]


@pytest.mark.parametrize(("body", "message"), [
    (sample("01-actual-alert.xml").replace(b"cap:1.2", b"cap:1.1"), "not a CAP 1.2 alert"),
    ((JMA / "32-35_04_01_100831_VXSE51.xml").read_bytes(), "not a CAP 1.2 alert"),
    (sample("01-actual-alert.xml").replace(b"<identifier>ISK-2026-0001</identifier>", b""), "<identifier> is missing"),
    (sample("01-actual-alert.xml").replace(b"<status>Actual</status>", b"<status>Real</status>"), "<status> must be one of"),
    (sample("01-actual-alert.xml").replace(b"2026-04-01T10:00:00+09:00", b"soon"), "not an ISO 8601 time"),
    (sample("01-actual-alert.xml")[:200], "not well-formed"),
    (b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e SYSTEM "http://127.0.0.1:1/x">]>'
     b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">&e;</alert>', "DTD"),
    (b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">' + b"<note>x</note>" * (MAX_BODY_BYTES // 14) + b"</alert>",
     "larger than the limit"),
])
def test_refused_with_a_clear_message(body: bytes, message: str) -> None:
    with pytest.raises(TriggerInputError) as e:
        parse_cap(body)
    assert message in str(e.value)


def test_campaign_export_round_trips() -> None:
    body = campaign_to_cap(
        campaign_id=42, kind="drill", title="【訓練】市内全域 安否確認訓練",
        messages={"ja": "訓練です。無事なら1を。", "en": "This is a drill. Reply 1 if safe."},
        sent=1775005200.0, sender="bousai@city.example.jp", geocodes=[("JIS X0402", "17201")], area_desc="金沢市",
    )
    assert body.startswith(b"<?xml version='1.0' encoding='utf-8'?>\n<alert xmlns=\"" + CAP_NS.encode())
    a = parse_cap(body, KANAZAWA)
    assert (a.identifier, a.status, a.msg_type, a.sent_text) == (
        "safetynet-campaign-42", "Exercise", "Alert", "2026-04-01T10:00:00+09:00")
    assert dict(a.messages) == {"ja": "【訓練】市内全域 安否確認訓練\n訓練です。無事なら1を。",
                                "en": "【訓練】市内全域 安否確認訓練\nThis is a drill. Reply 1 if safe."}
    assert [m.code for m in a.matches] == ["17201"]


def test_campaign_export_update_and_cancel() -> None:
    first = "bousai@city.example.jp,safetynet-campaign-7,2026-04-01T10:00:00+09:00"
    body = campaign_to_cap(campaign_id=7, kind="real", title="地震 震度6弱", messages={"ja": "無事ですか"},
                           sent=1775007000.0, sender="bousai@city.example.jp", msg_type="Cancel",
                           references=[first], identifier="safetynet-campaign-7-cancel")
    a = parse_cap(body)
    assert (a.status, a.msg_type, a.references) == ("Actual", "Cancel", ("bousai@city.example.jp,safetynet-campaign-7",))


@pytest.mark.parametrize("kwargs", [
    {"sender": "city hall"}, {"sender": "a,b"}, {"identifier": "x<y"}, {"msg_type": "Ack"}, {"kind": "test"},
])
def test_campaign_export_refuses_invalid_fields(kwargs: dict[str, str]) -> None:
    args: dict[str, object] = {"campaign_id": 1, "kind": "real", "title": "t", "messages": {"ja": "m"},
                               "sent": 0.0, "sender": "bousai@city.example.jp"}
    args.update(kwargs)
    with pytest.raises(ValueError):
        campaign_to_cap(**args)  # type: ignore[arg-type]

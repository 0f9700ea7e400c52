"""CAP out: real events as CAP 1.2 (valid against OASIS's schema) and an Atom feed; drills never leak."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

import aiohttp
import pytest
import xmlschema
from conftest import DATA
from pg_helpers import store_env
from roster_helpers import SECRET_KEY

from safetynet.channels import registry
from safetynet.config import load_config
from safetynet.domain import CampaignKind
from safetynet.domain.triggers import TriggerRules
from safetynet.system import running_system
from safetynet.triggers.cap import CAP_NS, parse_cap
from safetynet.triggers.cap_publish import (
    ATOM_NS,
    PublicCampaign,
    Publisher,
    alert_xml,
    feed_atom,
    publishable,
)

# OASIS CAP 1.2 schema (http://docs.oasis-open.org/emergency/cap/v1.2/CAP-v1.2.xsd), see tests/data/cap/README.md
SCHEMA = xmlschema.XMLSchema(DATA / "cap" / "CAP-v1.2.xsd")
PUB = Publisher.of("https://bousai.sakura.example.jp", "さくら市", ("17201", "17202"))
T0 = 1_775_000_000.0
SECRET_TITLE = "内部メモ：桜町の山田さん宅は要確認"
SECRET_TEXT = "地震です。無事ですか。班長の携帯 090-1234-5678"


def _valid(body: bytes) -> ET.Element:
    SCHEMA.validate(body.decode("utf-8"))
    return ET.fromstring(body)


def test_the_schema_refuses_what_it_should() -> None:
    """The schema file is the real one: it refuses an alert with a status CAP does not know."""
    good = alert_xml(PublicCampaign(1, "real", "running", T0, None), PUB)
    _valid(good)
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        SCHEMA.validate(good.decode().replace("<status>Actual</status>", "<status>Real</status>"))


def test_a_real_event_is_an_alert_then_an_update_when_closed_and_a_cancel_when_cancelled() -> None:
    running = PublicCampaign(7, "real", "running", T0, None)
    alert = parse_cap(alert_xml(running, PUB), TriggerRules(cap_codes=frozenset({"17201"})))
    assert (alert.status, alert.msg_type, alert.scope) == ("Actual", "Alert", "Public")
    assert alert.sender == "bousai.sakura.example.jp" and alert.identifier == "safetynet-campaign-7"
    assert [m.code for m in alert.matches] == ["17201"]  # the deployment's area codes
    assert {i.language for i in alert.infos} == {"ja-JP", "en-US"}
    ja = next(i for i in alert.infos if i.language == "ja-JP")
    assert ja.urgency == "Immediate" and "さくら市" in ja.headline and ja.instruction
    assert ja.geocodes == (("JIS X0402", "17201"), ("JIS X0402", "17202"))

    for state, msg_type in (("closed", "Update"), ("cancelled", "Cancel")):
        done = PublicCampaign(7, "real", state, T0, T0 + 3600)
        body = alert_xml(done, PUB)
        root = _valid(body)
        parsed = parse_cap(body)
        assert parsed.msg_type == msg_type
        assert parsed.identifier != alert.identifier  # a new message, never the same identifier twice
        assert parsed.references == ("bousai.sakura.example.jp,safetynet-campaign-7",)
        refs = root.findtext(f"{{{CAP_NS}}}references")
        assert refs == f"bousai.sakura.example.jp,safetynet-campaign-7,{alert.sent_text}"
        assert parsed.sent == T0 + 3600
        assert all(i.urgency == "Past" and not i.instruction for i in parsed.infos)


def test_drills_drafts_and_proposals_are_not_published() -> None:
    for c in (
        PublicCampaign(1, "drill", "running", T0, None),
        PublicCampaign(2, "drill", "closed", T0, T0 + 1),
        PublicCampaign(3, "real", "draft", None, None),
        PublicCampaign(4, "real", "cancelled", None, T0),  # a proposal withdrawn before it ran
        PublicCampaign(5, "real", "pending_approval", None, None),
    ):
        assert not publishable(c)
        with pytest.raises(ValueError):
            alert_xml(c, PUB)
    feed = ET.fromstring(feed_atom([PublicCampaign(1, "drill", "running", T0, None)], PUB, T0))
    assert feed.findall(f"{{{ATOM_NS}}}entry") == []


def _config(tmp_path: Path) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(
        '[server]\npublic_url = "https://bousai.sakura.example.jp"\n[store]\npath = "var/t.db"\n'
        '[city]\nname = "さくら市"\n[triggers.cap]\ncodes = ["17201"]\n', encoding="utf-8")
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "secret.key").write_text(SECRET_KEY)
    return p


async def test_the_routes_publish_real_events_to_anyone_and_follow_close_and_cancel(tmp_path: Path) -> None:
    cfg = load_config(_config(tmp_path), env=store_env())
    async with running_system(cfg, port=0, dispatch=False, ladder=False, triggers=False) as system:
        camps = system.store.campaigns

        async def campaign(kind: CampaignKind, start: bool = True, approve: bool = True) -> int:
            c = await camps.create(kind=kind, title=SECRET_TITLE, scope=["city"], messages={"ja": SECRET_TEXT},
                                   ladder=registry.default_ladder())
            if start and kind == CampaignKind.REAL:  # two people: one starts, another approves
                assert await camps.request_approval(c.id, T0, "bousai", 1)
                assert not approve or await camps.approve(c.id, T0, "kikikanri", 2)
            elif start:
                assert await camps.begin_running(c.id, T0)
            return c.id

        real = await campaign(CampaignKind.REAL)
        other = await campaign(CampaignKind.REAL)
        drill = await campaign(CampaignKind.DRILL)
        draft = await campaign(CampaignKind.REAL, start=False)
        waiting = await campaign(CampaignKind.REAL, approve=False)

        async with aiohttp.ClientSession(system.url) as http:  # no login, no token

            async def get(path: str) -> tuple[int, str, bytes]:
                async with http.get(path) as r:
                    return r.status, r.headers.get("Content-Type", ""), await r.read()

            status, ctype, body = await get(f"/cap/campaigns/{real}.xml")
            assert status == 200 and ctype.startswith("application/cap+xml")
            _valid(body)
            assert parse_cap(body).msg_type == "Alert"
            text = body.decode()
            assert SECRET_TITLE not in text and "090-1234" not in text and "無事ですか" not in text

            for hidden in (drill, draft, waiting, 99999, "abc", "1e3", "-1", "9" * 40):
                status, _, body = await get(f"/cap/campaigns/{hidden}.xml")
                assert status == 404, hidden
                assert SECRET_TITLE.encode() not in body

            assert await camps.close(real, T0 + 600)
            assert await camps.cancel(other, T0 + 900)
            closed = parse_cap(_valid_bytes((await get(f"/cap/campaigns/{real}.xml"))[2]))
            cancelled = parse_cap(_valid_bytes((await get(f"/cap/campaigns/{other}.xml"))[2]))
            assert (closed.msg_type, cancelled.msg_type) == ("Update", "Cancel")

            status, ctype, body = await get("/cap/feed.atom")
            assert status == 200 and ctype.startswith("application/atom+xml")
            feed = ET.fromstring(body)
            for required in ("id", "title", "updated", "author"):
                assert feed.find(f"{{{ATOM_NS}}}{required}") is not None, required
            entries = feed.findall(f"{{{ATOM_NS}}}entry")
            links = [e.find(f"{{{ATOM_NS}}}link").get("href") for e in entries]  # type: ignore[union-attr]
            # newest message first: the cancel (T0+900) before the close (T0+600); drills and drafts absent
            assert links == [f"https://bousai.sakura.example.jp/cap/campaigns/{n}.xml" for n in (other, real)]
            assert SECRET_TITLE not in body.decode() and f"/campaigns/{drill}.xml" not in body.decode()
            for e in entries:
                for required in ("id", "title", "updated"):
                    assert e.find(f"{{{ATOM_NS}}}{required}") is not None
            # every entry's link answers (as the public host maps onto this server)
            for link in links:
                assert (await get(link.removeprefix("https://bousai.sakura.example.jp")))[0] == 200


def _valid_bytes(body: bytes) -> bytes:
    _valid(body)
    return body

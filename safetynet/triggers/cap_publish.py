"""Real events published as CAP 1.2 alerts and an Atom feed, for L-Alert (公共情報コモンズ) and neighbours.

Pure. What goes out is public by design, so only fixed public words do: that the city runs a safety
check, when it started and ended, the city's name and area codes. Never a campaign's title or messages,
its scope, counts or anything of a drill: a campaign that is not a real event, or never ran, does not
exist here. The message of a campaign follows its state: running → Alert; closed → Update and
cancelled → Cancel, both referring to the Alert.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET
from xml.etree.ElementTree import Element

from safetynet import i18n
from safetynet.domain.japan_time import iso_seconds
from safetynet.triggers.cap import campaign_to_cap

ATOM_NS = "http://www.w3.org/2005/Atom"
CAP_CONTENT_TYPE = "application/cap+xml"
ATOM_CONTENT_TYPE = "application/atom+xml"
# CAP's <language> (xs:language) of each text language published.
CAP_LANGUAGES = (("ja", "ja-JP"), ("en", "en-US"))
# Municipality codes (全国地方公共団体コード, JIS X 0402), as L-Alert and the CAP alerts we read name them.
GEOCODE_NAME = "JIS X0402"
FEED_ENTRIES = 50


class PublicCampaign(NamedTuple):
    """The few facts of a campaign that may be published."""

    id: int
    kind: str  # drill | real
    state: str  # draft | running | closed | cancelled (later pending_approval)
    started_at: float | None
    closed_at: float | None


@dataclass(frozen=True)
class Publisher:
    """Who publishes: the sender id, the city's name and area codes, the public base URL."""

    sender: str
    city: str
    geocodes: tuple[str, ...]
    base_url: str

    @classmethod
    def of(cls, public_url: str, city: str, codes: Iterable[str]) -> Publisher:
        return cls(sender=sender_of(public_url), city=city, geocodes=tuple(codes), base_url=public_url.rstrip("/"))

    def alert_url(self, campaign_id: int) -> str:
        return f"{self.base_url}/cap/campaigns/{campaign_id}.xml"

    @property
    def feed_url(self) -> str:
        return f"{self.base_url}/cap/feed.atom"


def sender_of(public_url: str) -> str:
    """CAP's sender: the public host (unique to the deployment; no spaces, commas, < or &)."""
    host = urlsplit(public_url).netloc.rsplit("@", 1)[-1]
    return host or "safetynet.invalid"


def publishable(c: PublicCampaign) -> bool:
    """Real events that reached their residents: drills, drafts and proposals stay private."""
    return c.kind == "real" and c.started_at is not None and c.state in ("running", "closed", "cancelled")



def identifier(c: PublicCampaign) -> str:
    return f"safetynet-campaign-{c.id}"


def message(c: PublicCampaign) -> tuple[str, str, float]:
    """(msgType, identifier, sent) of the campaign's current message."""
    assert c.started_at is not None
    if c.state == "running" or c.closed_at is None:
        return "Alert", identifier(c), c.started_at
    if c.state == "cancelled":
        return "Cancel", f"{identifier(c)}-cancelled", c.closed_at
    return "Update", f"{identifier(c)}-closed", c.closed_at


_WORDS = {"Alert": "running", "Update": "closed", "Cancel": "cancelled"}


def alert_xml(c: PublicCampaign, pub: Publisher) -> bytes:
    """The campaign's current CAP 1.2 message; only for `publishable` campaigns."""
    if not publishable(c):
        raise ValueError(f"campaign {c.id} is not published")
    assert c.started_at is not None
    msg_type, ident, sent = message(c)
    word = _WORDS[msg_type]
    text = {code: i18n.t(lang, f"alert.cap.description_{word}", city=pub.city) for lang, code in CAP_LANGUAGES}
    headlines = {code: i18n.t(lang, f"alert.cap.headline_{word}", city=pub.city) for lang, code in CAP_LANGUAGES}
    instructions = (
        {code: i18n.t(lang, "alert.cap.instruction_running") for lang, code in CAP_LANGUAGES}
        if msg_type == "Alert" else {}
    )
    references: Sequence[str] = ()
    if msg_type != "Alert":
        references = (f"{pub.sender},{identifier(c)},{iso_seconds(c.started_at)}",)
    return campaign_to_cap(
        campaign_id=c.id,
        kind="real",
        title=i18n.t("ja", "alert.cap.event"),
        events={code: i18n.t(lang, "alert.cap.event") for lang, code in CAP_LANGUAGES},
        messages=text,
        headlines=headlines,
        instructions=instructions,
        urgency="Immediate" if msg_type == "Alert" else "Past",
        sent=sent,
        sender=pub.sender,
        geocodes=[(GEOCODE_NAME, code) for code in pub.geocodes],
        area_desc=pub.city,
        msg_type=msg_type,
        references=references,
        identifier=ident,
    )


def _atom(parent: Element, tag: str, text: str | None = None, **attrs: str) -> Element:
    el = ET.SubElement(parent, tag, attrs)
    el.text = text
    return el


def feed_atom(campaigns: Iterable[PublicCampaign], pub: Publisher, now: float) -> bytes:
    """An Atom feed (RFC 4287) of the published campaigns' current messages, newest first."""
    shown = sorted((c for c in campaigns if publishable(c)), key=lambda c: message(c)[2], reverse=True)
    shown = shown[:FEED_ENTRIES]
    # plain names under an explicit default namespace: ElementTree's default_namespace refuses attributes
    root = Element("feed", {"xmlns": ATOM_NS})
    _atom(root, "id", pub.feed_url)
    _atom(root, "title", i18n.t("ja", "alert.cap.feed_title", city=pub.city))
    # the feed changes only when a message does; an empty feed says when it was asked
    _atom(root, "updated", iso_seconds(message(shown[0])[2] if shown else now))
    author = _atom(root, "author")
    _atom(author, "name", pub.city)
    _atom(root, "link", rel="self", href=pub.feed_url, type=ATOM_CONTENT_TYPE)
    for c in shown:
        msg_type, ident, sent = message(c)
        word = _WORDS[msg_type]
        entry = _atom(root, "entry")
        _atom(entry, "id", f"{pub.alert_url(c.id)}#{ident}")
        _atom(entry, "title", i18n.t("ja", f"alert.cap.headline_{word}", city=pub.city))
        _atom(entry, "updated", iso_seconds(sent))
        _atom(entry, "published", iso_seconds(c.started_at or sent))
        _atom(entry, "summary", i18n.t("ja", f"alert.cap.description_{word}", city=pub.city))
        _atom(entry, "link", rel="alternate", href=pub.alert_url(c.id), type=CAP_CONTENT_TYPE)
    out: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return out

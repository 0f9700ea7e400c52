"""CAP 1.2 (OASIS Common Alerting Protocol): alerts in, and a campaign out as an alert.

Pure: `parse_cap(body, rules)` gives a typed `CapAlert` or raises `TriggerInputError`;
`campaign_to_cap(...)` builds the XML of a campaign.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from xml.etree import ElementTree as ET
from xml.etree.ElementTree import Element

from safetynet.domain.japan_time import iso_seconds
from safetynet.domain.triggers import AreaMatch, TriggerInputError, TriggerRules
from safetynet.triggers.xmlsafe import parse_time, parse_xml, split_tag, text_of

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
NS = {"cap": CAP_NS}
STATUSES = ("Actual", "Exercise", "System", "Test", "Draft")
MSG_TYPES = ("Alert", "Update", "Cancel", "Ack", "Error")
SCOPES = ("Public", "Restricted", "Private")
_MAX_ID = 200
_MAX_TEXT = 4000
# CAP 1.2 §3.2.1: identifier and sender must not include spaces, commas or restricted characters (< and &).
_ID_RE = re.compile(r"^[^\s,<&]+$")


@dataclass(frozen=True)
class CapInfo:
    language: str  # as given, e.g. ja-JP
    event: str
    headline: str
    description: str
    instruction: str
    severity: str
    urgency: str
    certainty: str
    area_descs: tuple[str, ...]
    geocodes: tuple[tuple[str, str], ...]  # (valueName, value)

    @property
    def text(self) -> str:
        return "\n".join(p for p in (self.headline, self.description, self.instruction) if p)


@dataclass(frozen=True)
class CapAlert:
    identifier: str
    sender: str
    sent: float
    sent_text: str
    status: str  # Actual | Exercise | System | Test | Draft
    msg_type: str  # Alert | Update | Cancel | Ack | Error
    scope: str
    references: tuple[str, ...]  # "sender,identifier" of earlier alerts this one updates or cancels
    infos: tuple[CapInfo, ...]
    matches: tuple[AreaMatch, ...]  # geocodes of the alert that are among your codes

    @property
    def alias(self) -> str:
        return f"{self.sender},{self.identifier}"

    @property
    def dedupe_key(self) -> str:
        return f"cap:{self.sender}:{self.identifier}"

    @property
    def is_drill(self) -> bool:
        return self.status == "Exercise"

    @property
    def messages(self) -> tuple[tuple[str, str], ...]:
        """(language, text) per language, the first info of a language winning; "ja-JP" becomes "ja"."""
        out: dict[str, str] = {}
        for info in self.infos:
            lang = info.language.split("-")[0].lower() or "en"
            if info.text and lang not in out:
                out[lang] = info.text
        return tuple(out.items())

    @property
    def title(self) -> str:
        infos = sorted(self.infos, key=lambda i: not i.language.lower().startswith("ja"))
        for info in infos:
            if info.headline or info.event:
                return (info.headline or info.event)[:200]
        return self.identifier


def _required(parent: Element, tag: str, allowed: Sequence[str] | None = None) -> str:
    value = text_of(parent, f"cap:{tag}", NS)
    if not value:
        raise TriggerInputError(f"CAP alert: <{tag}> is missing")
    if allowed is not None and value not in allowed:
        raise TriggerInputError(f"CAP alert: <{tag}> must be one of {', '.join(allowed)}, got {value[:40]!r}")
    if len(value) > _MAX_ID:
        raise TriggerInputError(f"CAP alert: <{tag}> is too long ({len(value)} characters)")
    return value


def _info(el: Element) -> CapInfo:
    areas = el.findall("cap:area", NS)
    geocodes = tuple(
        (text_of(g, "cap:valueName", NS), text_of(g, "cap:value", NS))
        for a in areas
        for g in a.findall("cap:geocode", NS)
    )
    return CapInfo(
        language=text_of(el, "cap:language", NS)[:35] or "en-US",  # CAP's default language
        event=text_of(el, "cap:event", NS)[:_MAX_ID],
        headline=text_of(el, "cap:headline", NS)[:_MAX_TEXT],
        description=text_of(el, "cap:description", NS)[:_MAX_TEXT],
        instruction=text_of(el, "cap:instruction", NS)[:_MAX_TEXT],
        severity=text_of(el, "cap:severity", NS),
        urgency=text_of(el, "cap:urgency", NS),
        certainty=text_of(el, "cap:certainty", NS),
        area_descs=tuple(text_of(a, "cap:areaDesc", NS)[:_MAX_ID] for a in areas),
        geocodes=geocodes,
    )


def _matches(infos: Sequence[CapInfo], codes: frozenset[str]) -> tuple[AreaMatch, ...]:
    found: dict[str, AreaMatch] = {}
    for info in infos:
        names = ", ".join(d for d in info.area_descs if d)
        for _, value in info.geocodes:
            if value in codes and value not in found:
                found[value] = AreaMatch(value, names or value, "geocode", 0)
    return tuple(found.values())


def parse_cap(body: bytes, rules: TriggerRules | None = None) -> CapAlert:
    """Parse one CAP 1.2 alert, matching its geocodes against `rules.cap_codes`."""
    return cap_from_root(parse_xml(body, "CAP alert"), rules)


def cap_from_root(root: Element, rules: TriggerRules | None = None) -> CapAlert:
    rules = rules or TriggerRules()
    ns, local = split_tag(root.tag)
    if ns != CAP_NS or local != "alert":
        raise TriggerInputError(
            f"not a CAP 1.2 alert: the root is <{local}> in namespace {ns or '(none)'!r}; expected <alert> in {CAP_NS!r}"
        )
    identifier = _required(root, "identifier")
    sender = _required(root, "sender")
    sent_text = _required(root, "sent")
    references = tuple(
        ",".join(ref.split(",")[:2]) for ref in text_of(root, "cap:references", NS).split() if ref.count(",") >= 1
    )
    infos = tuple(_info(el) for el in root.findall("cap:info", NS)[:20])
    return CapAlert(
        identifier=identifier,
        sender=sender,
        sent=parse_time(sent_text, "CAP alert: <sent>"),
        sent_text=sent_text,
        status=_required(root, "status", STATUSES),
        msg_type=_required(root, "msgType", MSG_TYPES),
        scope=_required(root, "scope", SCOPES),
        references=references[:50],
        infos=infos,
        matches=_matches(infos, rules.cap_codes),
    )



def _sub(parent: Element, tag: str, text: str | None = None) -> Element:
    el = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    el.text = text
    return el


def campaign_to_cap(
    *,
    campaign_id: int,
    kind: str,
    title: str,
    messages: Mapping[str, str],
    sent: float,
    sender: str,
    geocodes: Sequence[tuple[str, str]] = (),
    area_desc: str = "",
    msg_type: str = "Alert",
    references: Sequence[str] = (),
    identifier: str | None = None,
    category: str = "Safety",
    events: Mapping[str, str] | None = None,
    headlines: Mapping[str, str] | None = None,
    instructions: Mapping[str, str] | None = None,
    urgency: str = "Immediate",
) -> bytes:
    """A campaign as a CAP 1.2 alert: one `info` per message language, drills as status Exercise.

    `references` are "sender,identifier,sent" triples of earlier alerts (for Update and Cancel).
    `events`, `headlines` and `instructions` are per language like `messages`; the first two default to the title.
    """
    identifier = identifier or f"safetynet-campaign-{campaign_id}"
    for what, value in (("identifier", identifier), ("sender", sender)):
        if not _ID_RE.match(value):
            raise ValueError(f"CAP {what} must be non-empty without spaces, commas, < or &: {value!r}")
    if msg_type not in ("Alert", "Update", "Cancel"):
        raise ValueError(f"msg_type must be Alert, Update or Cancel, got {msg_type!r}")
    if kind not in ("real", "drill"):
        raise ValueError(f"kind must be real or drill, got {kind!r}")
    root = Element(f"{{{CAP_NS}}}alert")
    _sub(root, "identifier", identifier)
    _sub(root, "sender", sender)
    _sub(root, "sent", iso_seconds(sent))  # CAP wants an explicit offset, no "Z"
    _sub(root, "status", "Exercise" if kind == "drill" else "Actual")
    _sub(root, "msgType", msg_type)
    _sub(root, "scope", "Public")
    if references:
        _sub(root, "references", " ".join(references))
    for lang, text in messages.items():
        info = _sub(root, "info")
        _sub(info, "language", lang)
        _sub(info, "category", category)
        _sub(info, "event", (events or {}).get(lang, title))
        _sub(info, "urgency", urgency)
        _sub(info, "severity", "Severe")
        _sub(info, "certainty", "Observed")
        _sub(info, "senderName", sender)
        _sub(info, "headline", (headlines or {}).get(lang, title))
        _sub(info, "description", text)
        if (instruction := (instructions or {}).get(lang)):
            _sub(info, "instruction", instruction)
        if geocodes or area_desc:
            area = _sub(info, "area")
            _sub(area, "areaDesc", area_desc or title)
            for name, value in geocodes:
                geo = _sub(area, "geocode")
                _sub(geo, "valueName", name)
                _sub(geo, "value", value)
    out: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True, default_namespace=CAP_NS)
    return out

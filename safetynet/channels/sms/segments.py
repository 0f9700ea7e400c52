"""SMS segments: how Twilio bills a text, and cutting a text to a budget without losing its link or the reply
keywords after it. Pure."""

from __future__ import annotations

import math
from typing import Any

# GSM 03.38 default alphabet (without the escape 0x1B) and its extension table (2 septets each).
_GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXT = frozenset("^{}\\[~]|€\f")
_GSM7_ALL = _GSM7 | _GSM7_EXT
# One SMS holds 140 bytes; concatenated parts spend 6 of them on the UDH.
GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67
# Cost control: 4 UCS-2 parts are 268 characters, ample for an alert and its reply link.
MAX_SEGMENTS = 4
# Twilio refuses bodies over 1,600 characters outright.
MAX_BODY_CHARS = 1600


def segment_count(text: str) -> int:
    """How many SMS parts Twilio bills for `text` (GSM-7 when possible, otherwise UCS-2)."""
    if _GSM7_ALL.issuperset(text):
        units = len(text) + sum(1 for c in text if c in _GSM7_EXT)
        single, part = GSM7_SINGLE, GSM7_PART
    else:
        # UCS-2 counts UTF-16 code units: characters beyond the BMP (emoji) take two.
        units = len(text.encode("utf-16-le")) // 2
        single, part = UCS2_SINGLE, UCS2_PART
    return 1 if units <= single else math.ceil(units / part)


def fit_sms(text: str, reply_url: str, max_segments: int = MAX_SEGMENTS) -> tuple[str, int]:
    """(`text`, its segments) if it fits `max_segments`, else its start cut with "…", the reply URL
    kept whole and what follows the URL kept too: the reply keywords a feature phone that cannot open
    the link answers by (`broadcast.messages.compose` puts them after it). Should what follows not fit
    by itself, it is cut with the rest."""
    segments = segment_count(text)
    if segments <= max_segments and len(text) <= MAX_BODY_CHARS:
        return text, segments
    if not reply_url:
        body, tail = text, "…"
    else:
        before, found, after = text.rpartition(reply_url)
        body, tail = (before, f"…\n{reply_url}{after}") if found else (text, f"…\n{reply_url}")
        if found and segment_count(tail) > max_segments:
            body, tail = before + after, f"…\n{reply_url}"
        body = body.replace(reply_url, "").rstrip()
    lo, hi = 0, len(body)
    # Largest prefix that still fits; segment_count grows monotonically with the prefix.
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if segment_count(body[:mid].rstrip() + tail) <= max_segments:
            lo = mid
        else:
            hi = mid - 1
    fitted = body[:lo].rstrip() + tail
    return fitted, segment_count(fitted)


def estimate(settings: Any, text: str) -> tuple[int, float]:
    """(segments, yen) of one message of `text`, as the sender will cut it."""
    segments = min(MAX_SEGMENTS, segment_count(text))
    return segments, segments * float(settings.price_per_segment_jpy)

"""The mail itself (pure): subject, a short plain-text body with the reply link first, MIME bytes.

Feature phones show the first screen of a mail and some carrier gateways cut long lines, so the
body is folded to short lines (a URL never: a cut link is a dead link) and capped. Japanese
subjects become RFC 2047 encoded words in UTF-8 (EmailMessage with the SMTP policy folds them);
the body is UTF-8 in base64, which every relay carries without 8BITMIME.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from safetynet.channels.base import OutboundMessage
from safetynet.i18n import CATALOGS, t

# Characters of a body line before it is folded (a feature phone's screen is ~20 full-width wide;
# gateways cut near 1,000 bytes; 60 keeps a line well inside both).
MAX_LINE = 60
# Characters of a whole body: an alert and its link, never a newsletter.
MAX_BODY = 1000
MAX_SUBJECT = 60
_URL = re.compile(r"https?://\S+")
# The SMTP policy: CRLF line ends and headers folded at 78 characters, as RFC 5322 wants.
SMTP_POLICY = policy.SMTP


def drill_prefix(language: str) -> str:
    lang = language if language in CATALOGS else ("ja" if language.startswith("ja") else "en")
    return t(lang, "message.drill_prefix")


def subject_of(msg: OutboundMessage) -> str:
    """The title (the first words of the text without one); 【訓練】/[DRILL] first for a drill."""
    subject = " ".join(msg.title.split())
    if not subject:
        first = next((ln for ln in msg.text.splitlines() if ln.strip() and not _URL.search(ln)), "")
        subject = " ".join(first.split())
    if len(subject) > MAX_SUBJECT:
        subject = subject[: MAX_SUBJECT - 1] + "…"
    if msg.drill:
        prefix = drill_prefix(msg.language)
        if not subject.startswith(prefix.strip()):
            subject = prefix + subject
    return subject


def fold_line(line: str, width: int = MAX_LINE) -> list[str]:
    """`line` cut into pieces of at most `width` characters; a URL is kept whole on a line of its own."""
    if len(line) <= width:
        return [line.rstrip()]
    out: list[str] = []
    for i, part in enumerate(_URL.split(line)):
        if i > 0:
            out.append(_URL.findall(line)[i - 1])
        part = part.strip() if i > 0 or out else part.rstrip()
        while len(part) > width:
            cut = _fold_at(part, width)
            out.append(part[:cut].rstrip())
            part = part[cut:].lstrip()
        if part:
            out.append(part)
    return out or [""]


# Japanese has no spaces: a line may end after its punctuation without cutting a word
# (「破棄してくだ／さい。」 is what cutting anywhere gave).
_AFTER = frozenset("、。，．！？」』）】・")
# of those, what closes a phrase: never the first character of a line
_CLOSING = frozenset("、。，．！？」』）】")


def _fold_at(part: str, width: int) -> int:
    """Where to cut `part` (longer than `width`): after the last Japanese punctuation or at the last
    space in the second half of the line, else at `width` (a run without either). A closing mark
    right after the cut stays on the line, up to two characters over: a line never starts with 」."""
    at = next((i for i in range(width, width // 2, -1) if part[i - 1] in _AFTER), 0)
    if not at:
        space = part.rfind(" ", width // 2, width + 1)
        if space > 0:
            return space
        at = width
    while at < len(part) and part[at] in _CLOSING and at < width + 2:
        at += 1
    return at


def body_of(msg: OutboundMessage) -> str:
    """The text folded to short lines and capped at MAX_BODY characters, the reply link kept."""
    lines = [piece for ln in msg.text.splitlines() for piece in fold_line(ln)]
    body = "\n".join(lines).strip("\n")
    if len(body) > MAX_BODY:
        body = body[: MAX_BODY - 1].rstrip() + "…"
        if msg.reply_url and msg.reply_url not in body:
            body = f"{msg.reply_url}\n\n{body[: MAX_BODY - len(msg.reply_url) - 3].rstrip()}…"
    return body + "\n"


def build(msg: OutboundMessage, from_address: str, now: datetime | None = None) -> EmailMessage:
    """The mail of `msg`, ready for `as_bytes()`."""
    m = EmailMessage(policy=SMTP_POLICY)
    m["From"] = from_address
    m["To"] = msg.address
    m["Subject"] = subject_of(msg)
    m["Date"] = format_datetime(now or datetime.now(UTC))
    # domain given: make_msgid would otherwise ask the resolver for this host's FQDN on every mail
    m["Message-ID"] = make_msgid(domain=from_address.rpartition("@")[2] or "localhost")
    body = body_of(msg)
    m.set_content(body, charset="utf-8", cte="7bit" if body.isascii() else "base64")
    if msg.drill:
        # mail filters and the city's own archive can tell a drill without reading Japanese
        m["X-SafetyNet-Drill"] = "yes"
    return m

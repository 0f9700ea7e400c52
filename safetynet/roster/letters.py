"""Enrolment letters: one A4 page per household, in its language, with its code, a QR code of its join URL
and short steps for each way to receive the safety check. PDF (`pdfstream`) or one printable HTML file.

Codes exist in clear only while a letter is made: the store keeps keyed hashes. So a letter always
carries a freshly issued code. Households without a code get one; `rotate` issues new codes for every
household of the scope, and the codes on earlier letters (or `roster codes` files) stop working, while
the contacts those households already enrolled stay. The letters are written in batches (a city of
200,000 households streams through in constant memory but for the pending hashes, about 150 bytes a
household), to a temporary file that takes its name only after the new hashes are committed.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple, Protocol
from urllib.parse import urlsplit

import segno

from safetynet import i18n
from safetynet.channels import registry
from safetynet.channels.base import is_loopback_host
from safetynet.config import Config
from safetynet.csvout import check_output, private_fd
from safetynet.domain.audit import AuditEntry
from safetynet.domain.roster import CodeTarget
from safetynet.roster.codes import MissingSecretKey, hash_code, join_url, new_code
from safetynet.roster.pdfstream import text_width
from safetynet.store import store_session

FORMATS = ("pdf", "html")
BATCH = 500


class LettersError(Exception):
    """The letters cannot be made as asked; the message is fit to show the admin."""


class TooManyLetters(LettersError):
    def __init__(self, count: int, limit: int) -> None:
        super().__init__(f"{count} households are more than {limit}")
        self.count, self.limit = count, limit


def format_of(path: Path, fmt: str | None = None) -> str:
    """pdf or html, from `fmt` or the file's extension."""
    chosen = fmt or {".pdf": "pdf", ".html": "html", ".htm": "html"}.get(path.suffix.lower(), "")
    if chosen not in FORMATS:
        raise LettersError(f"{path.name}: say --format pdf or html, or name the file .pdf or .html")
    return chosen


def letter_steps(cfg: Config) -> tuple[str, ...]:
    """The steps a letter shows: the enabled channels' own (`ChannelSpec.letter_steps`), the free
    channels' first (as the ladder tries them), each group in registry order."""
    specs = sorted(registry.SPECS, key=lambda s: not s.free)  # stable: registry order within each group
    return tuple(step for spec in specs if cfg.channels.get(spec.name).enabled for step in spec.letter_steps)


def step_values(cfg: Config) -> dict[str, str]:
    """What the steps' texts name from the configuration (`ChannelSettings.resident_words`): the
    address email comes from, which a phone taking mail only from chosen senders (指定受信) must allow."""
    values: dict[str, str] = {}
    for spec in registry.SPECS:
        settings = cfg.channels.get(spec.name)
        if settings.enabled and spec.letter_steps:
            values.update(settings.resident_words())
    return values


# Domains kept for examples (RFC 2606, JPRS): a letter naming one cannot be what the city hands out.
_EXAMPLE_DOMAINS = ("example.jp", "example.com", "example.org", "example.net")
_EXAMPLE_SUFFIXES = (".example", ".test", ".invalid", ".localhost", ".local")


def sample_reasons(cfg: Config, lang: str = "ja") -> list[str]:
    """Why letters printed with this configuration cannot be handed out (pure): their link is the
    server's loopback or an example address, or the sender residents are told to allow (指定受信) is the
    example one. Each a sentence for city staff; none: the letters are real. QA printed letters with
    http://127.0.0.1 in the QR code and safetynet@example.jp as the sender, and nothing said so."""
    out = []
    host = (urlsplit(cfg.server.public_url).hostname or "").lower()
    if (is_loopback_host(host) or host in _EXAMPLE_DOMAINS or host.endswith(_EXAMPLE_SUFFIXES)
            or host.endswith(tuple("." + d for d in _EXAMPLE_DOMAINS))):
        out.append(i18n.t(lang, "letters.page_sample_url", url=cfg.server.public_url))
    for value in step_values(cfg).values():
        domain = value.rpartition("@")[2].lower() if "@" in value else ""
        if domain in _EXAMPLE_DOMAINS:
            out.append(i18n.t(lang, "letters.page_sample_sender", sender=value))
    return out


# The languages the letters' texts (letters.*) are written in; other households get やさしい日本語.
LETTER_LANGUAGES = ("ja", "ja-easy", "en")


class Letter(NamedTuple):
    target: CodeTarget
    code: str
    url: str

    @property
    def lang(self) -> str:
        # a letter is printed whole in one language: those whose catalogs have the letters' texts
        lang = i18n.ui_language(self.target.language)
        return lang if lang in LETTER_LANGUAGES else "ja-easy"


@dataclass(frozen=True)
class LetterWords:
    """Every text of one letter, in its language."""

    household_line: str
    address: str
    to: str
    title: str
    intro: str
    code_label: str
    url_label: str
    qr_hint: str


def words(letter: Letter, city: str) -> LetterWords:
    t, lang = letter.target, letter.lang
    return LetterWords(
        household_line=i18n.t(lang, "letters.household_line", association=t.association,
                                     group=t.group or "-", household=t.household_key),
        address=t.address,
        to=i18n.t(lang, "letters.to", name=t.name or t.household_key),
        title=i18n.t(lang, "letters.title"),
        intro=i18n.t(lang, "letters.intro", city=city, association=t.association),
        code_label=i18n.t(lang, "letters.code_label"),
        url_label=i18n.t(lang, "letters.url_label"),
        qr_hint=i18n.t(lang, "letters.qr_hint"),
    )


def step_texts(lang: str, steps: Sequence[str], city: str,
               values: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """(title, text) per step, `values` (`step_values`) filling their placeholders; a step without a
    title of its own in the catalogs continues the one before it (the landline step follows the phone step)."""
    out = []
    for step in steps:
        text = i18n.t(lang, f"letters.step_{step}", **{**(values or {}), "city": city})
        titled = f"letters.step_{step}_title" in i18n.catalog(i18n.SOURCE)
        out.append((i18n.t(lang, f"letters.step_{step}_title") if titled else "", text))
    return out


def qr_of(url: str) -> segno.QRCode:
    # make_qr: never a Micro QR, which many phone scanners (and zbar) cannot read
    return segno.make_qr(url, error="m")


# -- line breaking ------------------------------------------------------------------------------------

_TOKENS = re.compile(r"[\x21-\x7e]+| +|.", re.DOTALL)
# 行頭禁則: these never start a line; they hang at the end of the previous one
_NO_START = frozenset("、。，．,.)）」』】〕！？!?ー…・：:；;")


def wrap(text: str, size: float, width: float) -> list[str]:
    """Lines of at most `width` points: Japanese breaks between any two characters (but not before
    closing punctuation), Latin words at spaces; a word longer than a line (a URL) is cut."""
    lines: list[str] = []
    line = ""
    for piece in _TOKENS.findall(text):
        if piece == "\n":
            lines.append(line.rstrip())
            line = ""
            continue
        if text_width(line + piece, size) <= width or (piece[0] in _NO_START and len(piece) == 1):
            line += piece
            continue
        if piece.isspace():
            lines.append(line.rstrip())
            line = ""
            continue
        if line.strip():
            lines.append(line.rstrip())
        line = ""
        while text_width(piece, size) > width:  # a URL or code longer than the line
            cut = max(1, int(width // (size * 0.5)))
            lines.append(piece[:cut])
            piece = piece[cut:]
        line = piece
    if line.strip():
        lines.append(line.rstrip())
    return lines


class LetterWriter(Protocol):
    def add(self, letter: Letter) -> None: ...
    def close(self) -> None: ...


def writer_for(fmt: str, out: BinaryIO, city: str, steps: Sequence[str],
               values: Mapping[str, str] | None = None, sample: Sequence[str] = ()) -> LetterWriter:
    """`sample`: `sample_reasons`; when any, every letter is marked 見本 with them on top."""
    from safetynet.roster.letters_html import HtmlLetters
    from safetynet.roster.letters_pdf import PdfLetters

    cls = PdfLetters if fmt == "pdf" else HtmlLetters
    banner = (i18n.t("ja", "letters.page_sample") + " " + " ".join(sample)) if sample else ""
    return cls(out, city, steps, values or {}, banner)


# -- issuing ------------------------------------------------------------------------------------------


class RosterReads(Protocol):
    async def letter_order(self, scopes: Sequence[str], only_without_code: bool = True) -> list[int]: ...
    async def letter_targets(self, ids: Sequence[int]) -> list[CodeTarget]: ...


def _render(writer: LetterWriter, letters: Sequence[Letter]) -> None:
    for letter in letters:
        writer.add(letter)


async def write_letters(
    roster: RosterReads,
    cfg: Config,
    out: BinaryIO,
    fmt: str,
    *,
    scopes: Sequence[str] = ("city",),
    rotate: bool = False,
    limit: int | None = None,
    batch: int = BATCH,
) -> list[tuple[int, str]]:
    """Writes the letters of the scope's households without a code (all with `rotate`) to `out`, and
    returns the (household id, code hash) pairs to commit once the letters are safe. Rendering runs in
    a worker thread, a batch at a time, so a server stays responsive. Raises TooManyLetters past `limit`,
    UnknownScopeError for a name the roster does not have, MissingSecretKey without a key."""
    key = cfg.secrets.secret_key
    if not key:
        raise MissingSecretKey("no secret key: run `safetynet init` or set SAFETYNET_SECRET_KEY")
    ids = await roster.letter_order(scopes, only_without_code=not rotate)
    if limit is not None and len(ids) > limit:
        raise TooManyLetters(len(ids), limit)
    hashes: list[tuple[int, str]] = []
    if not ids:
        return hashes
    writer = writer_for(fmt, out, cfg.city.name, letter_steps(cfg), step_values(cfg), sample_reasons(cfg))
    for start in range(0, len(ids), batch):
        letters = []
        for target in await roster.letter_targets(ids[start : start + batch]):
            code = new_code()
            letters.append(Letter(target, code, join_url(cfg.server.public_url, code)))
            hashes.append((target.household_id, hash_code(code, key)))
        await asyncio.to_thread(_render, writer, letters)
    await asyncio.to_thread(writer.close)
    return hashes


async def _issue(cfg: Config, out: BinaryIO, fmt: str, scopes: Sequence[str], rotate: bool,
                 output: Path, audit: Callable[[float, int], AuditEntry] | None) -> list[tuple[int, str]]:
    async with store_session(cfg) as store:
        hashes = await write_letters(store.roster, cfg, out, fmt, scopes=scopes, rotate=rotate)
        out.flush()
        os.fsync(out.fileno())
        if hashes:
            check_output(output)  # again: what is there now is what the rename after the commit replaces
            if audit is not None:  # before the codes are stored and the file takes its name
                await store.audit.append([audit(store.clock.now(), len(hashes))])
            await store.roster.set_enrolment_codes(hashes)
    return hashes


def issue_letters(
    cfg: Config, output: Path, *, fmt: str | None = None, scopes: Sequence[str] = ("city",), rotate: bool = False,
    audit: Callable[[float, int], AuditEntry] | None = None,
) -> int:
    """The CLI's run: letters to `output` (created readable by its owner only: the codes are secrets),
    the new codes committed before the file takes its name; returns how many letters were written.
    `audit(at, n)`, the export's audit entry, is written before the codes are committed: one that cannot
    be written leaves no file and no new code."""
    chosen = format_of(output, fmt)
    check_output(output)  # before any code is drawn: a file that cannot be written strands none
    tmp = output.with_name(f".{output.name}.partial")
    try:
        with open(private_fd(tmp), "wb", buffering=1 << 20) as f:
            hashes = asyncio.run(_issue(cfg, f, chosen, scopes, rotate, output, audit))
        if hashes:
            os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    return len(hashes)

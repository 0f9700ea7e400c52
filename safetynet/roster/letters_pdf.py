"""Enrolment letters as PDF: the household's half of each page, and its language's fixed half (the steps
and the footer) written once as a form that every page draws."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import BinaryIO

from safetynet import i18n
from safetynet.roster.letters import Letter, LetterWords, qr_of, step_texts, words, wrap
from safetynet.roster.pdfstream import PAGE_W, Canvas, PdfStream

_LEFT = 50.0
_WIDTH = PAGE_W - 2 * _LEFT
_BOX_TOP, _BOX_BOTTOM = 648.0, 468.0
_QR_SIZE = 150.0
_STEPS_TOP = 442.0
_FOOTER = 96.0


def _fixed_part(lang: str, steps: Sequence[str], city: str, values: Mapping[str, str]) -> Canvas:
    """What every letter of a language shares: the steps and the footer (a Form XObject)."""
    items = step_texts(lang, steps, city, values)
    size = 9.0
    while True:  # the largest type whose steps fit between the box and the footer
        lead = size * 1.4
        blocks = [(title, wrap(text, size, _WIDTH - 12)) for title, text in items]
        height = sum((lead + 1 if title else 0) + lead * len(lines) + 5 for title, lines in blocks)
        if height <= _STEPS_TOP - 20 - _FOOTER - 8 or size <= 7:
            break
        size -= 0.5
    c = Canvas()
    c.text(_LEFT, _STEPS_TOP, 12, i18n.t(lang, "letters.steps_title"))
    c.hline(_LEFT, _LEFT + _WIDTH, _STEPS_TOP - 7)
    y = _STEPS_TOP - 22
    for title, lines in blocks:
        if title:
            c.text(_LEFT, y, size + 1, "■ " + title)
            y -= lead + 1
        for line in lines:
            c.text(_LEFT + 12, y, size, line)
            y -= lead
        y -= 5
    c.hline(_LEFT, _LEFT + _WIDTH, _FOOTER)
    y = _FOOTER - 15
    for key in ("letters.keep_secret", "letters.help"):
        for line in wrap(i18n.t(lang, key, city=city), 9, _WIDTH)[:2]:
            c.text(_LEFT, y, 9, line)
            y -= 13
    return c


def _page(letter: Letter, w: LetterWords, form: str, sample: str = "") -> Canvas:
    c = Canvas()
    if sample:  # above everything else: these letters cannot be handed out (`letters.sample_reasons`)
        for i, line in enumerate(wrap(sample, 9, _WIDTH)[:2]):
            c.text(_LEFT, 828 - 11 * i, 9, line)
    c.text(_LEFT, 805, 8.5, w.household_line, gray=0.35)
    if w.address:
        c.text(_LEFT, 791, 8.5, wrap(w.address, 8.5, _WIDTH)[0], gray=0.35)
    c.text(_LEFT, 766, 13, w.to)
    c.text(_LEFT, 736, 16, wrap(w.title, 16, _WIDTH)[0])
    y = 712.0
    for line in wrap(w.intro, 10, _WIDTH)[:5]:
        c.text(_LEFT, y, 10, line)
        y -= 15
    c.rect(_LEFT, _BOX_BOTTOM, _WIDTH, _BOX_TOP - _BOX_BOTTOM, line=1.0)
    x, col = _LEFT + 12, _WIDTH - _QR_SIZE - 36
    c.text(x, _BOX_TOP - 26, 9.5, w.code_label)
    c.text(x, _BOX_TOP - 52, 20, letter.code)
    c.text(x, _BOX_TOP - 78, 9, w.url_label)
    y = _BOX_TOP - 92
    for line in wrap(letter.url, 9, col)[:3]:
        c.text(x, y, 9, line)
        y -= 12
    y -= 8
    for line in wrap(w.qr_hint, 9, col)[:3]:
        c.text(x, y, 9, line)
        y -= 12
    qr = qr_of(letter.url)
    rows = [list(r) for r in qr.matrix_iter(border=4)]
    c.matrix(rows, _LEFT + _WIDTH - _QR_SIZE - 10, _BOX_BOTTOM + (_BOX_TOP - _BOX_BOTTOM - _QR_SIZE) / 2, _QR_SIZE)
    c.form(form)
    return c


class PdfLetters:
    def __init__(self, out: BinaryIO, city: str, steps: Sequence[str], values: Mapping[str, str],
                 sample: str = "") -> None:
        self.city, self.steps, self.values, self.sample = city, tuple(steps), values, sample
        self.pdf = PdfStream(out, title=i18n.t("ja", "letters.document_title"))
        self._forms: dict[str, str] = {}

    def _form(self, lang: str) -> str:
        if lang not in self._forms:
            name = f"Steps{len(self._forms)}"
            self.pdf.add_form(name, _fixed_part(lang, self.steps, self.city, self.values))
            self._forms[lang] = name
        return self._forms[lang]

    def add(self, letter: Letter) -> None:
        self.pdf.add_page(_page(letter, words(letter, self.city), self._form(letter.lang), self.sample))

    def close(self) -> None:
        self.pdf.close()

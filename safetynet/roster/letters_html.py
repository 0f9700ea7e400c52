"""Enrolment letters as one HTML document: a printed page per letter, QR codes as inline SVG, so the file
needs nothing beside it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import BinaryIO

from safetynet import i18n
from safetynet.roster.letters import Letter, qr_of, step_texts, words
from safetynet.templating import Markup, call_macro

_TEMPLATE = "letters.html"
_CSS = """@page { size: A4; margin: 14mm 16mm; }
body { font-family: "Hiragino Kaku Gothic ProN", "Yu Gothic", Meiryo, "IPAGothic", "Noto Sans CJK JP", sans-serif;
  color: #000; margin: 0; line-height: 1.5; }
.letter { page-break-after: always; break-after: page; max-width: 178mm; margin: 0 auto 10mm; }
.letter:last-child { page-break-after: auto; break-after: auto; }
.meta { color: #555; font-size: 8.5pt; margin: 0; }
.to { font-size: 13pt; margin: 3mm 0 0; }
h1 { font-size: 16pt; margin: 3mm 0; }
.intro { font-size: 10pt; }
.box { border: 1.2pt solid #000; padding: 4mm; display: flex; gap: 6mm; align-items: center; margin: 4mm 0; }
.box .text { flex: 1; font-size: 9pt; }
.code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 20pt; letter-spacing: 0.5pt;
  margin: 1mm 0 3mm; white-space: nowrap; }
.url { word-break: break-all; }
.qr { width: 50mm; height: 50mm; flex: none; }
.qr svg { width: 100%; height: 100%; display: block; }
h2 { font-size: 12pt; border-bottom: 0.5pt solid #888; margin: 4mm 0 2mm; }
.steps { font-size: 9pt; margin: 0; padding: 0; list-style: none; }
.steps li { margin: 0 0 2mm; }
.steps b { display: block; font-size: 10pt; }
.sample { border: 1pt solid #000; padding: 1mm 2mm; font-weight: bold; margin: 0 0 2mm; }
.foot { border-top: 0.5pt solid #888; margin-top: 4mm; padding-top: 2mm; font-size: 9pt; }
"""


class HtmlLetters:
    """One HTML document, a page per letter when printed; QR codes as inline SVG (no file beside it).
    Each piece comes from a macro of `roster/templates/letters.html` (autoescaped)."""

    def __init__(self, out: BinaryIO, city: str, steps: Sequence[str], values: Mapping[str, str],
                 sample: str = "") -> None:
        self.out, self.city, self.steps, self.values, self.sample = out, city, tuple(steps), values, sample
        self._fixed_parts: dict[str, Markup] = {}
        self._write(call_macro(_TEMPLATE, "head", i18n.t("ja", "letters.document_title"), Markup(_CSS)))

    def _write(self, text: str) -> None:
        self.out.write(text.encode("utf-8"))

    def _fixed(self, lang: str) -> Markup:
        """The steps and the footer: the same for every letter in a language, so made once."""
        if lang not in self._fixed_parts:
            self._fixed_parts[lang] = call_macro(_TEMPLATE, "fixed", lang,
                                                 list(step_texts(lang, self.steps, self.city, self.values)),
                                                 self.city)
        return self._fixed_parts[lang]

    def add(self, letter: Letter) -> None:
        html_lang = "en" if letter.lang == "en" else "ja"
        # segno writes the SVG from the URL's modules: no text of ours inside it
        qr = Markup(qr_of(letter.url).svg_inline(scale=1, border=4, omitsize=True))
        self._write(call_macro(_TEMPLATE, "letter", letter, words(letter, self.city), html_lang, qr,
                               self._fixed(letter.lang), self.sample))

    def close(self) -> None:
        self._write("</body></html>\n")

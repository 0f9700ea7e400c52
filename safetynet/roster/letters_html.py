"""Enrolment letters as one HTML document: a printed page per letter, QR codes as inline SVG, so the file
needs nothing beside it."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import BinaryIO

from safetynet import i18n
from safetynet.roster.letters import Letter, qr_of, step_texts, words

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
.foot { border-top: 0.5pt solid #888; margin-top: 4mm; padding-top: 2mm; font-size: 9pt; }
"""


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


class HtmlLetters:
    """One HTML document, a page per letter when printed; QR codes as inline SVG (no file beside it)."""

    def __init__(self, out: BinaryIO, city: str, steps: Sequence[str]) -> None:
        self.out, self.city, self.steps = out, city, tuple(steps)
        self._steps_html: dict[str, str] = {}
        title = _esc(i18n.t("ja", "letters.document_title"))
        self._write(f'<!doctype html><html lang="ja"><head><meta charset="utf-8"><title>{title}</title>'
                    f"<style>{_CSS}</style></head><body>\n")

    def _write(self, text: str) -> None:
        self.out.write(text.encode("utf-8"))

    def _fixed(self, lang: str) -> str:
        if lang not in self._steps_html:
            items = "".join(
                f"<li>{f'<b>{_esc(title)}</b>' if title else ''}{_esc(text)}</li>"
                for title, text in step_texts(lang, self.steps, self.city)
            )
            foot = "".join(f"<p>{_esc(i18n.t(lang, k, city=self.city))}</p>"
                           for k in ("letters.keep_secret", "letters.help"))
            self._steps_html[lang] = (f"<h2>{_esc(i18n.t(lang, 'letters.steps_title'))}</h2>"
                                      f'<ul class="steps">{items}</ul><div class="foot">{foot}</div>')
        return self._steps_html[lang]

    def add(self, letter: Letter) -> None:
        w = words(letter, self.city)
        html_lang = "en" if letter.lang == "en" else "ja"
        qr = qr_of(letter.url).svg_inline(scale=1, border=4, omitsize=True)
        self._write(
            f'<section class="letter" lang="{html_lang}" data-household="{_esc(letter.target.household_key)}">'
            f'<p class="meta">{_esc(w.household_line)}</p><p class="meta">{_esc(w.address)}</p>'
            f'<p class="to">{_esc(w.to)}</p><h1>{_esc(w.title)}</h1><p class="intro">{_esc(w.intro)}</p>'
            f'<div class="box"><div class="text"><div>{_esc(w.code_label)}</div>'
            f'<div class="code">{_esc(letter.code)}</div><div>{_esc(w.url_label)}</div>'
            f'<div class="url">{_esc(letter.url)}</div><p>{_esc(w.qr_hint)}</p></div>'
            f'<div class="qr" role="img" aria-label="QR">{qr}</div></div>'
            f"{self._fixed(letter.lang)}</section>\n"
        )

    def close(self) -> None:
        self._write("</body></html>\n")

"""The page shell shared by every HTML page: escaping, head, language switch. No template engine."""

from __future__ import annotations

import functools
import html
from collections.abc import Iterable

from safetynet.i18n import t


def esc(value: object) -> str:
    """Escapes anything shown in a page (names, notes, CAP text are user data)."""
    return html.escape("" if value is None else str(value), quote=True)


@functools.lru_cache(maxsize=16)  # every reply page has one
def _switch_label(lang: str) -> str:
    return esc(t(lang, "page.language_switch"))


def page(
    title: str,
    body: str,
    *,
    lang: str = "ja",
    scripts: Iterable[str] = (),
    styles: Iterable[str] = ("/static/base.css",),
    languages: Iterable[tuple[str, str, str]] = (),
    extra_head: str = "",
) -> str:
    """A whole HTML document. `languages`: (code, label, href) links for the language switch."""
    links = "".join(f'<link rel="stylesheet" href="{esc(s)}">' for s in styles)
    js = "".join(f'<script src="{esc(s)}" defer></script>' for s in scripts)
    switch = ""
    langs = list(languages)
    if langs:
        current = ' aria-current="true"'
        items = " ".join(
            f'<a href="{esc(href)}" hreflang="{esc(code)}"{current if code == lang else ""}>{esc(label)}</a>'
            for code, label, href in langs
        )
        switch = f'<nav class="lang" aria-label="{_switch_label(lang)}">{items}</nav>'
    html_lang = "ja" if lang.startswith("ja") else lang
    return (
        f'<!doctype html><html lang="{esc(html_lang)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title>{links}{extra_head}{js}</head>"
        f"<body>{switch}{body}</body></html>"
    )

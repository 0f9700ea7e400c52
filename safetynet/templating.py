"""The one Jinja2 environment every page and HTML document is rendered from: the pages'
templates in `safetynet/web/templates/`, the documents' (enrolment letters, the drill report) in
`safetynet/roster/templates/` and `safetynet/stats/templates/`.

Autoescape is on for every template, so user data (names, notes, CAP text) can only reach a page
escaped; markup made in Python must be wrapped in `Markup` on purpose. Templates are compiled once
per process and cached by the environment (compiling costs ~4 ms, rendering ~0.1 ms). Plain
synchronous rendering: the data is read before rendering, so `enable_async` would only cost time.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jinja2
from markupsafe import Markup

from safetynet import i18n

__all__ = ["ENV", "Markup", "call_macro", "fragment", "page_context", "render"]


def _html_lang(lang: str) -> str:
    return "ja" if lang.startswith("ja") else lang


ENV = jinja2.Environment(
    loader=jinja2.ChoiceLoader([jinja2.PackageLoader("safetynet.web", "templates"),
                                jinja2.PackageLoader("safetynet.roster", "templates"),
                                jinja2.PackageLoader("safetynet.stats", "templates")]),
    autoescape=True,
    # the pages are served as written: no blank lines from {% %} tags
    trim_blocks=True,
    lstrip_blocks=True,
    # a missing variable is a bug the page tests must see, not an empty string on a resident's page
    undefined=jinja2.StrictUndefined,
    # templates never change while the server runs
    auto_reload=False,
    cache_size=-1,
)


def t_markup(lang: str, key: str, /, **values: object) -> Markup:
    """A text whose placeholders take markup (`<b data-count>3</b>`): the text is escaped, and so is
    every value that is not already Markup."""
    return Markup.escape(i18n.t(lang, key)).format(**values)


ENV.globals.update(t=i18n.t, tm=t_markup, html_lang=_html_lang)


def render(name: str, /, **context: Any) -> str:
    """The template `name` filled with `context` (the layout's `title`, `lang`, `styles`… included)."""
    return ENV.get_template(name).render(context)


_NO_HEAD = Markup("")


def fragment(name: str, /, **context: Any) -> Markup:
    """A template's output to put inside another page: already escaped, so marked safe."""
    return Markup(render(name, **context))  # noqa: S704 - autoescaped template output


def call_macro(template: str, name: str, /, *args: object) -> Markup:
    """A macro of `template` called from Python: its output, autoescaped markup."""
    out = getattr(ENV.get_template(template).module, name)(*args)
    if not isinstance(out, Markup):
        raise TypeError(f"{template} {name}: not a macro")
    return out


def page_context(
    *,
    lang: str,
    title: str,
    styles: Iterable[str] = ("/static/base.css",),
    scripts: Iterable[str] = (),
    languages: Iterable[tuple[str, str, str]] = (),
    head: Markup = _NO_HEAD,
) -> dict[str, Any]:
    """The base layout's variables (`base.html`)."""
    return {"lang": lang, "title": title, "styles": tuple(styles), "scripts": tuple(scripts),
            "languages": tuple(languages), "head": head}

"""The one Jinja2 environment every page and HTML document is rendered from: the pages'
templates in `safetynet/web/templates/`, the documents' (enrolment letters, the drill report) in
`safetynet/roster/templates/` and `safetynet/stats/templates/`.

Autoescape is on for every template, so user data (names, notes, CAP text) can only reach a page
escaped; markup made in Python must be wrapped in `Markup` on purpose. Templates are compiled once
per process and cached by the environment (compiling costs ~4 ms, rendering ~0.1 ms). Plain
synchronous rendering: the data is read before rendering, so `enable_async` would only cost time.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from safetynet import i18n

__all__ = ["ENV", "STATIC_PREFIX", "Markup", "Stamp", "asset_url", "asset_version", "call_macro", "fragment", "mark", "page_context",
           "render"]


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


STATIC_PREFIX = "/static/"


# the folder `web.static` serves `/static/` from
_STATIC_DIR = Path(__file__).resolve().parent / "web" / "static"
_VERSIONS: dict[str, tuple[int, int, str]] = {}


def asset_version(path: str) -> str | None:
    """The first 12 hex digits of the SHA-256 of a static file (`/static/dash.js`), None if there is
    no such file. Hashed again only when the file's size or time changed: an upgrade in place, while
    the old process still serves, must not get the new content kept for a year under the old version."""
    name = path[len(STATIC_PREFIX):]
    if not path.startswith(STATIC_PREFIX) or not name or "/" in name or name.startswith("."):
        return None
    file = _STATIC_DIR / name
    try:
        st = file.stat()
        known = _VERSIONS.get(name)
        if known is not None and known[:2] == (st.st_mtime_ns, st.st_size):
            return known[2]
        version = hashlib.sha256(file.read_bytes()).hexdigest()[:12]
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    _VERSIONS[name] = (st.st_mtime_ns, st.st_size, version)
    return version


def asset_url(path: str) -> str:
    """A static file's URL with its content's version (`/static/dash.js?v=…`): after an upgrade a
    page names new URLs, so a browser never runs a cached script of the old release against the new
    page, and a browser may keep a versioned file without asking again (`web.app`)."""
    version = asset_version(path)
    return path if version is None else f"{path}?v={version}"


ENV.globals.update(t=i18n.t, tm=t_markup, html_lang=_html_lang, asset=asset_url)


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


# -- stamps: a row macro rendered once, filled per row ---------------------------------------------
#
# A staff page has hundreds of rows. A macro called per row costs 25-40 µs of CPU (Jinja's call
# machinery, a getattr and an escape per cell), eight times the same row written with f-strings; on
# the association dashboard that was half the page. A stamp is the row macro's output cut where its
# values go: the macro renders once per language and shape (what changes the markup, not just fills
# it: a withheld household, a hidden row) with `mark(field)` in place of each value, and a row is
# then its values escaped (as autoescape does) between the stamp's pieces: ~6 µs. The macro stays
# the one source of the markup.

_MARK = re.compile("\x00(\\w+)\x00")
_SPECIAL = re.compile("[&<>\"']").search  # what markupsafe.escape replaces


def mark(field: str) -> str:
    """What a macro is given in place of a value when it renders a stamp (no text holds a NUL)."""
    return f"\x00{field}\x00"


@dataclass(frozen=True, slots=True)
class Stamp:
    """Markup with holes: `pieces[0]`, a value, `pieces[1]`, … (`slots[i]`: which value)."""

    pieces: tuple[str, ...]
    slots: tuple[int, ...]

    @classmethod
    def of(cls, markup: Markup, fields: Sequence[str]) -> Stamp:
        """`markup`, rendered with `mark(f)` for each of `fields`, cut at its marks. A mark the
        template changed (a filter on it) would lose its value: that raises."""
        parts = _MARK.split(str(markup))
        pieces, names = tuple(parts[0::2]), parts[1::2]
        if any("\x00" in p for p in pieces) or not set(names) <= set(fields):
            raise ValueError("stamp: the template changed a value's mark, so its value would be lost")
        return cls(pieces, tuple(fields.index(n) for n in names))

    def fill(self, values: Sequence[object]) -> str:
        """The markup with `values` (in the order of the stamp's fields) escaped in their places."""
        # a number, and a text without any of the five characters escape() replaces, are their own
        # escaped form: most names and addresses, at a regex search instead of an escape and a Markup
        escaped = [str(v) if type(v) is int else v if type(v) is str and _SPECIAL(v) is None else escape(v)
                   for v in values]
        out = [self.pieces[0]]
        for slot, piece in zip(self.slots, self.pieces[1:], strict=True):
            out.append(escaped[slot])
            out.append(piece)
        return "".join(out)


def page_context(
    *,
    lang: str,
    title: str,
    styles: Iterable[str] = ("/static/base.css",),
    scripts: Iterable[str] = (),
    languages: Iterable[tuple[str, str, str]] = (),
    head: Markup = _NO_HEAD,
    inline_styles: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The base layout's variables (`base.html`). `inline_styles`: static stylesheets put into the
    page itself (`inline_css`), for a page that must need nothing else from the server."""
    return {"lang": lang, "title": title, "styles": tuple(styles), "scripts": tuple(scripts),
            "languages": tuple(languages), "head": head, "inline_css": inline_css(inline_styles)}


_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_SPACES = re.compile(r"\s+")


@functools.cache
def inline_css(paths: tuple[str, ...]) -> Markup:
    """The static stylesheets `paths` (`/static/base.css`), in order, as one `<style>` body: comments
    dropped and runs of white space made one (our own files: no string in them holds either). Read
    once a process, as its templates are: an upgrade in place changes a page and its styles together.
    A stylesheet that would end the element early, or ask for another file (`url(`, `@import`: the page
    is to need nothing more from the server), is refused."""
    css = " ".join(_SPACES.sub(" ", _CSS_COMMENT.sub(" ", (_STATIC_DIR / p.removeprefix(STATIC_PREFIX)).read_text("utf-8")))
                   .strip() for p in paths)
    for refused in ("</", "url(", "@import"):
        if refused in css.lower():
            raise ValueError(f"a stylesheet of {paths} holds {refused!r}: not for inside a page")
    return Markup(css)  # noqa: S704 - our own stylesheets, checked above

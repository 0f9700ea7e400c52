"""The reply flow's styles inside its pages (templating.inline_css): the files' rules, nothing that asks for more."""

from __future__ import annotations

from pathlib import Path

import pytest

from safetynet import templating
from safetynet.web.reply_views import not_found_page


def test_the_reply_styles_are_the_files_rules_without_comments() -> None:
    css = str(templating.inline_css(("/static/base.css", "/static/reply.css")))
    assert "/*" not in css and "  " not in css and "\n" not in css
    for rule in (".answer", "button"):
        assert rule in css  # from reply.css and base.css
    page = not_found_page()
    assert f"<style>{css}</style>" in page and '<link rel="icon" href="data:,">' in page
    assert "stylesheet" not in page  # nothing for the browser to ask for


@pytest.mark.parametrize("body", ["a{background:url(x.png)}", "@import 'more.css';", "p{content:'</style>'}"])
def test_a_stylesheet_that_would_ask_for_more_or_end_the_element_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    (tmp_path / "odd.css").write_text(f"/* a */ {body}\n", encoding="utf-8")
    monkeypatch.setattr(templating, "_STATIC_DIR", tmp_path)
    templating.inline_css.cache_clear()
    try:
        with pytest.raises(ValueError, match="not for inside a page"):
            templating.inline_css(("/static/odd.css",))
    finally:
        templating.inline_css.cache_clear()

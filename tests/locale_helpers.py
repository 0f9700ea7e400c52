"""The terminal's language for a command-line test (what `console.cli_language` reads)."""

from __future__ import annotations

import pytest


def terminal_locale(monkeypatch: pytest.MonkeyPatch, lang: str) -> None:
    """LANG as given (ja_JP.UTF-8, C.UTF-8…), nothing that would override it."""
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", lang)

"""A scope (`city`, `district:…`, `association:…`) in words: how pages and reports show whom
something covers, never the identifier itself."""

from __future__ import annotations

from safetynet.i18n import t


def scope_label(lang: str, scope: str) -> str:
    kind, _, name = scope.partition(":")
    if kind == "city" and not name:
        return t(lang, "scope.city")
    if kind in ("district", "association") and name:
        return t(lang, f"scope.{kind}", name=name)
    return scope

"""A decision's reason said in a reader's language, from its parts (`ReasonPart`: catalog keys
`trigger.reason.*` and their values). The rules build the parts once; the English (`say_reason(parts,
"en")`) is the `reason` the log, `trigger_events` and the API keep, and the replay says the parts in
the terminal's language.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from safetynet.domain.triggers import ReasonPart, ReasonValue
from safetynet.i18n import catalog_language, t

# Japanese (and Chinese) sentences follow each other without a space; English ones after one.
_NO_GAP = ("ja", "ja-easy", "zh")


def _gap(lang: str) -> str:
    return "" if catalog_language(lang) in _NO_GAP else " "


def _value(value: ReasonValue, lang: str) -> object:
    if isinstance(value, ReasonPart):
        return say_part(value, lang)
    if isinstance(value, tuple):
        return say_reason(value, lang)
    return value


def say_part(part: ReasonPart, lang: str) -> str:
    return t(lang, part.key, **{name: _value(v, lang) for name, v in part.values})


def say_reason(parts: Iterable[ReasonPart], lang: str) -> str:
    """The parts as sentences of `lang`."""
    return _gap(lang).join(say_part(p, lang) for p in parts)


def reason_fields(parts: Iterable[ReasonPart]) -> dict[str, Any]:
    """A Decision's `reason` (the English the log, the store and the API keep) and its `parts`."""
    kept = tuple(parts)
    return {"reason": say_reason(kept, "en"), "parts": kept}


def keys_of(parts: Iterable[ReasonPart]) -> set[str]:
    """Every catalog key the parts name, nested values included (for tests and checks)."""
    found: set[str] = set()
    for p in parts:
        found.add(p.key)
        for _, v in p.values:
            if isinstance(v, ReasonPart):
                found |= keys_of((v,))
            elif isinstance(v, tuple):
                found |= keys_of(v)
    return found

"""A channel's words for residents: its own `texts` first (so a new channel brings its words in its
package), then the shared texts of `replies/texts.py`."""

from __future__ import annotations

from safetynet.channels.spec import ChannelSpec
from safetynet.replies import texts


def channel_word(spec: ChannelSpec, lang: str, key: str, default: str | None = None, **values: str) -> str:
    """The text `key` in `lang` (a household's language: ja-easy and other languages fall back as the
    shared texts do); `default` when neither the channel nor the shared texts have it (else KeyError)."""
    ui = texts.ui_language(lang)
    for candidate in (ui, "ja"):
        found = spec.texts.get(candidate, {}).get(key)
        if found is not None:
            return found.format(**values) if values else found
    try:
        return texts.t(ui, key, **values)
    except KeyError:
        if default is None:
            raise
        return default


def channel_label(spec: ChannelSpec, lang: str) -> str:
    """The channel's name as a resident or a head reads it ("SMS", "音声")."""
    return channel_word(spec, lang, spec.label, default=spec.name)

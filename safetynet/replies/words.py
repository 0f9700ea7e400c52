"""A channel's words for residents and staff, from the catalogs: the keys its spec names (its label
`channel.<name>.label`, its kinds' `contact.kind.<kind>`, its enrolment section's
`enrol.<name>.<role>`), read in the household's page language."""

from __future__ import annotations

from safetynet.channels import registry
from safetynet.channels.spec import ChannelSpec
from safetynet.i18n import t, ui_language


def _text(lang: str, key: str, default: str | None, values: dict[str, object]) -> str:
    try:
        return t(ui_language(lang), key, **values)
    except KeyError:
        if default is None:
            raise
        return default


def channel_label(spec: ChannelSpec, lang: str) -> str:
    """The channel's name as a resident or a head reads it ("SMS", "音声電話")."""
    return _text(lang, spec.label_key, spec.name, {})


def kind_label(kind: str, lang: str) -> str:
    """A contact kind's name ("携帯電話（SMS・音声）"); the kind itself when no channel declares it."""
    try:
        key = registry.kind(kind).label_key
    except KeyError:
        return kind
    return _text(lang, key, kind, {})


def enrol_word(spec: ChannelSpec, lang: str, role: str, default: str | None = None, **values: object) -> str:
    """The enrolment section's text for `role` (title, done, bad_address…); `default` when the
    channel has none for it (else KeyError)."""
    assert spec.enrolment is not None
    return _text(lang, spec.enrolment.key(spec.name, role), default, values)

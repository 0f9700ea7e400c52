"""Per-domain pacing: carriers throttle bulk senders per receiving domain (pure)."""

from __future__ import annotations

from safetynet.channels.base import KeyPacing, OutboundMessage
from safetynet.channels.email.contacts import domain_of
from safetynet.channels.email.settings import EmailSettings


def recipient_domain(msg: OutboundMessage) -> str:
    return domain_of(msg.address)


def by_domain(settings: EmailSettings) -> KeyPacing | None:
    """The `[channels.email.domain_per_second]` table as the lanes' pacing (None when empty)."""
    if not settings.domain_per_second:
        return None
    return KeyPacing(recipient_domain, dict(settings.domain_per_second))

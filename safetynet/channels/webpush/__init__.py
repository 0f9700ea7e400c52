"""Web push (VAPID, RFC 8291/8292): a browser's subscription is the contact; answers come back from
the service worker's notification buttons. Light: pywebpush and cryptography load lazily."""

from __future__ import annotations

from safetynet.channels.spec import (
    ENROL_SUBSCRIPTION,
    MESSAGE_NOTIFICATION,
    ChannelSpec,
    ContactKindSpec,
    Enrolment,
)
from safetynet.channels.webpush.settings import WebPushSettings

NAME = "webpush"


def _mask(address: str) -> str:
    from safetynet.channels.webpush.subscriptions import endpoint_host

    return endpoint_host(address)


# A browser's push subscription, stored as canonical JSON ({"endpoint", "keys": {p256dh, auth}}).
WEBPUSH = ContactKindSpec("webpush", mask=_mask)

SPEC = ChannelSpec(
    name=NAME,
    settings=WebPushSettings,
    sender="safetynet.channels.webpush.sender:WebPushSender",
    sends_to=(WEBPUSH.name,),
    free=True,
    kinds=(WEBPUSH,),
    sandbox="safetynet.channels.webpush.sandbox:PushFake",
    init="safetynet.channels.webpush.vapid:load_or_create_vapid",
    resident="safetynet.channels.webpush.resident:PushResident",
    enrolment=Enrolment(
        ENROL_SUBSCRIPTION, WEBPUSH.name, accept="safetynet.channels.webpush.subscriptions:accept",
        page="safetynet.channels.webpush.enrol:page",
    ),
    letter_steps=("webpush", "iphone"),  # an iPhone needs the Home Screen app first
    message=MESSAGE_NOTIFICATION,
    # a push carries a Topic per campaign: a second copy replaces the first on the device
    duplicate_safe=True,
    # ECDH + AES-GCM per message: worth the second core
    cpu_bound=True,
)

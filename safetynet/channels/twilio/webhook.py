"""What Twilio's webhooks share: X-Twilio-Signature over the URL Twilio called and every param
(repeats too), and the status callbacks of messages and calls (`/hooks/twilio/status`).

A forged or tampered request is refused (403) and changes nothing. The auth token comes from
the channel's context, which holds the sandbox's public test credential only while the channel
talks to the sandbox: a real deployment never takes a request anyone could sign.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import structlog
from multidict import MultiDict
from twilio.request_validator import RequestValidator

from safetynet.auth import same_secret
from safetynet.channels.base import (
    ChannelContext,
    InboundPort,
    WebhookRefused,
    WebhookRequest,
    WebhookResponse,
    WebhookRoute,
)
from safetynet.channels.twilio import AUTH_TOKEN, STATUS_PATH
from safetynet.channels.twilio.status import parse_any_status
from safetynet.domain.phones import PhoneError, to_e164

log = structlog.get_logger("channels")

# An inbound SMS body is at most 1,600 characters; url-encoded UTF-8 with Twilio's params fits this.
MAX_TWILIO_BYTES = 32 * 1024


# The kinds of contact a number that texts or calls us may be (a number recorded as a landline can be an
# SMS-capable 050; a mobile calls back too).
FROM_KINDS = ("mobile", "landline")


def e164(number: str) -> str:
    """A caller's or sender's number as contacts store it (as it came when it is none)."""
    try:
        return to_e164(number)
    except PhoneError:
        return number.strip()


# What Twilio sends as `From` for a caller whose number is not shown (非通知, 公衆電話, 表示圏外): the
# words spelled on a keypad (ANONYMOUS, RESTRICTED, UNKNOWN, UNAVAILABLE, BLOCKED), or the words.
_WITHHELD = frozenset({"+266696687", "+7378742833", "+8656696", "+86282452253", "+2562533",
                       "anonymous", "restricted", "unknown", "unavailable", "blocked", "private"})
# A number shown from abroad ("+1…"): no household's (the roster holds Japanese numbers), but shown.
_INTERNATIONAL = re.compile(r"\+[1-9][0-9]{6,14}")


def caller_withheld(number: str) -> bool:
    """The caller's number was not shown: nothing to tell which household calls (Twilio's words for
    it, none at all, or something that is no phone number)."""
    shown = number.strip()
    if not shown or shown.lower() in _WITHHELD:
        return True
    try:
        to_e164(shown)
    except PhoneError:
        return _INTERNATIONAL.fullmatch(shown) is None
    return False


def verify_signature(auth_token: str, url: str, params: Mapping[str, str], signature: str | None) -> bool:
    """True when `signature` (X-Twilio-Signature) signs `url` and every received param.

    `url` must be the public URL Twilio called (`public_url + request.path_qs`), not the URL the
    request reached behind a proxy.
    """
    if not signature or not auth_token:
        return False
    validator = RequestValidator(auth_token)
    # Twilio signs the URL it called. The library's `validate` signs it twice, with and without the
    # port (its back end is inconsistent about it), and parses it: most of an SMS answer's handler.
    # The URL as called is what matches almost always, so it is tried alone first, with the
    # library's own signature and a constant-time comparison; anything else gets its whole check.
    expected = validator.compute_signature(url, params)
    if same_secret(signature, expected):
        return True
    return bool(validator.validate(url, params, signature))


async def signed_params(ctx: ChannelContext, req: WebhookRequest) -> dict[str, str]:
    """The form Twilio posted (first value of each name), or WebhookRefused(403) when
    X-Twilio-Signature does not sign it (every param, repeats too)."""
    pairs = await req.form()
    if not verify_signature(ctx.secret(AUTH_TOKEN.key), req.public_url, MultiDict(pairs),
                            req.headers.get("X-Twilio-Signature")):
        log.warning("webhook_refused", hook=req.path, reason="bad_signature")
        raise WebhookRefused(403, "bad signature")
    params: dict[str, str] = {}
    for k, v in pairs:
        params.setdefault(k, v)
    return params


def twiml(body: str) -> WebhookResponse:
    return WebhookResponse(200, body, "text/xml")


def status_route(ctx: ChannelContext, inbound: InboundPort) -> WebhookRoute:
    """Message and call status callbacks: the delivery state of the outbox row of that provider id.

    SMS and voice both declare it; the registry mounts one (of the first enabled channel)."""

    async def status_hook(req: WebhookRequest) -> WebhookResponse:
        cb = parse_any_status(await signed_params(ctx, req))
        if cb is not None:
            # The outbox keeps the highest-ranked state (callbacks arrive out of order).
            if not await inbound.delivery_status(cb.provider_id, cb.state, cb.error_code):
                # Not recorded yet (the callback beat the send's commit), or not ours: held a while
                # and applied if the id is recorded; Twilio gets its 204 either way.
                log.info("status_callback_held", state=cb.state)
        return WebhookResponse(204)

    return WebhookRoute("POST", STATUS_PATH, status_hook, MAX_TWILIO_BYTES)

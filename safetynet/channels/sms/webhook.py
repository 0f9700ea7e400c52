"""Inbound SMS (`/hooks/twilio/sms`) and the shared status callbacks: signed by Twilio, meaning decided
behind the `InboundPort` (keywords, several households on one phone)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from twilio.twiml.messaging_response import MessagingResponse

from safetynet.channels.base import (
    ChannelContext,
    ChannelSender,
    InboundPort,
    WebhookRefused,
    WebhookRequest,
    WebhookResponse,
    WebhookRoute,
)
from safetynet.channels.twilio.webhook import (
    FROM_KINDS,
    MAX_TWILIO_BYTES,
    e164,
    signed_params,
    status_route,
    twiml,
)

SMS_PATH = "/hooks/twilio/sms"


@dataclass(frozen=True, slots=True)
class InboundSms:
    message_sid: str
    from_: str
    to: str
    body: str


def parse_inbound(params: dict[str, str]) -> InboundSms:
    """An inbound SMS webhook; ValueError when it lacks what identifies it."""
    sid, from_ = params.get("MessageSid", ""), params.get("From", "")
    if not sid or not from_:
        raise ValueError("inbound SMS without MessageSid or From")
    return InboundSms(sid, from_, params.get("To", ""), params.get("Body", ""))


@functools.lru_cache(maxsize=256)
def reply_twiml(reply: str) -> str:
    """The TwiML that answers an SMS with `reply` (none when empty). Almost every reply is one of
    the catalog's few lines (recorded, how to reply, nothing running) in a language, so each is built once; the rare
    reply with links (several households on one phone) passes through the bounded cache."""
    mr = MessagingResponse()
    if reply:
        mr.message(reply)
    return str(mr)


def routes(ctx: ChannelContext, inbound: InboundPort, sender: ChannelSender | None) -> list[WebhookRoute]:
    async def sms_hook(req: WebhookRequest) -> WebhookResponse:
        params = await signed_params(ctx, req)
        try:
            sms = parse_inbound(params)
        except ValueError:
            raise WebhookRefused(400, "not an inbound SMS") from None
        reply = await inbound.text_message(ctx.name, FROM_KINDS, e164(sms.from_), sms.body, sms.message_sid)
        return twiml(reply_twiml(reply))

    return [WebhookRoute("POST", SMS_PATH, sms_hook, MAX_TWILIO_BYTES), status_route(ctx, inbound)]

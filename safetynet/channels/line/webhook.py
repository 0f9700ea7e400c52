"""`POST /hooks/line`: postbacks (answers), follow and text messages (enrolment by code), unfollow
(the contact is dead), behind LINE's X-Line-Signature.

The signature is checked over the raw body before anything is parsed: a bad or missing one is a
403 and nothing changes. Once it holds, each event is handled on its own: one that fails (the store
busy or gone a moment) is logged and the others go on; the answer is then 503, for LINE to redeliver
(when its console's webhook redelivery is on), else 200 whatever the events were. Each event's
webhookEventId is its dedupe key, so a redelivery is counted once.
"""

from __future__ import annotations

import structlog

from safetynet.channels import labels
from safetynet.channels.base import (
    ChannelContext,
    ChannelSender,
    InboundPort,
    WebhookRefused,
    WebhookRequest,
    WebhookResponse,
    WebhookRoute,
)
from safetynet.channels.line import CHANNEL_SECRET
from safetynet.channels.line.contacts import LINE
from safetynet.channels.line.events import (
    SIGNATURE_HEADER,
    WEBHOOK_PATH,
    LineEvent,
    MalformedBody,
    parse_events,
    parse_postback_data,
    verify_signature,
)
from safetynet.i18n import t

log = structlog.get_logger("channels")

# LINE batches events; a body of a few dozen events is some tens of KB.
MAX_BODY_BYTES = 256 * 1024
# why a LINE contact is dead when its resident blocked the account (and so what a follow revives)
UNFOLLOWED = "unfollowed"


def routes(ctx: ChannelContext, inbound: InboundPort, sender: ChannelSender | None) -> list[WebhookRoute]:
    # Typed loosely: the sender module (and the SDK) loads only when a sender exists.
    bot = sender if sender is not None and hasattr(sender, "reply") else None
    secret = ctx.secret(CHANNEL_SECRET.key)

    async def line_hook(req: WebhookRequest) -> WebhookResponse:
        body = await req.body()
        if not verify_signature(secret, body, req.headers.get(SIGNATURE_HEADER)):
            log.warning("webhook_refused", hook=req.path, reason="bad_signature")
            raise WebhookRefused(403, "bad signature")
        try:
            events = parse_events(await req.json())
        except MalformedBody as e:
            raise WebhookRefused(400, str(e)) from None
        failed = 0
        for ev in events:
            try:
                texts = await _handle(ctx, inbound, ev)
            except Exception:  # review: one event's failure dropped every event after it in the body
                log.exception("line_event_failed", kind=ev.kind)
                failed += 1
                continue
            if bot is not None and texts and ev.reply_token and not ev.redelivery:
                try:
                    await bot.reply(ev.reply_token, texts)
                except Exception as e:  # the answer is kept; only its acknowledgement in the chat is lost
                    log.warning("line_reply_failed", kind=ev.kind, error=f"{type(e).__name__}: {e}"[:200])
        if failed:
            return WebhookResponse(503, '{"error": "some events could not be handled; redeliver"}', "application/json")
        return WebhookResponse(200, "{}", "application/json")

    return [WebhookRoute("POST", WEBHOOK_PATH, line_hook, MAX_BODY_BYTES)]


async def _handle(ctx: ChannelContext, inbound: InboundPort, ev: LineEvent) -> list[str]:
    """Hands the event to the port; returns what to answer the resident with."""
    key = f"line:{ev.event_id}"
    if ev.kind == "postback":
        parsed = parse_postback_data(ev.data)
        if parsed is None:
            return []
        campaign_id, answer = parsed
        ack = await inbound.answer_from(LINE.name, ev.user_id, campaign_id, answer, ctx.name, key, ev.sent_at)
        if ack.notice:
            return [ack.notice]
        if not ack.found:
            return []
        recorded = labels.recorded_message(answer, ack.language)
        if ack.moved_to:  # an ended campaign's button: the running campaign took the answer, and it is said
            recorded += "\n" + t(ack.language, "channel.moved", old=ack.moved_from, new=ack.moved_to)
        return [recorded]
    if ev.kind == "text":
        reply = await inbound.text_message(ctx.name, [LINE.name], ev.user_id, ev.text, ev.event_id, ev.sent_at)
        return [reply] if reply else []
    if ev.kind == "follow":
        # back after blocking the account: its contacts work again, and its next alert comes here (review:
        # a resident who unblocked it on the night and pressed 助けが必要 was told no check was running)
        # (in the household's language: an English one was welcomed back in Japanese; review)
        back = await inbound.contact_back(LINE.name, ev.user_id, UNFOLLOWED)
        if back.count:
            log.info("line_followed_again", contacts=back.count)
            return [t(back.language, "line.follow_again")]
        # A friend now; the household is linked when the resident sends the letter's code.
        return [t(back.language, "line.follow")]
    if ev.kind == "unfollow":
        n = await inbound.contact_gone(LINE.name, ev.user_id, UNFOLLOWED)
        log.info("line_unfollowed", contacts=n)
    return []

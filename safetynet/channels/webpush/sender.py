"""Web push (VAPID, RFC 8291/8292): the body encrypted by `encryption.py` (RFC 8291), POSTed on one
shared aiohttp session, the push service's answer classified here.

It does what pywebpush's `webpush_async` does, minus its per-message copying of the subscription and
its header dicts (`encryption.py` says why). Traps handled (../shared/notes/libraries.md §2): the TTL
is always set (0 drops the alert for an offline phone), a timeout on every call; the VAPID header
comes from `vapid.VapidHeaders`, signed once per push-service origin.
"""

from __future__ import annotations

import json

import aiohttp

from safetynet.channels import labels
from safetynet.channels.base import (
    ChannelContext,
    OutboundMessage,
    PermanentSendError,
    Reason,
    Redactor,
    RetryableSendError,
    SendError,
    SendResult,
    parse_retry_after,
    send_logged,
)
from safetynet.channels.webpush.encryption import CONTENT_ENCODING, InvalidSubscription, encrypt, receiver
from safetynet.channels.webpush.settings import WebPushSettings
from safetynet.channels.webpush.vapid import VapidHeaders, VapidKeys, load_or_create_vapid

# 4,096 bytes a record, minus the aes128gcm header (86), the tag (16) and a pad byte; with margin.
MAX_PAYLOAD_BYTES = 3800


# --- payload and sending -----------------------------------------------------------------------


def topic(msg: OutboundMessage) -> str | None:
    """The push's Topic (<= 32 base64url characters): a newer alert to the same household in the same
    campaign replaces an unread one. Per household, not per campaign: a phone enrolled for two (a
    daughter's and her mother's) kept one of their alerts, the other collapsed away while it was offline
    (review). A staff alert has none: each is another household's call for help."""
    return f"safetynet-c{msg.campaign_id}h{msg.household_id}" if msg.reply_token else None


def build_payload(msg: OutboundMessage) -> str:
    """The JSON the service worker receives: text, reply link and token, two answer actions, and the
    words for an answer it could not send yet.

    A staff alert (no reply token) has no actions: a tap opens its link (the dashboard).
    """
    doc: dict[str, object] = {
        "title": msg.title,
        "body": msg.text,
        "url": msg.reply_url,
        "token": msg.reply_token,
        "campaign": msg.campaign_id,
        "drill": msg.drill,
        # the service worker posts its answers back saying which channel carried them
        "channel": msg.channel,
    }
    if msg.reply_token:
        doc["actions"] = [{"action": a, "title": labels.answer_label(a, msg.language)} for a in labels.ANSWERS]
        # shown by the service worker when a tap cannot be sent (no signal): the phone keeps the
        # answer and sends it when it is back online, so the words travel with the alert
        doc["pending"] = {a: labels.pending_text(a, msg.language) for a in labels.ANSWERS}
    data = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    excess = len(data.encode()) - MAX_PAYLOAD_BYTES
    if excess <= 0:
        return data
    # Too long for one push record: shorten the body (never the link); 4 bytes covers any character.
    keep = max(0, len(msg.text) - excess)
    while True:
        doc["body"] = msg.text[:keep] + "…"
        data = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
        if len(data.encode()) <= MAX_PAYLOAD_BYTES or keep == 0:
            return data
        keep = max(0, keep - (len(data.encode()) - MAX_PAYLOAD_BYTES) - 3)


class WebPushSender:
    def __init__(
        self, ctx: ChannelContext, keys: VapidKeys | None = None, session: aiohttp.ClientSession | None = None,
    ) -> None:
        cfg: WebPushSettings = ctx.settings
        if cfg.ttl_seconds <= 0:
            raise ValueError("channels.webpush.ttl_seconds must be > 0: TTL 0 drops the alert for an offline phone")
        self.name = ctx.name
        self.cfg = cfg
        self.keys = keys or load_or_create_vapid(ctx.data_dir)
        self._headers = VapidHeaders(self.keys.vapid, cfg.subscriber, ctx.clock)
        # The same for every push; Content-Type is aiohttp's for a bytes body (application/octet-stream).
        self._fixed_headers = {"TTL": str(cfg.ttl_seconds), "Urgency": "high", "Content-Encoding": CONTENT_ENCODING}
        self._timeout = aiohttp.ClientTimeout(total=cfg.timeout_seconds)
        self._session = session
        self._own_session = session is None
        self._redact = Redactor()

    async def start(self) -> None:
        if self._session is None or (self._own_session and self._session.closed):
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self.cfg.concurrency))
            self._own_session = True

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, msg: OutboundMessage) -> SendResult:
        return await send_logged(self.name, msg, self._attempt)

    async def _attempt(self, msg: OutboundMessage) -> SendResult:
        if self._session is None:
            raise RuntimeError("WebPushSender.start() was not called")
        try:
            to = receiver(json.loads(msg.address))
            authorization = self._headers.authorization(to.endpoint)
        except (InvalidSubscription, ValueError, TypeError):
            raise PermanentSendError(Reason.SUBSCRIPTION_GONE, contact_dead=True, error_class="InvalidSubscription") from None
        body = encrypt(build_payload(msg).encode(), to)
        headers = {**self._fixed_headers, "Authorization": authorization}
        collapse = topic(msg)
        if collapse is not None:
            headers["Topic"] = collapse
        try:
            async with self._session.post(to.endpoint, data=body, headers=headers, timeout=self._timeout) as resp:
                if resp.status > 202:  # 201 Created is the push service's yes (202 for a receipt)
                    raise self._classify_response(resp.status, resp.reason or "", await resp.text(),
                                                  resp.headers.get("Retry-After"))
                return SendResult(resp.headers.get("Location"))
        except TimeoutError as e:
            raise RetryableSendError(Reason.TIMEOUT, outcome_unknown=True, error_class=type(e).__name__) from e
        except aiohttp.ClientConnectorError as e:
            raise RetryableSendError(Reason.NETWORK, error_class=type(e).__name__, provider_answer=self._redact(str(e))) from e
        except aiohttp.ClientError as e:
            raise RetryableSendError(
                Reason.NETWORK, outcome_unknown=True, error_class=type(e).__name__, provider_answer=self._redact(str(e))
            ) from e

    def _classify_response(self, status: int, reason: str, text: str, retry_after: str | None) -> SendError:
        answer = self._redact(f"{status} {reason}: {text}")
        name = f"HTTP{status}"
        if status in (404, 410):
            return PermanentSendError(Reason.SUBSCRIPTION_GONE, contact_dead=True, error_class=name, provider_answer=answer)
        if status == 429:
            return RetryableSendError(
                Reason.RATE_LIMITED, retry_after=parse_retry_after(retry_after), error_class=name, provider_answer=answer
            )
        if status >= 500:
            return RetryableSendError(Reason.SERVER_ERROR, outcome_unknown=True, error_class=name, provider_answer=answer)
        if status in (401, 403):
            # Our VAPID key is not the one the browser subscribed with: an operator problem.
            return PermanentSendError(Reason.CONFIGURATION, error_class=name, provider_answer=answer)
        return PermanentSendError(Reason.BAD_REQUEST, error_class=name, provider_answer=answer)

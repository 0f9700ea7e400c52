"""LINE sender: line-bot-sdk v3's async client (`AsyncApiClient`/`AsyncMessagingApi`, aiohttp).

A campaign alert is the shared text and a confirm template with two postback buttons whose data
names the campaign and the answer (the household is the event's `source.userId`), so one multicast
carries it to up to 500 households. Every request carries an `X-Line-Retry-Key` derived from what
it sends: a retry of the same request gets 409 from LINE ("already accepted"), which is a success,
never a second copy. A staff alert (no reply token: its text holds its link) is plain text.

The SDK is imported in `start()` (about 2 s, ../shared/notes/libraries-next.md §1), never at import.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import aiohttp
import structlog

from safetynet.channels import labels
from safetynet.channels.base import (
    BatchOutcome,
    ChannelContext,
    OutboundMessage,
    PermanentSendError,
    Reason,
    Redactor,
    RetryableSendError,
    SendError,
    SendResult,
    parse_retry_after,
    send_batch_logged,
    send_logged,
)
from safetynet.channels.line.contacts import is_user_id
from safetynet.channels.line.events import postback_data
from safetynet.channels.line.settings import LineSettings
from safetynet.i18n import t

if TYPE_CHECKING:
    from linebot.v3.messaging import AsyncApiClient, AsyncMessagingApi

log = structlog.get_logger("channels")

# LINE's limits: recipients of one multicast, characters of a text, of a template's text and alt text.
MAX_RECIPIENTS = 500
MAX_TEXT_CHARS = 5000
MAX_TEMPLATE_TEXT = 240
MAX_ALT_TEXT = 400
_KEY_SPACE = uuid.UUID("5f0c7a4e-2b9d-4c1e-9a43-7d1f3c2b8e61")


def retry_key(msgs: Sequence[OutboundMessage]) -> str:
    """The X-Line-Retry-Key of one request: a UUID (as a str: the SDK refuses a uuid.UUID) made of
    what the request carries, so every retry of the same request has the same key."""
    h = hashlib.sha256()
    for m in msgs:
        h.update(f"{m.campaign_id}:{m.delivery_id}:{m.household_id}:{m.address}\n".encode())
    h.update(msgs[0].text.encode())
    return str(uuid.uuid5(_KEY_SPACE, h.hexdigest()))


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def message_objects(msg: OutboundMessage) -> list[Any]:
    """The SDK message objects of `msg`: its text, and the answer buttons for a campaign alert."""
    from linebot.v3.messaging import ConfirmTemplate, PostbackAction, TemplateMessage, TextMessage

    text = TextMessage(text=_cut(msg.text, MAX_TEXT_CHARS))
    if not msg.reply_token:  # a staff alert: its link is in its text
        return [text]
    question = _cut(t(msg.language, "line.question"), MAX_TEMPLATE_TEXT)
    actions = [PostbackAction(label=labels.answer_label(a, msg.language), data=postback_data(msg.campaign_id, a),
                              display_text=labels.answer_label(a, msg.language)) for a in labels.ANSWERS]
    buttons = TemplateMessage(alt_text=_cut(f"{msg.title}\n{question}".strip(), MAX_ALT_TEXT),
                              template=ConfirmTemplate(text=question, actions=actions))
    return [text, buttons]


def _header(e: Any, name: str) -> str:
    headers = getattr(e, "headers", None)
    if headers is None:
        return ""
    try:
        return str(headers.get(name) or "")
    except AttributeError:
        return ""


def _message_of(body: Any) -> str:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str) or not body:
        return ""
    try:
        doc = json.loads(body)
    except ValueError:
        return body
    if not isinstance(doc, dict):
        return body
    details = doc.get("details")
    details = details if isinstance(details, list) else []
    props = " ".join(str(d.get("property", "")) for d in details if isinstance(d, dict))
    return f"{doc.get('message', '')} {props}".strip()


class LineSender:
    """`ChannelSender` and `BatchSender` (multicast, `max_batch` recipients a request)."""

    max_batch = MAX_RECIPIENTS

    def __init__(self, ctx: ChannelContext) -> None:
        from safetynet.channels.line import ACCESS_TOKEN

        self.name = ctx.name
        self.cfg: LineSettings = ctx.settings
        self.clock = ctx.clock
        self._ctx = ctx
        self._token = ctx.secret(ACCESS_TOKEN.key)
        self._redact = Redactor((self._token,))
        self._client: AsyncApiClient | None = None
        self._api: AsyncMessagingApi | None = None
        # A 429 pauses the whole channel: until then sends fail fast without calling LINE.
        self._paused_until = 0.0
        self._basic_id: str | None = None

    @property
    def api(self) -> AsyncMessagingApi:
        if self._api is None:
            raise RuntimeError("LineSender.start() was not called")
        return self._api

    async def start(self) -> None:
        # Built inside the running loop: the client opens its aiohttp session in its constructor.
        from linebot.v3.messaging import AsyncApiClient, AsyncMessagingApi, Configuration

        conf = Configuration(access_token=self._token, host=self.cfg.api_base_url.rstrip("/"))
        # The SDK's default pool is cpu_count()*5: too few for the lane's concurrency on a small machine.
        conf.connection_pool_maxsize = max(10, self.cfg.concurrency * 2)
        self._client = AsyncApiClient(conf)
        self._api = AsyncMessagingApi(self._client)  # always with the client (the SDK's default one is broken)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
            self._api = None

    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self.clock.monotonic())

    def _check_pause(self) -> None:
        remaining = self.paused_for()
        if remaining > 0:
            raise RetryableSendError(Reason.RATE_LIMITED, retry_after=remaining, error_class="ChannelPaused")

    # -- one recipient (staff alerts, a batch of one) ------------------------------------------

    async def send(self, msg: OutboundMessage) -> SendResult:
        return await send_logged(self.name, msg, self._attempt)

    async def _attempt(self, msg: OutboundMessage) -> SendResult:
        self._check_pause()
        if not is_user_id(msg.address):
            raise PermanentSendError(Reason.CHAT_NOT_FOUND, contact_dead=True, error_class="InvalidUserId")
        from linebot.v3.messaging import PushMessageRequest

        request = PushMessageRequest(to=msg.address, messages=message_objects(msg))
        try:
            r = await self.api.push_message_with_http_info(
                request, x_line_retry_key=retry_key([msg]), _request_timeout=self.cfg.timeout_seconds)
        except Exception as e:
            accepted = self._accepted(e)
            if accepted is not None:
                return SendResult(accepted)
            raise self._classify(e, single=True) from e
        sent = getattr(r.data, "sent_messages", None) or []
        return SendResult(str(sent[0].id) if sent else _header(r, "X-Line-Request-Id") or None)

    # -- many recipients: multicast ------------------------------------------------------------

    async def send_batch(self, msgs: Sequence[OutboundMessage]) -> list[BatchOutcome]:
        return await send_batch_logged(self.name, msgs, self._attempt_batch)

    async def _attempt_batch(self, msgs: Sequence[OutboundMessage]) -> list[BatchOutcome]:
        self._check_pause()
        out: list[BatchOutcome | None] = [None] * len(msgs)
        # One request per distinct message (a batch is one campaign; its languages differ).
        groups: dict[tuple[str, str, bool], list[int]] = {}
        for i, m in enumerate(msgs):
            if not is_user_id(m.address):
                out[i] = PermanentSendError(Reason.CHAT_NOT_FOUND, contact_dead=True, error_class="InvalidUserId")
            else:
                groups.setdefault((m.text, m.language, bool(m.reply_token)), []).append(i)
        errors: list[SendError] = []
        for indexes in groups.values():
            for start in range(0, len(indexes), MAX_RECIPIENTS):
                part = indexes[start:start + MAX_RECIPIENTS]
                result: BatchOutcome
                try:
                    result = await self._multicast([msgs[i] for i in part])
                except SendError as e:
                    errors.append(e)
                    result = e
                for i in part:
                    out[i] = result
        # Every request failed (the common case: one language, one request): raise, so the lane
        # retries or pauses it as one.
        if errors and all(any(o is e for e in errors) for o in out):
            raise errors[0]
        return [o if o is not None else PermanentSendError(Reason.BAD_REQUEST) for o in out]

    async def _multicast(self, msgs: Sequence[OutboundMessage]) -> SendResult:
        from linebot.v3.messaging import MulticastRequest

        request = MulticastRequest(to=[m.address for m in msgs], messages=message_objects(msgs[0]))
        try:
            r = await self.api.multicast_with_http_info(
                request, x_line_retry_key=retry_key(msgs), _request_timeout=self.cfg.timeout_seconds)
        except Exception as e:
            accepted = self._accepted(e)
            if accepted is not None:
                return SendResult(accepted)
            raise self._classify(e, single=False) from e
        return SendResult(_header(r, "X-Line-Request-Id") or None)

    # -- replies to a webhook event (free: a reply token, not a push) --------------------------

    async def reply(self, reply_token: str, texts: Sequence[str]) -> bool:
        """Answers an event with its reply token; False (logged) when LINE refused."""
        from linebot.v3.messaging import ReplyMessageRequest, TextMessage

        if not reply_token or not texts:
            return False
        try:
            await self.api.reply_message(ReplyMessageRequest(
                reply_token=reply_token, messages=[TextMessage(text=_cut(x, MAX_TEXT_CHARS)) for x in texts[:5]]),
                _request_timeout=self.cfg.timeout_seconds)
        except Exception as e:
            log.warning("line_reply_failed", error_class=type(e).__name__, status=getattr(e, "status", None))
            return False
        return True

    async def basic_id(self) -> str:
        """The official account's basic id (`@…`, GET /v2/bot/info), asked once; "" while LINE does not answer."""
        if self._basic_id is None:
            try:
                info = await self.api.get_bot_info(_request_timeout=5)
            except Exception as e:  # the enrolment page works without the link
                log.warning("line_bot_info_failed", error_class=type(e).__name__)
                return ""
            self._basic_id = str(getattr(info, "basic_id", "") or "")
        return self._basic_id

    # -- classification ------------------------------------------------------------------------

    def _accepted(self, e: Exception) -> str | None:
        """409: LINE took a request with this retry key already (our earlier try reached it)."""
        from linebot.v3.messaging import ApiException

        if isinstance(e, ApiException) and e.status == 409:
            log.info("line_retry_key_accepted", channel=self.name)
            return _header(e, "X-Line-Accepted-Request-Id") or "accepted"
        return None

    def _classify(self, e: Exception, single: bool) -> SendError:
        from linebot.v3.messaging import ApiException

        name = type(e).__name__
        if isinstance(e, TimeoutError):
            return RetryableSendError(Reason.TIMEOUT, outcome_unknown=True, error_class=name)
        if isinstance(e, aiohttp.ClientConnectorError):
            # never connected: LINE cannot have it
            return RetryableSendError(Reason.NETWORK, error_class=name)
        if isinstance(e, aiohttp.ClientError):
            return RetryableSendError(Reason.NETWORK, outcome_unknown=True, error_class=name)
        if not isinstance(e, ApiException) or not e.status:
            return PermanentSendError(Reason.BAD_REQUEST, error_class=name)
        status, message = int(e.status), _message_of(e.body)
        answer = self._redact(f"{status} {message}")
        if status == 429:
            if "monthly limit" in message.lower():  # the plan's quota, not a rate: waiting does not help
                return PermanentSendError(Reason.CONFIGURATION, error_class=name, provider_answer=answer)
            seconds = parse_retry_after(_header(e, "Retry-After"))
            pause = seconds if seconds is not None else 1.0
            self._paused_until = max(self._paused_until, self.clock.monotonic() + pause)
            return RetryableSendError(Reason.RATE_LIMITED, retry_after=seconds, error_class=name, provider_answer=answer)
        if status >= 500:
            return RetryableSendError(Reason.SERVER_ERROR, outcome_unknown=True, error_class=name, provider_answer=answer)
        if status in (401, 403):
            return PermanentSendError(Reason.CONFIGURATION, error_class=name, provider_answer=answer)
        if status == 400 and single and "'to'" in message:
            # a user id this channel cannot reach (malformed, or of another provider)
            return PermanentSendError(Reason.CHAT_NOT_FOUND, contact_dead=True, error_class=name,
                                      provider_answer=answer)
        return PermanentSendError(Reason.BAD_REQUEST, error_class=name, provider_answer=answer)

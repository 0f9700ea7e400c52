"""The Twilio transport shared by SMS and voice, and the classification of Twilio's errors.

twilio 9.13's `AsyncTwilioHttpClient` ignores its timeout, retries POSTs on 5xx when given
`max_retries` (duplicate SMS), builds `aiohttp.BasicAuth` (a DeprecationWarning under
aiohttp 3.14) and hides Retry-After. `TwilioHttp` fixes all four; see ../shared/notes/libraries.md §1.
Shared by the SMS and voice senders.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from safetynet.channels.base import (
    ChannelContext,
    PermanentSendError,
    Reason,
    Redactor,
    RetryableSendError,
    SendError,
    parse_retry_after,
)
from safetynet.channels.twilio import ACCOUNT_SID, AUTH_TOKEN

FORM = "application/x-www-form-urlencoded"
# quote_plus as a str.translate table over the UTF-8 bytes (read as Latin-1, one char a byte):
# urlencode quotes byte by byte in Python, a sixth of an SMS send's CPU in the first wave (py-spy).
_UNQUOTED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")
_FORM_QUOTED = ["+" if b == 0x20 else chr(b) if b in _UNQUOTED else f"%{b:02X}" for b in range(256)]


def form_encode(data: dict[str, object]) -> str:
    """`urlencode(data, doseq=True)`, the same string, faster for the string values twilio sends."""
    if not all(isinstance(v, str) for v in data.values()):
        return urlencode(data, doseq=True)
    return "&".join(f"{_form_quote(k)}={_form_quote(v)}" for k, v in data.items())  # type: ignore[arg-type]


def _form_quote(text: str) -> str:
    return text.encode().decode("latin-1").translate(_FORM_QUOTED)


class TwilioRateLimited(TwilioException):
    """A 429 from Twilio, with its Retry-After (seconds) when the server sent one."""

    def __init__(self, retry_after: float | None, code: int | None, message: str) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.code = code


class TwilioHttp(AsyncTwilioHttpClient):
    """Rewrites every URL onto `base_url`, sets Authorization itself and enforces `timeout`.

    Never retries: a POST whose answer was lost may have sent an SMS, and only the dispatcher
    may decide to send it again.
    """

    def __init__(self, base_url: str | None, timeout: float, connections: int = 100) -> None:
        # pool_connections=False: the parent would build a bare ClientSession; we build our own.
        super().__init__(pool_connections=False, timeout=timeout)
        self.base_url = base_url.rstrip("/") if base_url else None
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections), skip_auto_headers=("User-Agent",)
        )
        self._auth: tuple[tuple[str, str], str] | None = None

    def _authorization(self, auth: tuple[str, str]) -> str:
        # Encoding once per credential pair keeps base64 off the hot path.
        if self._auth is None or self._auth[0] != auth:
            self._auth = (auth, aiohttp.encode_basic_auth(auth[0], auth[1]))
        return self._auth[1]

    def _rebase(self, url: str) -> str:
        if not self.base_url:
            return url
        p = urlsplit(url)
        return self.base_url + p.path + (f"?{p.query}" if p.query else "")

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the signature twilio calls
        allow_redirects: bool = False,
    ) -> Response:
        hdrs = dict(headers or {})
        if auth is not None:
            hdrs["Authorization"] = self._authorization(auth)
        body = None
        if data:
            # Encoded here: a dict makes aiohttp build a FormData and a MultipartWriter per request.
            body = form_encode(data).encode()
            hdrs["Content-Type"] = FORM
        assert self.session is not None
        # asyncio.timeout covers connect, send and the whole body; aiohttp's own is not used.
        async with asyncio.timeout(timeout or self.timeout):
            async with self.session.request(
                method.upper(),
                self._rebase(url),
                params=params,  # type: ignore[arg-type]
                data=body,
                headers=hdrs,
                allow_redirects=allow_redirects,
            ) as resp:
                text = await resp.text()
        if resp.status == 429:
            raise TwilioRateLimited(parse_retry_after(resp.headers.get("Retry-After")), _code(text), text)
        return Response(resp.status, text, resp.headers)


def _code(text: str) -> int | None:
    try:
        code = json.loads(text).get("code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, int) else None


# Twilio error codes that mean the number will never work: the contact is marked dead (no call, no text).
DEAD_CODES: dict[int, Reason] = {
    21211: Reason.INVALID_NUMBER,  # 'To' is not a valid phone number
    21214: Reason.INVALID_NUMBER,  # 'To' cannot be reached (voice)
    21217: Reason.INVALID_NUMBER,  # number not valid for voice
    21612: Reason.INVALID_NUMBER,  # not reachable from our sender
}
# Codes that refuse texts only: the number still takes calls and its own texts to us still count, so
# the message fails for good (the step falls back to a call) and the contact stays. Marked dead, a STOP
# (or a landline in the mobile column) silenced the number's calls and made its 「2 助けて」 unmatched,
# where the README promises a STOP stops nothing (review).
TEXT_REFUSED_CODES: dict[int, Reason] = {
    21614: Reason.NOT_MOBILE,  # 'To' is not a mobile number (SMS to a landline)
    21610: Reason.UNSUBSCRIBED,  # recipient replied STOP to our sender
}
# Our account or sender is wrong: nothing to do per message, an operator must fix it.
CONFIG_CODES = frozenset({20003, 20005, 20404, 21212, 21606, 21659, 21408})


def classify(e: BaseException, redact: Redactor) -> SendError:
    """Maps whatever the Twilio client raised to our error family."""
    name = type(e).__name__
    if isinstance(e, TwilioRateLimited):
        return RetryableSendError(
            Reason.RATE_LIMITED, retry_after=e.retry_after, error_class=name, provider_answer=redact(str(e))
        )
    if isinstance(e, TwilioRestException | TwilioServiceException):
        return _classify_status(e.status, e.code, name, redact(_message(e)))
    if isinstance(e, TimeoutError):
        return RetryableSendError(Reason.TIMEOUT, outcome_unknown=True, error_class=name)
    if isinstance(e, aiohttp.ClientConnectorError):
        # The connection never opened: nothing was sent.
        return RetryableSendError(Reason.NETWORK, error_class=name, provider_answer=redact(str(e)))
    if isinstance(e, aiohttp.ClientError):
        return RetryableSendError(
            Reason.NETWORK, outcome_unknown=True, error_class=name, provider_answer=redact(str(e))
        )
    # A 2xx whose body did not parse, or another SDK complaint: the provider may have accepted it.
    return RetryableSendError(
        Reason.SERVER_ERROR, outcome_unknown=True, error_class=name, provider_answer=redact(str(e))
    )


def _message(e: TwilioRestException | TwilioServiceException) -> str:
    if isinstance(e, TwilioRestException):
        return f"{e.status} {e.code}: {e.msg}"
    return f"{e.status} {e.code}: {e.title} {e.detail or ''}"


def _classify_status(status: int, code: Any, name: str, answer: str) -> SendError:
    if status >= 500:
        return RetryableSendError(
            Reason.SERVER_ERROR, outcome_unknown=True, error_class=name, provider_answer=answer
        )
    if isinstance(code, int) and code in DEAD_CODES:
        return PermanentSendError(DEAD_CODES[code], contact_dead=True, error_class=name, provider_answer=answer)
    if isinstance(code, int) and code in TEXT_REFUSED_CODES:
        return PermanentSendError(TEXT_REFUSED_CODES[code], error_class=name, provider_answer=answer)
    if status in (401, 403) or (isinstance(code, int) and code in CONFIG_CODES):
        return PermanentSendError(Reason.CONFIGURATION, error_class=name, provider_answer=answer)
    if status == 429:
        return RetryableSendError(Reason.RATE_LIMITED, error_class=name, provider_answer=answer)
    return PermanentSendError(Reason.BAD_REQUEST, error_class=name, provider_answer=answer)


class TwilioAccount:
    """The Twilio REST client of one sender: credentials, transport, and a redactor for its answers."""

    def __init__(self, ctx: ChannelContext) -> None:
        settings = ctx.settings
        api_base_url, timeout_seconds, connections = settings.api_base_url, settings.timeout_seconds, settings.concurrency
        self.sid = ctx.secret(ACCOUNT_SID.key)
        self._token = ctx.secret(AUTH_TOKEN.key)
        self._base_url, self._timeout, self._connections = api_base_url, timeout_seconds, connections
        basic = aiohttp.encode_basic_auth(self.sid, self._token).split(" ", 1)[1]
        self.redact = Redactor((self.sid, self._token, basic))
        self._http: TwilioHttp | None = None

    async def open(self) -> Any:
        """The account's REST resource (`.messages`, `.calls`). Needs the running loop (aiohttp session)."""
        self._http = TwilioHttp(self._base_url, self._timeout, self._connections)
        return Client(self.sid, self._token, http_client=self._http).api.v2010.accounts(self.sid)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

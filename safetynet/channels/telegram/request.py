"""A python-telegram-bot `BaseRequest` over aiohttp.

PTB's default HTTPX transport spends about 5 ms of CPU per message here (httpcore pool
bookkeeping; see ../shared/notes/libraries.md §3). The library accepts any `BaseRequest`; this
one rides on an aiohttp session (the app's, or its own) and costs a fraction of that.
`safetynet bench channels` measures both.
"""

from __future__ import annotations

import asyncio

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

JSON_HEADERS = {"Content-Type": "application/json"}


class NotSentError(NetworkError):
    """The connection never opened, so the request cannot have reached Telegram."""


class AiohttpRequest(BaseRequest):
    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        connections: int = 16,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
    ) -> None:
        self._session = session
        self._own_session = session is None
        self._connections = connections
        # One deadline for a whole request (connect, pool wait, send, answer) unless PTB passes its own.
        self._timeout = timeout
        self._connect_timeout = connect_timeout

    @property
    def read_timeout(self) -> float | None:
        return self._timeout

    async def initialize(self) -> None:
        if self._session is None or (self._own_session and self._session.closed):
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self._connections))
            self._own_session = True

    async def shutdown(self) -> None:
        if self._own_session and self._session is not None and not self._session.closed:
            await self._session.close()

    def _deadline(self, read_timeout: object) -> float:
        # PTB passes DEFAULT_NONE unless a caller chose a read timeout (getUpdates long polls do).
        if isinstance(read_timeout, int | float):
            return self._connect_timeout + float(read_timeout)
        return self._timeout

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        if request_data is not None and request_data.contains_files:
            # SafetyNet sends text only; uploads would need multipart, which we never build.
            raise NetworkError("file uploads are not supported by AiohttpRequest")
        # A JSON body, the same parameters as the form PTB would send (the Bot API reads both alike):
        # json.dumps is C, where url-encoding quotes each byte of a Japanese text in Python (a
        # quarter of an answer's acknowledgement under py-spy). Encoded here: a dict would make
        # aiohttp build a FormData and a MultipartWriter per request.
        data = request_data.json_payload if request_data is not None else None
        headers = JSON_HEADERS if data is not None else None
        try:
            async with asyncio.timeout(self._deadline(read_timeout)):
                async with self._session.request(method, url, data=data, headers=headers) as resp:
                    return resp.status, await resp.read()
        except TimeoutError as e:
            raise TimedOut from e
        except aiohttp.ClientConnectorError as e:
            raise NotSentError(f"aiohttp.{type(e).__name__}: {e}") from e
        except aiohttp.ClientError as e:
            raise NetworkError(f"aiohttp.{type(e).__name__}: {e}") from e

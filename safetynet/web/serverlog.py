"""aiohttp's own server log, with a client's faults told apart from the server's.

aiohttp logs a request it could not parse (two Content-Lengths, Content-Length with chunked, a header
without a colon, bytes no URL holds, a request line past its limit) and a client gone mid-request as
"Error handling request" at error level, with a traceback: a page for whoever is on call, for what a
scanner or a phone losing signal did. Those become one structlog event each, without a traceback:
`http_request_malformed` (warning: a proxy in front may be the one sending them) and
`request_client_gone` (info). Anything else aiohttp logs stays as it was: a fault of ours is an error.
"""

from __future__ import annotations

import logging

import structlog
from aiohttp.http_exceptions import HttpProcessingError

log = structlog.get_logger("web")

# aiohttp's message goes on to quote the request's bytes (a request line holds its reply token, a bad
# header its cookie or Authorization): only its first line, the kind of fault, is logged.
_REASON_CHARS = 120


def _fault(message: object) -> str:
    first = str(message).split("\n", 1)[0].strip().rstrip(":")
    return first[:_REASON_CHARS]


class ClientFaults(logging.Filter):
    """Drops aiohttp's record of a client's fault, logging the event that says what it was instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            log.warning("http_request_malformed", error_class=type(exc).__name__, status=exc.code,
                        fault=_fault(exc.message))
            return False
        if isinstance(exc, ConnectionResetError):
            log.info("request_client_gone", error_class=type(exc).__name__)
            return False
        return True


# The logger every server's request handlers write to (`app.app_runner`): aiohttp's records, filtered.
SERVER_LOG = logging.getLogger("aiohttp.server.safetynet")
SERVER_LOG.addFilter(ClientFaults())

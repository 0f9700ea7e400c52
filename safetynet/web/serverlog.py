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

# Reasons quote the request (a bad request line holds its path): kept short, masked as any text is.
_REASON_CHARS = 120


class ClientFaults(logging.Filter):
    """Drops aiohttp's record of a client's fault, logging the event that says what it was instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            log.warning("http_request_malformed", error_class=type(exc).__name__, status=exc.code,
                        reason=str(exc.message)[:_REASON_CHARS])
            return False
        if isinstance(exc, ConnectionResetError):
            log.info("request_client_gone", error_class=type(exc).__name__)
            return False
        return True


# The logger every server's request handlers write to (`app.app_runner`): aiohttp's records, filtered.
SERVER_LOG = logging.getLogger("aiohttp.server.safetynet")
SERVER_LOG.addFilter(ClientFaults())

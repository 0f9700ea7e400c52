"""Email through aiosmtplib: a few SMTP connections kept open and reused, one mail at a time each.

The transaction is run command by command (MAIL, RCPT, DATA) rather than by `send_message`, so
a failure says how far the mail got: anything before DATA was surely not sent (a dropped idle
connection is reopened and the mail tried again at once), while a timeout or a drop during DATA
leaves the outcome unknown (the server may have queued it). RCPT answers decide the contact:
5xx (no such user) is permanent and the contact dead, 4xx is temporary.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from datetime import UTC, datetime

import aiosmtplib
from aiosmtplib import (
    SMTPAuthenticationError,
    SMTPConnectError,
    SMTPConnectTimeoutError,
    SMTPDataError,
    SMTPException,
    SMTPRecipientRefused,
    SMTPResponseException,
    SMTPSenderRefused,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)

from safetynet.channels.base import (
    ChannelContext,
    OutboundMessage,
    PermanentSendError,
    Reason,
    Redactor,
    RetryableSendError,
    SendError,
    SendResult,
    send_logged,
)
from safetynet.channels.email import mail
from safetynet.channels.email.login import PASSWORD, USERNAME
from safetynet.channels.email.settings import EmailSettings

# An enhanced mail system status code at the start of a reply's text (RFC 3463): class.subject.detail
_ENHANCED = re.compile(r"\s*([245])\.(\d{1,3})\.\d{1,3}\b")
# The addressing statuses that say the recipient's address itself is gone (bad mailbox, bad domain, bad
# syntax, moved, no mail accepted), and those that are about our sender address
_GONE = frozenset({"5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10"})
_OUR_ADDRESS = frozenset({"5.1.7", "5.1.8"})

class _NotSent(Exception):
    """The connection was gone before DATA: nothing left, the mail may go on a fresh one."""


class EmailSender:
    def __init__(self, ctx: ChannelContext) -> None:
        self.name = ctx.name
        self.cfg: EmailSettings = ctx.settings
        self._clock = ctx.clock
        self._username = ctx.secret(USERNAME.key) or None
        self._password = ctx.secret(PASSWORD.key) or None
        self._redact = Redactor(s for s in (self._username, self._password) if s)
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots = asyncio.Semaphore(max(1, self.cfg.concurrency))
        self._open: set[aiosmtplib.SMTP] = set()
        self.connections_made = 0

    async def start(self) -> None:
        """Connections open on first use: a channel that sends nothing keeps no socket."""

    async def close(self) -> None:
        conns, self._idle = list(self._open), []
        self._open.clear()
        for smtp in conns:
            with contextlib.suppress(SMTPException, OSError):
                if smtp.is_connected:
                    await smtp.quit(timeout=1.0)
            smtp.close()

    async def send(self, msg: OutboundMessage) -> SendResult:
        return await send_logged(self.name, msg, self._attempt)

    # -- connections ---------------------------------------------------------------------------

    def _new(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.cfg.host, port=self.cfg.port, timeout=self.cfg.timeout_seconds,
            start_tls=self.cfg.starttls, username=self._username, password=self._password,
        )

    async def _connected(self, smtp: aiosmtplib.SMTP) -> None:
        if smtp.is_connected:
            return
        try:
            await smtp.connect()  # EHLO, STARTTLS and AUTH when configured
        except SMTPAuthenticationError as e:
            smtp.close()
            raise PermanentSendError(Reason.CONFIGURATION, error_class=type(e).__name__,
                                     provider_answer=self._redact(f"{e.code} {e.message}")) from e
        except (SMTPConnectTimeoutError, SMTPTimeoutError) as e:
            smtp.close()
            raise RetryableSendError(Reason.TIMEOUT, error_class=type(e).__name__) from e
        except ssl.SSLCertVerificationError as e:  # the relay's certificate is not one we trust: fix the setup
            smtp.close()
            raise PermanentSendError(Reason.CONFIGURATION, error_class=type(e).__name__,
                                     provider_answer=self._redact(str(e))) from e
        except (SMTPConnectError, SMTPServerDisconnected, OSError) as e:
            smtp.close()
            raise RetryableSendError(Reason.NETWORK, error_class=type(e).__name__,
                                     provider_answer=self._redact(str(e))) from e
        except SMTPException as e:  # STARTTLS refused, EHLO refused: this relay is not set up for us
            smtp.close()
            raise PermanentSendError(Reason.CONFIGURATION, error_class=type(e).__name__,
                                     provider_answer=self._redact(str(e))) from e
        self.connections_made += 1

    # -- one mail ------------------------------------------------------------------------------

    async def _attempt(self, msg: OutboundMessage) -> SendResult:
        built = mail.build(msg, self.cfg.from_address, datetime.fromtimestamp(self._clock.now(), UTC))
        data = built.as_bytes()
        message_id = str(built["Message-ID"])
        async with self._slots:
            smtp = self._idle.pop() if self._idle else self._new()
            self._open.add(smtp)
            reusable = False
            try:
                for fresh in (False, True):
                    await self._connected(smtp)
                    try:
                        await self._transaction(smtp, msg, data)
                        break
                    except _NotSent:
                        if fresh:  # a new connection dropped before DATA too: the server is in trouble
                            raise RetryableSendError(Reason.NETWORK, error_class="SMTPServerDisconnected") from None
                        smtp.close()  # the server had closed the idle connection: open another
                reusable = smtp.is_connected
            except SendError as e:
                reusable = smtp.is_connected and not e.outcome_unknown
                raise
            finally:
                if reusable:
                    self._idle.append(smtp)
                else:
                    smtp.close()
                    self._open.discard(smtp)
        return SendResult(message_id)

    async def _transaction(self, smtp: aiosmtplib.SMTP, msg: OutboundMessage, data: bytes) -> None:
        try:
            await smtp.mail(self.cfg.from_address)
            await smtp.rcpt(msg.address)
        except SMTPRecipientRefused as e:
            await self._reset(smtp)
            raise self._refused(e, msg) from e
        except SMTPSenderRefused as e:
            await self._reset(smtp)
            raise self._answer(e, msg, Reason.CONFIGURATION) from e
        except SMTPServerDisconnected as e:
            raise _NotSent() from e
        except SMTPTimeoutError as e:  # no answer to MAIL/RCPT: the mail was not taken
            smtp.close()
            raise RetryableSendError(Reason.TIMEOUT, error_class=type(e).__name__) from e
        except SMTPResponseException as e:
            await self._reset(smtp)
            raise self._answer(e, msg, Reason.BAD_REQUEST) from e
        try:
            await smtp.data(data)
        except SMTPDataError as e:  # refused after reading it (DMARC, content): not sent
            raise self._answer(e, msg, Reason.BAD_REQUEST) from e
        except (SMTPTimeoutError, TimeoutError) as e:
            smtp.close()
            raise RetryableSendError(Reason.TIMEOUT, outcome_unknown=True, error_class=type(e).__name__) from e
        except (SMTPServerDisconnected, OSError) as e:
            smtp.close()
            raise RetryableSendError(Reason.NETWORK, outcome_unknown=True, error_class=type(e).__name__) from e

    async def _reset(self, smtp: aiosmtplib.SMTP) -> None:
        """Ends the refused transaction so the connection can carry the next mail."""
        try:
            await smtp.rset()
        except (SMTPException, OSError):
            smtp.close()

    def _redacted(self, text: str, msg: OutboundMessage) -> str:
        return self._redact(text.replace(msg.address, "<address>"))

    def _refused(self, e: SMTPRecipientRefused, msg: OutboundMessage) -> SendError:
        """A refused RCPT by its enhanced status code (RFC 3463): only an addressing status of the recipient
        (`_GONE`: no such user, no such domain) says the address is gone; a refusal of our side (our sender
        address, a login, relaying) is the channel's configuration; any other 5xx (a full mailbox, one
        carrier's filter) fails this mail alone. Review: a failover host the relay did not trust got `554 5.7.1 Relay access
        denied` for every recipient, and every email contact of the city was marked dead for good."""
        answer = self._redacted(f"{e.code} {e.message}", msg)
        if 400 <= e.code < 500:
            return RetryableSendError(Reason.SERVER_ERROR, error_class=type(e).__name__, provider_answer=answer)
        text = (e.message or "").lower()
        status = _ENHANCED.match(text)
        code = status.group(0).strip() if status else ""
        if "sender" in text or code in _OUR_ADDRESS or e.code == 530 or (
                code.startswith("5.7.") and ("relay" in text or "auth" in text or e.code == 554)):
            # our side: the sender address, a login, a relay that will not take our mail: the channel's
            # configuration, every address kept (review: `550 5.1.0 Sender address rejected` read as 5.1.x)
            return PermanentSendError(Reason.CONFIGURATION, error_class=type(e).__name__, provider_answer=answer)
        if code in _GONE:
            return PermanentSendError(Reason.NO_SUCH_ADDRESS, contact_dead=True, error_class=type(e).__name__,
                                      provider_answer=answer)
        # the recipient's own refusal (a full mailbox, one carrier's filter): this mail alone
        return PermanentSendError(Reason.BAD_REQUEST, error_class=type(e).__name__, provider_answer=answer)

    def _answer(self, e: SMTPResponseException, msg: OutboundMessage, permanent: Reason) -> SendError:
        answer = self._redacted(f"{e.code} {e.message}", msg)
        if 400 <= e.code < 500:
            return RetryableSendError(Reason.SERVER_ERROR, error_class=type(e).__name__, provider_answer=answer)
        return PermanentSendError(permanent, error_class=type(e).__name__, provider_answer=answer)

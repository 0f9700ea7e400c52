"""The sandbox's mail server: aiosmtpd on the sandbox's own loop, recording every mail it takes.

It answers RCPT by rule (a recipient pattern → an SMTP reply such as `550 5.1.1 User unknown` or
`450 4.2.1 Try later`), by the sandbox's faults (a dead address is an unknown user; an injected
5xx is a temporary 451, a 429 a 450: SMTP has no "slow down" of its own), and can hold its DATA
answer for recipients matching `stall` (a client's timeout). Records carry the decoded subject
and body, so tests and the simulated residents read what a phone would show.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from safetynet.channels.fakes import Act, ActResult, ChannelFake, FakeCannotListen, FakeHost, Fault

# How long an idle client connection is kept (aiosmtpd's default is 300 s).
IDLE_SECONDS = 300.0


class _OwnDeprecation(logging.Filter):
    """aiosmtpd 1.4 sets its own deprecated `Session.login_data` after every successful AUTH and
    warns about it: noise we cannot act on, printed above the demo's banner. Everything else
    aiosmtpd says at WARNING and above still shows."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


_MAIL_LOG_FILTER = _OwnDeprecation()


class EmailFake(ChannelFake):
    name = "email"

    def __init__(self, host: FakeHost) -> None:
        super().__init__(host)
        self.port = 0
        self.rules: list[tuple[re.Pattern[str], str]] = []
        self.stall: re.Pattern[str] | None = None
        self.stall_seconds = 3600.0
        self.idle_seconds = IDLE_SECONDS
        # Set (a server context with its certificate) to offer STARTTLS to the next connections.
        self.tls_context: ssl.SSLContext | None = None
        self.connections = 0
        self._server: asyncio.AbstractServer | None = None
        self._protocols: set[SMTP] = set()
        self._stalled: set[asyncio.Event] = set()
        self._all_gone = asyncio.Event()

    # -- what a test sets ----------------------------------------------------------------------

    def answer(self, pattern: str, reply: str) -> None:
        """Recipients matching `pattern` (a regex, searched) get `reply` to RCPT, e.g. "550 5.1.1 User unknown"."""
        self.rules.append((re.compile(pattern), reply))

    def app_settings(self) -> dict[str, Any]:
        """What the app's `[channels.email]` needs to reach this server."""
        return {"host": self.host.listen_host, "port": self.port, "starttls": False}

    async def drop_connections(self) -> None:
        """Closes every client connection, as a server's idle timeout does, and waits until they are gone."""
        self._all_gone.clear()
        for proto in list(self._protocols):
            transport = getattr(proto, "transport", None)
            if transport is not None:
                transport.close()
        if self._protocols:
            await self._all_gone.wait()

    def reset(self) -> None:
        self.rules.clear()
        self.stall = None
        for ev in self._stalled:
            ev.set()

    # -- the server ----------------------------------------------------------------------------

    async def open(self) -> None:
        # A sandbox on a fixed port (the CLI's) serves mail on the configured port too; one on a
        # free port (tests, the demo, the benchmark) takes a free one: parallel runs never collide.
        port = int(self.host.settings(self.name).port) if getattr(self.host, "listen_port", 0) else 0
        # aiosmtpd logs every command (INFO: peers, addresses) and DATA line (DEBUG: bodies, reply links)
        mail_log = logging.getLogger("mail.log")
        mail_log.setLevel(logging.WARNING)
        mail_log.addFilter(_MAIL_LOG_FILTER)  # the same object each time: added once
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(self._protocol, self.host.listen_host, port)
        except OSError as e:  # said as the mail port's trouble: the sandbox's own port may be free
            raise FakeCannotListen(e, self.host.listen_host, port, "[channels.email]") from e
        self.port = int(self._server.sockets[0].getsockname()[1])

    def _protocol(self) -> SMTP:
        # AUTH offered without TLS (loopback only) and not required: a relay that trusts the network
        proto = _Recorder(self, _Handler(self), hostname="sandbox.invalid", ident="SafetyNet sandbox",
                          timeout=self.idle_seconds, authenticator=self._authenticate, auth_require_tls=False,
                          tls_context=self.tls_context)
        self.connections += 1
        self._protocols.add(proto)
        return proto

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                      auth_data: object) -> AuthResult:
        from safetynet.channels.email.login import PASSWORD, USERNAME

        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login.decode(errors="replace") == self.host.secret(USERNAME.key)
              and auth_data.password.decode(errors="replace") == self.host.secret(PASSWORD.key))
        self.host.state.count(self.name, "auth_ok" if ok else "auth_failed")
        return AuthResult(success=ok, handled=False)

    async def close(self) -> None:
        for ev in self._stalled:
            ev.set()
        if self._server is not None:
            self._server.close()
        for proto in list(self._protocols):
            transport = getattr(proto, "transport", None)
            if transport is not None:
                transport.close()
        self._protocols.clear()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    def acts(self) -> dict[str, Act]:
        return {"email": self._act}

    async def _act(self, d: dict[str, Any]) -> ActResult:
        """A resident opens the link of the latest mail to `to` and answers on the page (plain form POST)."""
        rec = self.host.state.find(self.name, str(d["to"]))
        if rec is None:
            raise LookupError("no mail to that address")
        from safetynet.channels.email.resident import reply_url_in

        url = reply_url_in(rec.text)
        if url is None:
            raise LookupError("the mail carries no reply link")
        return await self.host.post(url, data={"status": str(d.get("status", "safe"))})

    # -- the SMTP conversation -----------------------------------------------------------------

    async def rcpt_reply(self, address: str) -> str:
        st = self.host.state
        for pattern, reply in self.rules:
            if pattern.search(address):
                st.count(self.name, f"smtp_{reply[:3]}")
                return reply
        if st.is_dead(address):
            st.count(self.name, "dead")
            return "550 5.1.1 User unknown"
        fault = await st.gate(self.name)
        if fault is not None:
            if fault[0] == Fault.SERVER_ERROR:
                return "451 4.3.0 Temporary server error"
            return "450 4.7.1 Too many mails, slow down"
        return ""

    async def data_reply(self, envelope: Envelope, tls: bool = False) -> str:
        if self.stall is not None and any(self.stall.search(r) for r in envelope.rcpt_tos):
            ev = asyncio.Event()
            self._stalled.add(ev)
            try:
                await asyncio.wait_for(ev.wait(), self.stall_seconds)
            except TimeoutError:
                pass
            finally:
                self._stalled.discard(ev)
        raw = envelope.original_content or envelope.content or b""
        content = raw if isinstance(raw, bytes) else raw.encode()
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        part = parsed.get_body(("plain",))
        text = part.get_content().replace("\r\n", "\n") if part is not None else ""
        message_id = str(parsed.get("Message-ID", "")) or f"<sandbox-{self.host.state.next_seq()}@sandbox.invalid>"
        data = {"subject": str(parsed.get("Subject", "")), "from": envelope.mail_from or "", "tls": tls,
                "header_from": str(parsed.get("From", "")), "raw": content.decode("ascii", "replace")}
        for rcpt in envelope.rcpt_tos:
            self.host.state.add(self.name, "message", rcpt, text, message_id, data)
        return "250 2.0.0 OK queued"


class _Handler:
    def __init__(self, fake: EmailFake) -> None:
        self.fake = fake

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        reply = await self.fake.rcpt_reply(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)  # overriding handle_RCPT: appending is ours to do
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return await self.fake.data_reply(envelope, tls=session.ssl is not None)


class _Recorder(SMTP):
    """aiosmtpd's protocol, forgotten by the fake when its connection ends."""

    def __init__(self, fake: EmailFake, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._fake = fake

    def connection_lost(self, error: Exception | None) -> None:
        self._fake._protocols.discard(self)
        if not self._fake._protocols:
            self._fake._all_gone.set()
        super().connection_lost(error)

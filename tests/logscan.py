"""A pytest plugin: every log line of the whole suite, scanned for secrets, tokens and phone numbers.

Registered from `tests/conftest.py` (`pytest_plugins = ("logscan",)`). At start it routes the
project's logging (structlog and the stdlib loggers of aiohttp, twilio, telegram…) through the
project's own `configure_logging` at DEBUG into a sink that scans each rendered JSON line, i.e.
exactly what a deployment would write, after its masking processor. A test that reconfigures
logging (the CLI does) is put back before the next phase. Lines of other processes (a
`safetynet serve` child) are fed in with `scan_external`. Any leak fails the session, listed
with the test that produced it.

What counts as a leak (`find_leaks`): a full phone number (E.164 or Japanese domestic), a
Telegram bot token, an enrolment code, a reply token (22 base64url characters), an opaque
bearer secret (API token, session id: 32 base64url characters), and any literal secret of the
suite (secret keys, their Telegram webhook secret, the sandbox's Twilio credentials).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import structlog

# Phone numbers: E.164, or Japanese domestic numbers (with or without hyphens). Not preceded by a
# word character or "*" (so Twilio SIDs, hex digests and masked "********5678" do not match).
_PHONE_RES = (
    re.compile(r"(?<![\w*+])\+[1-9]\d{9,14}(?!\d)"),
    re.compile(r"(?<![\w*.:-])0\d{1,4}-\d{1,4}-\d{4}(?![\d-])"),
    re.compile(r"(?<![\w*.:-])0\d{9,10}(?![\d.])"),
)
_BOT_TOKEN_RE = re.compile(r"(?<![\d:])\d{5,}:[A-Za-z0-9_-]{10,}")
_CROCKFORD = "[0-9A-HJKMNP-TV-Z]"
_CODE_RE = re.compile(rf"(?<![0-9A-Za-z]){_CROCKFORD}{{4}}(?:-{_CROCKFORD}{{4}}){{3}}(?![0-9A-Za-z])")
_B64_WORD = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{22,}(?![A-Za-z0-9_-])")
# Lengths of the secrets the project mints: reply tokens (replies/tokens.py) and new_token() (auth.py).
_SECRET_LENGTHS = {22: "reply_token", 32: "bearer_secret"}
# The city's own sender number is not personal data.
_ALLOWED_PHONES = frozenset({"+815000000000"})


def _random_looking(word: str) -> bool:
    """Mixed case and a digit or -/_: what a random base64url secret almost always has, and what
    identifiers (snake_case events, CamelCase class names) do not."""
    return (any(c.isupper() for c in word) and any(c.islower() for c in word)
            and any(c.isdigit() or c in "-_" for c in word))


@dataclass(frozen=True)
class Leak:
    kind: str
    value: str
    line: str
    source: str

    def __str__(self) -> str:
        shown = self.line if len(self.line) <= 400 else self.line[:400] + "…"
        return f"[{self.source}] {self.kind} {self.value!r} in: {shown}"


def find_leaks(line: str, literals: Iterable[str] = ()) -> list[tuple[str, str]]:
    """(kind, value) of every leak in one log line."""
    found: list[tuple[str, str]] = []
    for rx in _PHONE_RES:
        found += [("phone", m.group(0)) for m in rx.finditer(line) if m.group(0) not in _ALLOWED_PHONES]
    found += [("bot_token", m.group(0)) for m in _BOT_TOKEN_RE.finditer(line)]
    found += [("enrolment_code", m.group(0)) for m in _CODE_RE.finditer(line)]
    for m in _B64_WORD.finditer(line):
        kind = _SECRET_LENGTHS.get(len(m.group(0)))
        if kind and _random_looking(m.group(0)):
            found.append((kind, m.group(0)))
    found += [("secret", s) for s in literals if s and s in line]
    return found


def known_secrets(modules: Iterable[Any] = ()) -> set[str]:
    """Literal secrets of the suite: the sandbox credentials, secret keys of the environment and of
    the test modules (module constants named *SECRET*), and the webhook secret derived from each."""
    from safetynet.channels.telegram.updates import webhook_secret
    from safetynet.config import SANDBOX_SECRETS

    keys: set[str] = set()
    for mod in modules:
        for name, value in vars(mod).items():
            if "SECRET" in name.upper() and isinstance(value, str) and len(value) >= 12:
                keys.add(value)
    if os.environ.get("SAFETYNET_SECRET_KEY"):
        keys.add(os.environ["SAFETYNET_SECRET_KEY"])
    out = set(keys) | {webhook_secret(k) for k in keys}
    out |= {SANDBOX_SECRETS.twilio_auth_token, SANDBOX_SECRETS.telegram_bot_token}
    import base64

    basic = f"{SANDBOX_SECRETS.twilio_account_sid}:{SANDBOX_SECRETS.twilio_auth_token}".encode()
    out.add(base64.b64encode(basic).decode())
    return out


@dataclass
class Scanner:
    """Scans lines as they come; holds the leaks and a count of lines seen."""

    literals: set[str] = field(default_factory=set)
    leaks: list[Leak] = field(default_factory=list)
    lines: int = 0
    source: str = "session"
    _pending: list[tuple[str, str]] = field(default_factory=list)
    _ready: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def scan(self, line: str, source: str | None = None) -> None:
        if not line.strip():
            return
        src = source or self.source
        with self._lock:
            self.lines += 1
            if not self._ready:  # literals not known yet (collection): scanned once they are
                self._pending.append((line, src))
                return
        self._check(line, src)

    def ready(self, literals: Iterable[str]) -> None:
        with self._lock:
            self.literals |= set(literals)
            self._ready = True
            pending, self._pending = self._pending, []
        for line, src in pending:
            self._check(line, src)

    def _check(self, line: str, source: str) -> None:
        for kind, value in find_leaks(line, self.literals):
            self.leaks.append(Leak(kind, value, line, source))


class _Sink:
    """The stream the project's log handler writes to: whole lines go to the scanner."""

    def __init__(self, scanner: Scanner) -> None:
        self.scanner = scanner
        self._buf = ""

    def write(self, text: str) -> int:
        self._buf += text
        *lines, self._buf = self._buf.split("\n")
        for line in lines:
            self.scanner.scan(line)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class LogScanPlugin:
    def __init__(self) -> None:
        self.scanner = Scanner()
        self.sink = _Sink(self.scanner)
        self.handler: logging.Handler | None = None
        self.wrapper: Any = None
        self.worker_lines = 0
        self.worker_leaks: list[str] = []

    # -- routing the project's logging into the sink ------------------------------------------

    def install(self) -> None:
        from safetynet.logs import configure_logging

        root = logging.getLogger()
        # pytest's own capture handlers stay: caplog and the failure reports keep working.
        keep = [h for h in root.handlers if h is not self.handler and type(h).__module__.startswith("_pytest")]
        configure_logging("debug", "json", stream=self.sink)
        self.handler = root.handlers[0]
        root.handlers.extend(keep)
        self.wrapper = structlog.get_config()["wrapper_class"]
        # aiosqlite's DEBUG lines (one per statement) are too many to render for the whole suite;
        # test_logscan.py checks them at DEBUG on their own.
        logging.getLogger("aiosqlite").setLevel(logging.INFO)

    def ensure(self) -> None:
        """Puts the sink back if a test reconfigured logging (the CLI and test_logs.py do)."""
        if self.handler not in logging.getLogger().handlers or structlog.get_config()["wrapper_class"] is not self.wrapper:
            self.install()

    # -- hooks -------------------------------------------------------------------------------

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        tests_dir = os.path.dirname(os.path.abspath(__file__))
        modules = [m for m in list(sys.modules.values())
                   if getattr(m, "__file__", None)
                   and (os.path.dirname(os.path.abspath(m.__file__ or "")) + os.sep).startswith(tests_dir + os.sep)]
        self.scanner.ready(known_secrets(modules))

    @contextlib.contextmanager
    def _phase(self, item: pytest.Item) -> Iterator[None]:
        self.ensure()
        self.scanner.source = item.nodeid
        try:
            yield
        finally:
            self.scanner.source = "session"

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Any:
        with self._phase(item):
            return (yield)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Any:
        with self._phase(item):
            return (yield)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Any:
        with self._phase(item):
            return (yield)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self.scanner._ready:
            self.scanner.ready(known_secrets())
        worker_output = getattr(session.config, "workeroutput", None)
        if worker_output is not None:  # a pytest-xdist worker: its controller reports and fails the run
            worker_output["logscan"] = {"lines": self.scanner.lines, "leaks": [str(x) for x in self.scanner.leaks]}
            return
        if self.leaks() and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """A pytest-xdist worker's lines and leaks (its own `pytest_sessionfinish`), summed by the controller:
        a worker's exit status does not fail the run, so the controller must."""
        found = getattr(node, "workeroutput", {}).get("logscan")
        if found:
            self.worker_lines += found["lines"]
            self.worker_leaks += found["leaks"]

    def leaks(self) -> list[str]:
        return [str(x) for x in self.scanner.leaks] + self.worker_leaks

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        leaks, lines = self.leaks(), self.scanner.lines + self.worker_lines
        if not leaks:
            terminalreporter.write_line(f"logscan: {lines} log lines scanned, no secret, token or phone number")
            return
        terminalreporter.section("logscan: secrets in log lines", sep="=", red=True, bold=True)
        for leak in leaks[:50]:
            terminalreporter.write_line(leak)
        if len(leaks) > 50:
            terminalreporter.write_line(f"… and {len(leaks) - 50} more")
        terminalreporter.write_line(f"logscan: {len(leaks)} leaks in {lines} lines; the session fails")


_PLUGIN: LogScanPlugin | None = None


def active() -> LogScanPlugin | None:
    return _PLUGIN


def scan_external(text: str, source: str) -> list[Leak]:
    """Scans the log output of another process (a server child): its leaks, also recorded for the
    session when the plugin is active. Works without the plugin too (the caller asserts)."""
    plugin = _PLUGIN
    scanner = Scanner(source=source)
    scanner.ready(plugin.scanner.literals if plugin is not None and plugin.scanner._ready else known_secrets())
    for line in text.splitlines():
        scanner.scan(line, source)
        if plugin is not None:
            plugin.scanner.scan(line, source)
    return scanner.leaks


def pytest_configure(config: pytest.Config) -> None:
    global _PLUGIN
    if _PLUGIN is None and not config.pluginmanager.has_plugin("logscan-session"):
        _PLUGIN = LogScanPlugin()
        config.pluginmanager.register(_PLUGIN, "logscan-session")
        _PLUGIN.install()


def pytest_unconfigure(config: pytest.Config) -> None:
    global _PLUGIN
    if _PLUGIN is not None:
        config.pluginmanager.unregister(_PLUGIN)
        _PLUGIN = None

"""Loopback ports for servers the tests start.

A server in the test's own process gets a socket already bound (`listening_socket`): nothing can take
its port between choosing and serving. CI failed twice with EADDRINUSE when the port was chosen by
binding to 0 and closing, then bound again a moment later: meanwhile something else took it. A port
for another process (`free_port`) cannot be held that way: it is picked at random below the kernel's
ephemeral range (where outgoing connections never take a source port), by a generator of its own (a
seeded global `random` would give two test processes the same ports), and checked free by binding it
as the server will.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_PICK = random.SystemRandom()


def _ephemeral_low() -> int:
    try:
        return int(_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp and the sandbox bind
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A loopback port nothing listens on, outside the ephemeral range when the machine leaves room."""
    low = _ephemeral_low()
    if low > 11024:
        for port in _PICK.sample(range(low - 10000, low), 200):
            if _bindable(port):
                return port
    with socket.socket() as s:  # no room below the range: the kernel's choice, with its small race
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening_socket() -> socket.socket:
    """A loopback TCP socket bound to a port of the kernel's choice, for `aiohttp.web.SockSite`: held
    from now on, so the port is the server's for certain."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    return s

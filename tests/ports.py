"""Loopback ports for servers the tests start.

Binding to port 0 and closing again hands back a port from the kernel's ephemeral range, and by the time
the server binds it, an outgoing connection (to PostgreSQL, to the sandbox) may have taken it as its
source port: CI failed so once (EADDRINUSE on the app's port). Ports are picked below that range, where
the kernel never chooses source ports, and checked free by binding them as the server will.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


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
        for port in random.sample(range(low - 10000, low), 200):
            if _bindable(port):
                return port
    with socket.socket() as s:  # no room below the range: the kernel's choice, with its small race
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

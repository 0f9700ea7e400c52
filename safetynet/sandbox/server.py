"""`safetynet sandbox`: the provider sandbox as a process. Imports stay light until `main` runs."""

from __future__ import annotations

import argparse
import asyncio
import errno
import signal
from typing import Any

from safetynet.config import Config, cannot_listen, check_listen
from safetynet.console import port_argument, share_argument

READY_PREFIX = "sandbox listening on "


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="address to listen on (default: [sandbox] host)")
    parser.add_argument("--port", type=port_argument, default=None, help="port (default: [sandbox] port; 0 picks a free one)")
    parser.add_argument("--app-url", default=None, help="the app's public URL, for resident acts (webhooks)")
    parser.add_argument("--fail-5xx", type=share_argument, default=0.0, metavar="FRACTION", help="fraction of 5xx answers")
    parser.add_argument("--fail-429", type=share_argument, default=0.0, metavar="FRACTION", help="fraction of 429 answers")
    parser.add_argument("--retry-after", type=float, default=1.0, metavar="SECONDS", help="Retry-After sent with 429")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added before every provider answer")
    parser.add_argument(
        "--dead", action="append", default=None, metavar="FRACTION|ADDRESS",
        help="dead recipients: a number in [0, 1] is a hash-based fraction, anything else an address "
        "(a phone, a chat id, a push subscription id…); repeatable",
    )
    parser.add_argument("--undelivered", type=share_argument, default=0.0, metavar="FRACTION",
                        help="SMS/voice accepted, then a failing status callback")
    parser.add_argument("--rate-limit", action="append", default=None, metavar="CHANNEL=PER_SECOND",
                        help="answer 429 above this rate (a channel: sms, telegram…); repeatable")
    parser.add_argument("--no-verify-push", action="store_true", help="skip VAPID checks and decryption (benchmarks)")
    parser.add_argument("--no-callbacks", action="store_true", help="send no Twilio status callbacks")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault dice")


def _dead(values: list[str] | None) -> tuple[float, set[str]]:
    fraction, addresses = 0.0, set()
    for v in values or []:
        try:
            number = float(v)
        except ValueError:
            number = -1.0
        if 0.0 <= number <= 1.0:
            fraction = number
        else:
            addresses.add(v.strip())
    return fraction, addresses


def _rate_limits(values: list[str] | None) -> dict[str, float]:
    limits = {}
    for v in values or []:
        channel, sep, rate = v.partition("=")
        if not sep:
            raise ValueError(f"--rate-limit wants CHANNEL=PER_SECOND, got {v!r}")
        limits[channel.strip()] = float(rate)
    return limits


def fault_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The fault settings the CLI flags describe."""
    fraction, addresses = _dead(getattr(args, "dead", None))
    return {
        "fail_5xx": getattr(args, "fail_5xx", 0.0) or 0.0,
        "fail_429": getattr(args, "fail_429", 0.0) or 0.0,
        "retry_after": getattr(args, "retry_after", 1.0),
        "latency_ms": getattr(args, "latency_ms", 0.0) or 0.0,
        "dead_fraction": fraction,
        "dead": addresses,
        "undelivered_fraction": getattr(args, "undelivered", 0.0) or 0.0,
        "rate_limit": _rate_limits(getattr(args, "rate_limit", None)),
        "verify_push": not getattr(args, "no_verify_push", False),
        "callbacks": not getattr(args, "no_callbacks", False),
        "seed": getattr(args, "seed", 0),
    }


async def _serve(cfg: Config, args: argparse.Namespace) -> int:
    from safetynet.sandbox.runtime import Sandbox

    host = getattr(args, "host", None) or cfg.sandbox.host
    port = cfg.sandbox.port if getattr(args, "port", None) is None else args.port
    sb = Sandbox(cfg, host=host, port=port, app_url=getattr(args, "app_url", None), **fault_settings(args))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with sb:
        # The line a parent process waits for (the benchmark starts us with --port 0).
        print(f"{READY_PREFIX}{sb.url}", flush=True)
        await stop.wait()
    return 0


def main(cfg: Config, args: argparse.Namespace) -> int:
    from safetynet.channels.fakes import FakeCannotListen

    host = getattr(args, "host", None) or cfg.sandbox.host
    port = cfg.sandbox.port if getattr(args, "port", None) is None else args.port
    check_listen(host, port, "[sandbox]")  # a port in use is one line, before anything starts
    try:
        return asyncio.run(_serve(cfg, args))
    except FakeCannotListen as e:
        raise cannot_listen(e, e.host, e.port, e.section, flags=False) from None
    except OSError as e:
        if e.errno != errno.EADDRINUSE:
            raise
        raise cannot_listen(e, host, port, "[sandbox]") from None
    except ValueError as e:  # a --rate-limit it cannot read: on stderr, as every command's error
        from safetynet.console import print_error

        print_error(e)
        return 2

"""`python -m safetynet.sim.host`: the sandbox providers and the simulated residents in one process.

The benchmark and the soak run the server in one process and this in another, as a city would
have its providers elsewhere. The residents follow the sandbox's record in-process (no polling),
and the parent drives them over stdin/stdout, one JSON object a line:

    → {"cmd": "counters"}  ← {"accepted": n, "sent": n, "failed": n, "pending": n, "messages": {channel: n}, …}
    → {"cmd": "stats"}     ← {"driver": {...}, "sandbox": {...}, "pending": n, "last_seq": n, "peak_rss_mb": x}
    → {"cmd": "release"}   ← {"ok": true}              held answers go (the reply storm)
    → {"cmd": "settle"}    ← the stats, once every message is read and every answer sent
    → {"cmd": "answered"}  ← {"answered": {token: status}}
    → {"cmd": "stop"}      ← the stats; then the process exits

Configuration comes from the environment (`SAFETYNET_*`, as the server's), the model from `--model`
(a JSON object of `ResidentModel` fields).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from typing import Any

from safetynet.channels.sandbox import Sandbox
from safetynet.config import Config, load_config
from safetynet.sim.acts import Credentials
from safetynet.sim.feeds import Follower, follow_sandbox, settle
from safetynet.sim.indexed import use_indexed_state
from safetynet.sim.model import ResidentModel
from safetynet.sim.residents import ResidentDriver

READY = "sim host ready "
# Answers lines of several MB (every accepted token) must fit the parent's reader.
MAX_LINE_BYTES = 256 * 1024 * 1024


def peak_rss_mb(pid: int | str = "self") -> float:
    """Peak resident set (VmHWM) of a process, in MB; 0 when it cannot be read."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Host:
    def __init__(self, cfg: Config, model: ResidentModel, concurrency: int, hold: bool, seen: bool,
                 max_per_second: float = 0.0) -> None:
        self.cfg = cfg
        self.sandbox = Sandbox(cfg, port=0, app_url=cfg.server.public_url)
        use_indexed_state(self.sandbox)  # a city's worth of records: lookups must not scan
        self.driver = ResidentDriver(model, Credentials.from_config(cfg), concurrency=concurrency, hold=hold,
                                     report_seen=seen, max_per_second=max_per_second)
        self.follower = Follower(self.driver.feed)

    def counters(self) -> dict[str, Any]:
        """Cheap enough to ask several times a second during a storm."""
        s = self.driver.stats
        channels = self.sandbox.state.stats
        messages: dict[str, int] = {}
        for (channel, outcome), n in channels.items():
            if outcome == "ok":
                messages[channel] = n
        return {"accepted": s.accepted, "sent": s.sent, "failed": s.failed, "scheduled": s.scheduled,
                "pending": self.driver.pending, "messages": messages, "resident_messages": s.messages}

    def stats(self) -> dict[str, Any]:
        records = self.sandbox.records
        return {"driver": self.driver.stats.to_dict(), "sandbox": self.sandbox.stats,
                "pending": self.driver.pending, "last_seq": self.follower.last_seq,
                "records": len(records), "ignored": self.follower.ignored, "peak_rss_mb": round(peak_rss_mb(), 1)}

    async def settle(self) -> None:
        await settle(self.sandbox, self.follower, self.driver.idle)

    async def handle(self, cmd: str) -> dict[str, Any] | None:
        if cmd == "counters":
            return self.counters()
        if cmd == "stats":
            return self.stats()
        if cmd == "release":
            self.driver.release()
            return {"ok": True}
        if cmd == "settle":
            await self.settle()
            return self.stats()
        if cmd == "answered":
            return {"answered": {t: str(s) for t, s in self.driver.answered.items()}}
        if cmd == "stop":
            return None
        return {"error": f"unknown command {cmd!r}"}


def _emit(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc, separators=(",", ":")) + "\n")
    sys.stdout.flush()


async def _serve(host: Host) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_LINE_BYTES)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with host.sandbox, host.driver:
        follow = asyncio.create_task(follow_sandbox(host.sandbox, host.follower), name="sim-follow")
        print(f"{READY}{host.sandbox.url}", flush=True)
        try:
            while line := await reader.readline():
                try:
                    cmd = str(json.loads(line).get("cmd", ""))
                except (ValueError, AttributeError):
                    _emit({"error": "one JSON object a line, with cmd"})
                    continue
                answer = await host.handle(cmd)
                if answer is None:
                    _emit(host.stats())
                    break
                _emit(answer)
        finally:
            follow.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follow


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m safetynet.sim.host", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="{}", help="resident model fields as a JSON object")
    parser.add_argument("--concurrency", type=int, default=64, help="answers in flight at most")
    parser.add_argument("--hold", action="store_true", help="collect answers until the release command")
    parser.add_argument("--seen", action="store_true", help="report shown push notifications (read)")
    parser.add_argument("--rate", type=float, default=0.0, help="answers a second at most (0: no limit)")
    args = parser.parse_args(argv)
    from safetynet.logs import configure_logging

    cfg = load_config(None)
    configure_logging(cfg.logging.level, "json")
    model = ResidentModel.from_table(json.loads(args.model))
    asyncio.run(_serve(Host(cfg, model, args.concurrency, args.hold, args.seen, args.rate)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`python -m safetynet.lab.sim.host`: the sandbox providers and the simulated residents in one process.

The benchmark and the soak run the server in one process and this in another, as a city would
have its providers elsewhere. The residents follow the sandbox's record in-process (no polling),
and the parent drives them over stdin/stdout, one JSON object a line:

    → {"cmd": "counters"}  ← {"accepted": n, "sent": n, "failed": n, "pending": n, "messages": {channel: n}, …}
    → {"cmd": "stats"}     ← {"driver": {...}, "sandbox": {...}, "pending": n, "last_seq": n, "peak_rss_mb": x}
    → {"cmd": "release"}   ← {"ok": true}              held answers go (the reply storm)
    → {"cmd": "settle"}    ← the stats, once every message is read and every answer sent
    → {"cmd": "answered"}  ← {"answered": {token: status}}
    → {"cmd": "subscribe", "n": 25, "key": K} ← {"subscriptions": [...]}   browsers' push subscriptions
    → {"cmd": "stop"}      ← the stats; then the process exits

Configuration comes from the environment (`SAFETYNET_*`, as the server's), the model from `--model`
(a JSON object of `ResidentModel` fields). For a city's worth of messages the sandbox keeps only
its latest records (the residents get each one as it is added) and the simulated browsers share a
pool of push key pairs (each P-256 key costs the sandbox 2 KB; encryption stays per message).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
from typing import Any

from safetynet.channels.fakes import Record
from safetynet.config import Config, load_config
from safetynet.lab.procinfo import peak_rss_mb
from safetynet.lab.sim.acts import credentials
from safetynet.lab.sim.city import PUSH
from safetynet.lab.sim.feeds import Follower
from safetynet.lab.sim.indexed import use_indexed_state
from safetynet.lab.sim.messages import from_record
from safetynet.lab.sim.model import ResidentModel
from safetynet.lab.sim.residents import ResidentDriver
from safetynet.sandbox import Sandbox

READY = "sim host ready "
# Answers lines of several MB (every accepted token) must fit the parent's reader.
MAX_LINE_BYTES = 256 * 1024 * 1024
# Records the sandbox keeps in its list (its /_sandbox/messages); the residents see every one anyway.
RECORDS_KEPT = 5_000
# Distinct browser key pairs the simulated push subscriptions share.
PUSH_KEY_POOL = 64


class Host:
    def __init__(self, cfg: Config, model: ResidentModel, concurrency: int, hold: bool, seen: bool,
                 max_per_second: float = 0.0) -> None:
        self.cfg = cfg
        self.sandbox = Sandbox(cfg, port=0, app_url=cfg.server.public_url)
        self.driver = ResidentDriver(model, credentials(cfg), concurrency=concurrency, hold=hold,
                                     report_seen=seen, max_per_second=max_per_second)
        self.follower = Follower(self.driver.feed)
        use_indexed_state(self.sandbox, RECORDS_KEPT, self._on_record, compact=True)
        self._pool: list[tuple[str, dict[str, Any]]] = []  # (subscription id, subscription) to share keys with

    def _on_record(self, rec: Record) -> None:
        self.follower.take(from_record(rec), rec.seq)

    def subscribe(self, n: int, key: str | None) -> list[dict[str, Any]]:
        """`n` browser subscriptions on this sandbox, their key pairs taken from a small pool."""
        push = self.sandbox.fake(PUSH)
        out = []
        for _ in range(n):
            if len(self._pool) < PUSH_KEY_POOL:
                sub = push.mint(self.sandbox.url, key)
                self._pool.append((sub["endpoint"].rsplit("/", 1)[1], sub))
                out.append(sub)
                continue
            shared_id, shared = self._pool[secrets.randbelow(PUSH_KEY_POOL)]
            sub_id = secrets.token_urlsafe(16)
            push.subscriptions[sub_id] = push.subscriptions[shared_id]
            out.append({**shared, "endpoint": f"{self.sandbox.url}/wpush/{sub_id}"})
        return out

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
        return {"driver": self.driver.stats.to_dict(), "sandbox": self.sandbox.stats,
                "pending": self.driver.pending, "last_seq": self.follower.last_seq,
                "records": self.follower.records, "ignored": self.follower.ignored,
                "peak_rss_mb": round(peak_rss_mb(), 1)}

    async def settle(self) -> None:
        """Until every answer due is sent and no message arrived meanwhile (records come in synchronously)."""
        while True:
            seen = self.follower.records
            await self.driver.idle()
            if self.follower.records == seen:
                return

    async def handle(self, cmd: str, doc: dict[str, Any]) -> dict[str, Any] | None:
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
        if cmd == "subscribe":
            return {"subscriptions": self.subscribe(int(doc.get("n", 1)), doc.get("key"))}
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
        print(f"{READY}{host.sandbox.url}", flush=True)
        while line := await reader.readline():
            try:
                doc = json.loads(line)
                cmd = str(doc.get("cmd", ""))
            except (ValueError, AttributeError):
                _emit({"error": "one JSON object a line, with cmd"})
                continue
            answer = await host.handle(cmd, doc)
            if answer is None:
                _emit(host.stats())
                break
            _emit(answer)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m safetynet.lab.sim.host", description=__doc__,
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

"""The floors the benchmarks measure themselves against, in the same run and on the same machine.

Absolute figures say little from one machine to another (and less on a shared one); what the
library underneath costs on this machine, now, is the yardstick:

- the bare client and sink: an aiohttp client POSTing small JSON bodies to an aiohttp app that
  answers `{"ok": true}` (client CPU per request, sink CPU per request): a delivery costs the
  dispatcher at least a client request, an answer costs the server at least a sink request;
- the floor handler: a minimal aiohttp app with the reply page's routes that reads the form and
  answers a small page, no store (`bench replies` loads it exactly as it loads the server).

Both run on the event loop our processes run on (`runtime.run`: uvloop when installed).

Children: `python -m safetynet.lab.bench_floor serve PORT` (sink and floor handler in one app),
`python -m safetynet.lab.bench_floor client URL N CONCURRENCY` (prints its CPU and seconds as JSON).
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web

READY = "floor listening on "
# About what a web-push or Telegram request carries (an encrypted payload is a few hundred bytes).
BODY = json.dumps({"chat_id": 812345678, "text": "x" * 320, "reply_markup": {"inline_keyboard": [[
    {"text": "safe", "callback_data": "safe:" + "t" * 40}, {"text": "help", "callback_data": "need_help:" + "t" * 40}]]}})
_PAGE = ("<!doctype html><html lang=ja><meta charset=utf-8><title>reply</title><body><main><h1>{title}</h1>"
         "<form method=post action=/r/{token}><input type=hidden name=k value={key}>"
         "<button name=status value=safe>safe</button><button name=status value=need_help>help</button>"
         "</form></main></body></html>")
_HEADERS = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}


# -- the floor app -------------------------------------------------------------------------------


async def _page(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    return web.Response(body=_PAGE.format(title="floor", token=token, key="k" * 22).encode(), headers=_HEADERS)


async def _answer(request: web.Request) -> web.Response:
    form = await request.post()
    token = request.match_info["token"]
    status = str(form.get("status", ""))
    return web.Response(body=_PAGE.format(title=status, token=token, key=str(form.get("k", ""))).encode(),
                        headers=_HEADERS)


async def _sink(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"ok": True})


def floor_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/r/{token}", _page)
    app.router.add_post("/r/{token}", _answer)
    app.router.add_post("/sink/{tail:.*}", _sink)
    return app


async def _serve(port: int) -> None:
    runner = web.AppRunner(floor_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=2048)
    await site.start()
    bound = runner.addresses[0][1]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"{READY}http://127.0.0.1:{bound}", flush=True)
    await stop.wait()
    await runner.cleanup()


class FloorServer:
    """The floor app in a child process of its own (its CPU read from /proc, like the server's)."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> str:
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "safetynet.lab.bench_floor", "serve", str(self.port)], stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().strip()
        if not line.startswith(READY):
            self.proc.kill()
            raise RuntimeError(f"the floor server did not start: {line!r}")
        self.url = line[len(READY):]
        return self.url

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# -- the bare client -----------------------------------------------------------------------------


async def _client(url: str, n: int, concurrency: int) -> dict[str, Any]:
    import aiohttp

    body = BODY.encode()
    headers = {"Content-Type": "application/json"}
    left = n
    failed = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def worker() -> None:
            nonlocal left, failed
            while left > 0:
                left -= 1
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    failed += resp.status != 200

        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        cpu, seconds = time.process_time() - cpu0, time.perf_counter() - t0
    return {"cpu_seconds": cpu, "seconds": seconds, "failed": failed}


@dataclass(frozen=True)
class ClientSinkFloor:
    """What one bare request costs on this machine now, in milliseconds of CPU."""

    requests: int
    client_cpu_ms_per_request: float
    sink_cpu_ms_per_request: float
    requests_per_second: float
    failed: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_client_sink(requests: int = 10_000, concurrency: int = 64) -> ClientSinkFloor:
    """The bare aiohttp client POSTing to the bare aiohttp sink, each in a process of its own."""
    from safetynet.lab.procinfo import cpu_seconds

    sink = FloorServer()
    url = sink.start() + "/sink/bench"
    try:
        # a short warm-up so neither side pays its imports and first connections in the figure
        subprocess.run([sys.executable, "-m", "safetynet.lab.bench_floor", "client", url, "500", str(concurrency)],  # noqa: S603
                       check=True, capture_output=True)
        sink0 = cpu_seconds(sink.pid)
        out = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "safetynet.lab.bench_floor", "client", url, str(requests), str(concurrency)],
            check=True, capture_output=True).stdout
        sink_cpu = cpu_seconds(sink.pid) - sink0
    finally:
        sink.stop()
    doc = json.loads(out.decode().strip().splitlines()[-1])
    return ClientSinkFloor(requests, round(doc["cpu_seconds"] * 1000 / requests, 4),
                           round(sink_cpu * 1000 / requests, 4), round(requests / doc["seconds"], 1),
                           int(doc["failed"]))


def mean_floor(a: ClientSinkFloor, b: ClientSinkFloor) -> ClientSinkFloor:
    """The floor measured before and after a stage, averaged: the machine's load may change during it."""
    return ClientSinkFloor(a.requests + b.requests,
                           round((a.client_cpu_ms_per_request + b.client_cpu_ms_per_request) / 2, 4),
                           round((a.sink_cpu_ms_per_request + b.sink_cpu_ms_per_request) / 2, 4),
                           round((a.requests_per_second + b.requests_per_second) / 2, 1), a.failed + b.failed)


def multiple(value_ms: float | None, floor_ms: float) -> float | None:
    """`value_ms` as a multiple of `floor_ms` (None when either is missing)."""
    if value_ms is None or floor_ms <= 0:
        return None
    return round(value_ms / floor_ms, 2)


def main(argv: list[str]) -> int:
    # On the loop the server and the dispatcher run on (uvloop when installed): a floor on a slower
    # loop than ours would flatter our multiples.
    from safetynet.runtime import run

    if argv[:1] == ["serve"]:
        run(_serve(int(argv[1]) if len(argv) > 1 else 0))
        return 0
    if argv[:1] == ["client"]:
        print(json.dumps(run(_client(argv[1], int(argv[2]), int(argv[3])))), flush=True)
        return 0
    if argv[:1] == ["measure"]:
        n = int(argv[1]) if len(argv) > 1 else 10_000
        print(json.dumps(measure_client_sink(n).to_dict()))
        return 0
    print("usage: python -m safetynet.lab.bench_floor serve PORT | client URL N CONCURRENCY | measure [N]",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

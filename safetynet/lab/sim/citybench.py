"""The phases of `safetynet bench citywide` (see `safetynet.lab.bench_citywide` for what is measured)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from safetynet.channels import registry
from safetynet.config import Config, load_config
from safetynet.domain import ANSWERED
from safetynet.lab.bench_citywide import POLL_SECONDS, campaign_body, ladder_seconds, resident_model
from safetynet.lab.bench_floor import ClientSinkFloor, mean_floor, measure_client_sink, multiple
from safetynet.lab.benchstore import BenchStore
from safetynet.lab.pgcpu import PostgresCpu, measurable
from safetynet.lab.procinfo import main_thread_cpu_seconds, peak_rss_mb
from safetynet.lab.sim.drill import campaign_finished
from safetynet.lab.sim.enrol import Enrolling
from safetynet.lab.sim.flame import StageFlame
from safetynet.lab.sim.http import LeanHttp
from safetynet.lab.sim.loadcity import enrol_plan, load_in_child
from safetynet.lab.sim.procs import ChildFailed, HostProcess, ServerProcess, cpu_seconds, descendants
from safetynet.lab.sim.residents import percentile
from safetynet.lab.sim.stage import free_port, stage_env
from safetynet.replies.tokens import reply_token
from safetynet.store import Store, open_store

# The server's CPU by where it is spent (see `CityBench._cpu_now`).
SERVER_PARTS = ("loop", "threads", "workers")
DONE_STATES = ("sent", "delivered", "undelivered", "failed", "skipped")
SENT_STATES = ("sent", "delivered", "undelivered")


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _ms(values: list[float], q: float) -> float:
    return round(percentile(sorted(values), q) * 1000, 2)


def channel_rates(samples: list[tuple[float, dict[str, int]]]) -> dict[str, float]:
    """Messages per second of each channel: its count at the end over the time it took to get there."""
    if not samples:
        return {}
    final = samples[-1][1]
    rates = {}
    for ch, total in final.items():
        if total <= 0 or not registry.is_channel(ch):
            continue
        reached = next(t for t, counts in samples if counts.get(ch, 0) >= total)
        rates[ch] = round(total / reached, 1) if reached > 0 else float(total)
    return rates


class CityBench:
    def __init__(self, args: argparse.Namespace, workdir: Path, secret: str, store: BenchStore | None = None) -> None:
        self.args, self.workdir, self.secret = args, workdir, secret
        self.store = store or BenchStore()
        self.port = free_port()
        self.result: dict[str, Any] = {"households": args.households, "store": self.store.to_dict()}
        self.stats_latency: dict[str, list[float]] = {"wave": [], "storm": [], "ladder": []}
        self.samples: list[tuple[float, dict[str, int]]] = []
        self.token = ""
        self.api_url = ""
        self.api = LeanHttp()
        self._next_stats = 0.0
        self.pids: dict[str, int] = {"bench": os.getpid()}
        self.rungs = ladder_seconds(args.households, args.sms_after, min_gap=args.ladder_gap)
        self._cpu_mark: dict[str, float] = {}
        self._floors: list[ClientSinkFloor] = []
        self._pg: PostgresCpu | None = None
        self._flame: StageFlame | None = None

    async def _cpu_now(self) -> dict[str, float]:
        # the bench's own CPU only: its children are the other processes
        now = {name: cpu_seconds(pid, name != "bench") for name, pid in self.pids.items()}
        if "server" in self.pids:
            # where the server's CPU goes: its event loop, its other threads (the store's: SQLite
            # runs its statements there), the processes it started (the web-push worker)
            server = self.pids["server"]
            process, loop = cpu_seconds(server, False), main_thread_cpu_seconds(server)
            now.update({"server_loop": loop, "server_threads": max(0.0, process - loop),
                        "server_workers": max(0.0, now["server"] - process)})
        if self._pg is not None:
            await self._pg.sample()
            # the PostgreSQL backends serving the server: on SQLite that work is in the server's own CPU
            now["postgres"] = self._pg.seconds().get("server", 0.0)
        return now

    async def _cpu_start(self) -> None:
        self._cpu_mark = await self._cpu_now()

    async def _cpu_since(self, per: int, label: str) -> None:
        """CPU milliseconds each process spent since `_cpu_start`, per unit of work (`per` units)."""
        for name, used in (await self._cpu_now()).items():
            # a part of the server's split that was a clock tick above zero at the start and reads 0
            # at the end (see _cpu_now) would come out below zero
            used = max(0.0, used - self._cpu_mark.get(name, 0.0))
            self.result.setdefault("cpu_ms_per_unit", {})[f"{name}_per_{label}"] = round(used * 1000 / max(1, per), 4)

    async def _floor(self, stage: str) -> ClientSinkFloor:
        """The bare aiohttp client and sink, measured just before a stage (the machine's load now)."""
        _say(f"measuring the floor before the {stage} (a bare aiohttp client posting to a bare aiohttp sink)…")
        floor = await asyncio.to_thread(measure_client_sink, int(self.args.floor_requests))
        self.result.setdefault("floor", {})[stage] = floor.to_dict()
        self._floors.append(floor)
        return floor

    async def _flame_start(self, stage: str) -> None:
        if self.args.profile:
            self._flame = StageFlame(self.pids["server"], Path(self.args.profile) / f"{stage}.svg")
            await self._flame.start()

    async def _flame_stop(self, stage: str) -> None:
        flame, self._flame = self._flame, None
        if flame is None:
            return
        svg = await flame.stop()
        if svg is None:
            _say(f"py-spy wrote no flame graph of the {stage}; see {flame.log}")
        else:
            self.result.setdefault("flame_graphs", {})[stage] = str(svg)

    def _against(self, stage: str, label: str, side: str) -> None:
        """The server's CPU per unit of a stage as a multiple of the floor's per request, the floor
        being the mean of those measured just before and just after the stage."""
        floor = mean_floor(self._floors[-2], self._floors[-1])
        floor_ms = floor.client_cpu_ms_per_request if side == "client" else floor.sink_cpu_ms_per_request
        per_unit = self.result.get("cpu_ms_per_unit", {})
        ms = per_unit.get(f"server_per_{label}")
        self.result.setdefault("server_cpu_multiple", {})[stage] = {
            "server_cpu_ms": ms, f"bare_{side}_cpu_ms": floor_ms, "multiple": multiple(ms, floor_ms),
            "split_ms": {part: per_unit[f"server_{part}_per_{label}"] for part in SERVER_PARTS
                         if f"server_{part}_per_{label}" in per_unit}}
        pg_ms = per_unit.get(f"postgres_per_{label}")
        if ms is not None and pg_ms is not None:
            # what compares with SQLite, whose database work runs inside the server
            self.result["server_cpu_multiple"][stage].update({
                "postgres_cpu_ms": pg_ms, "multiple_with_postgres": multiple(ms + pg_ms, floor_ms)})

    def env(self, sandbox_url: str = "http://127.0.0.1:9") -> dict[str, str]:
        # The store URL rides in every child's environment (the loader, the server) and in this
        # process's config, so the bench's own reads see the server's rows.
        return stage_env(self.workdir, self.port, self.secret, sandbox_url, {
            "SAFETYNET_LOGGING_LEVEL": self.args.log_level, "SAFETYNET_LOGGING_FORMAT": "json", **self.store.env()})

    # -- the whole run ---------------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        started = time.monotonic()
        # Other work on the machine changes every wall-clock figure: say how busy it was.
        self.result["machine"] = {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()[0]}
        host = HostProcess(self.env(), self.workdir / "host.log", resident_model(self.args),
                           concurrency=self.args.concurrency, hold=True)
        await host.start()
        self.pids["residents_host"] = host.pid
        env = self.env(host.url)
        cfg = load_config(None, env=env)
        server = ServerProcess(env, self.workdir / "server.log")
        try:
            plan = await self._load(env)
            self.api_url = await server.start()
            self.pids["server"] = server.pid
            self._pg = await self._postgres_cpu(server)
            await self._enrol(cfg, host, plan)
            store = await open_store(cfg)
            try:
                answered = await self._drill(store, host)
                self.result["peak_rss_mb"] = self._server_rss(server)
                await server.stop()
                await self._account(store, cfg, answered)
            finally:
                await store.close()
        finally:
            if self._flame is not None:  # a stage that failed midway: py-spy ends with it
                await self._flame.stop()
            if self._pg is not None:
                await self._pg.sample()
                # by the process each backend served ("other": matched to none, which would want a look)
                self.result["postgres_cpu_seconds_by_client"] = {k: round(v, 2) for k, v in self._pg.seconds().items()}
                await self._pg.close()
            code = await server.stop()
            final = await host.stop()
            if code not in (0, None):
                _say(f"the server exited with {code} (a negative number is the signal); see {server.log}")
        self._memory(final)
        self.result["machine"]["load_average_at_end"] = os.getloadavg()[0]
        self.result["total_seconds"] = round(time.monotonic() - started, 1)
        return self.result

    async def _postgres_cpu(self, server: ServerProcess) -> PostgresCpu | None:
        if not self.store.url or not measurable(self.store.url):
            return None
        bench = os.getpid()
        pg = PostgresCpu(self.store.url, lambda: {"server": descendants(server.pid), "bench": [bench]})
        await pg.start()
        return pg

    async def _drill(self, store: Store, host: HostProcess) -> dict[str, str]:
        self.api = LeanHttp(max_connections=2, timeout_seconds=1800)
        try:
            cid = await self._first_wave(store, host)
            await self._storm(host, cid)
            await self._ladder(store, host, cid)
        finally:
            await self.api.close()
        self.result["campaign_id"] = cid
        answered: dict[str, str] = (await host.call("answered"))["answered"]
        return answered

    # -- set-up ----------------------------------------------------------------------------------

    async def _load(self, env: dict[str, str]) -> list[Enrolling]:
        _say(f"generating and importing {self.args.households:,} households…")
        loaded, plan = await load_in_child(env, self.args.households, self.workdir, self.args.push_share,
                                           self.args.telegram_share)
        self.token = loaded.pop("token")
        self.result.update({k: loaded[k] for k in ("households", "associations", "import_seconds",
                                                   "parse_seconds", "import_db_seconds")})
        self.result["loader_peak_rss_mb"] = loaded["peak_rss_mb"]
        return plan

    async def _enrol(self, cfg: Config, host: HostProcess, plan: list[Enrolling]) -> None:
        await self._floor("enrolment")
        _say(f"enrolling {len(plan):,} households through /join and Telegram /start…")
        await self._cpu_start()
        result = await enrol_plan(cfg, host.url, plan, host=host)
        await self._cpu_since(len(plan), "enrolment")
        self.result["enrolled"] = result.to_dict()
        pace = (result.webpush + result.telegram) / result.seconds if result.seconds > 0 else None
        self.rungs = ladder_seconds(self.args.households, self.args.sms_after, pace, self.args.ladder_gap)

    # -- the drill -------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}

    async def _stats(self, cid: int, phase: str, parse: bool = False) -> dict[str, Any]:
        """One stats request as a dashboard makes it, timed; parsed only when the bench needs the counts."""
        if time.monotonic() < self._next_stats and not parse:
            return {}
        self._next_stats = time.monotonic() + self.args.stats_every
        t0 = time.perf_counter()
        resp = await self.api.get(f"{self.api_url}/api/campaigns/{cid}/stats", self._headers())
        self.stats_latency[phase].append(time.perf_counter() - t0)
        doc: dict[str, Any] = json.loads(resp.body) if parse else {}
        return doc

    async def _sample(self, host: HostProcess, base: dict[str, int], t0: float) -> dict[str, Any]:
        counters = await host.call("counters")
        counts = {ch: n - base.get(ch, 0) for ch, n in counters["messages"].items()}
        self.samples.append((time.monotonic() - t0, counts))
        return counters

    async def _step0_done(self, store: Store, cid: int) -> bool:
        counts = await store.campaigns.delivery_counts(cid)
        return not any(state in ("queued", "claimed") for (step, _, state) in counts if step == 0)

    async def _first_wave(self, store: Store, host: HostProcess) -> int:
        await self._floor("first_wave")
        self._against("enrolment", "enrolment", "sink")
        base = (await host.call("counters"))["messages"]
        _say("starting the drill (the first wave)…")
        await self._flame_start("first_wave")
        await self._cpu_start()
        t0 = time.monotonic()
        body = json.dumps(campaign_body(self.rungs), ensure_ascii=False).encode()
        resp = await self.api.post(f"{self.api_url}/api/campaigns", body,
                                   {**self._headers(), "Content-Type": "application/json"})
        if resp.status != 201:
            raise ChildFailed(f"the drill did not start: {resp.status} {resp.body[:300]!r}")
        cid = int(json.loads(resp.body)["id"])
        self.result["start_request_seconds"] = round(time.monotonic() - t0, 2)
        while True:
            await self._sample(host, base, t0)
            if time.monotonic() >= self._next_stats:
                stats = await self._stats(cid, "wave", parse=True)
                if stats["status"]["pending"] == 0 and await self._step0_done(store, cid):
                    break
            await asyncio.sleep(POLL_SECONDS)
        seconds = time.monotonic() - t0
        counts = await store.campaigns.delivery_counts(cid)
        sent = sum(n for (step, _, state), n in counts.items() if step == 0 and state in SENT_STATES)
        await self._cpu_since(sent, "delivery")
        await self._flame_stop("first_wave")
        self.result.update({
            "first_wave_seconds": round(seconds, 2), "first_wave_deliveries": sent,
            "deliveries_per_second": round(sent / seconds, 1),
            "deliveries_per_second_by_channel": channel_rates(self.samples),
            "stats_p95_ms_first_wave": _ms(self.stats_latency["wave"], 0.95)})
        return cid

    async def _storm(self, host: HostProcess, cid: int) -> None:
        await self._floor("reply_storm")
        # a delivery costs the server at least one client request to a provider
        self._against("first_wave", "delivery", "client")
        _say("releasing the residents' answers (the reply storm)…")
        await self._flame_start("reply_storm")
        await self._cpu_start()
        t0 = time.monotonic()
        await host.call("release")
        while (await host.call("counters"))["pending"] > 0:
            await self._stats(cid, "storm")
            await asyncio.sleep(POLL_SECONDS)
        driver = (await host.call("stats"))["driver"]
        await self._cpu_since(int(driver["accepted"]), "reply")
        await self._flame_stop("reply_storm")
        await self._floor("after_storm")
        # an answer costs the server at least one request received
        self._against("reply_storm", "reply", "sink")
        storm = self.stats_latency["storm"]
        self.result.update({
            "storm_seconds": round(time.monotonic() - t0, 2), "replies": driver["accepted"],
            "replies_per_second": driver["answers_per_second"], "reply_p50_ms": driver["latency_p50_ms"],
            "reply_p99_ms": driver["latency_p99_ms"], "reply_p99_ms_by_channel": driver["latency_p99_ms_by_channel"],
            "reply_failed": driver["failed"], "stats_p95_ms": _ms(storm, 0.95), "stats_p50_ms": _ms(storm, 0.5),
            "stats_requests_storm": len(storm)})

    async def _ladder(self, store: Store, host: HostProcess, cid: int) -> None:
        sms, voice, door = self.rungs
        _say(f"waiting for the ladder (SMS at {sms:.0f} s, voice at {voice:.0f} s, door-knock at {door:.0f} s)…")
        campaign = await store.campaigns.get(cid)
        assert campaign is not None
        while not await campaign_finished(store, cid, len(campaign.ladder)):
            await self._stats(cid, "ladder")
            await asyncio.sleep(1.0)
        settled = await host.call("settle")
        self.result["ladder"] = {"sms_at": sms, "voice_at": voice, "door_knock_at": door}
        self.result["residents"] = settled["driver"]
        self.result["sandbox"] = settled["sandbox"]
        self.result["host_peak_rss_mb"] = settled["peak_rss_mb"]

    # -- the accounting --------------------------------------------------------------------------

    async def _account(self, store: Store, cfg: Config, answered: dict[str, str]) -> None:
        cid = int(self.result["campaign_id"])
        statuses = await store.campaigns.household_statuses(cid)
        on_list = await store.campaigns.doorknock_households(cid)
        household_of = {reply_token(cfg.secrets.secret_key, cid, hid): hid for hid in statuses}
        lost = sum(1 for token, status in answered.items() if statuses.get(household_of.get(token, -1)) != status)
        counts = await store.campaigns.delivery_counts(cid)
        sent = sum(n for (_, _, state), n in counts.items() if state in SENT_STATES)
        received = int(self.result["residents"]["messages"])
        stored = await store.replies.count_replies(cid, statuses=["safe", "need_help"])
        done = sum(1 for s in statuses.values() if s in ANSWERED)
        self.result.update({
            "lost": lost, "duplicates": max(0, received - sent), "reply_duplicates": max(0, stored - len(answered)),
            "deliveries_sent": sent, "messages_received": received, "answered": done,
            "need_help": sum(1 for s in statuses.values() if s == "need_help"), "door_knock": len(on_list),
            "unaccounted": len(statuses) - done - len(on_list)})

    @staticmethod
    def _server_rss(server: ServerProcess) -> dict[str, float]:
        """The server's process first, then any it started (a lane process)."""
        values = list(server.peak_rss_mb().values())
        return {("server" if i == 0 else f"server_child_{i}"): v for i, v in enumerate(values)}

    def _memory(self, host_final: dict[str, Any]) -> None:
        rss = self.result.get("peak_rss_mb", {})
        rss["residents_and_sandbox"] = host_final.get("peak_rss_mb", self.result.pop("host_peak_rss_mb", 0.0))
        rss["loader"] = self.result.pop("loader_peak_rss_mb", 0.0)
        rss["bench"] = round(peak_rss_mb(), 1)
        self.result["peak_rss_mb"] = rss
        self.result["peak_rss_mb_max"] = max(rss.values())

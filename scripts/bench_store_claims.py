"""The store alone: outbox claim-and-record throughput with concurrent claimers, PostgreSQL beside
SQLite in the same run. Prints one JSON object.

    .venv/bin/python scripts/bench_store_claims.py [--households 100000] [--claimers 4] [--batch 500]
        [--url postgresql://postgres@127.0.0.1:5432/safetynet_bench] [--procs] [--rounds 1] [--no-sqlite]

Each store gets the same city and a running drill with one SMS delivery per household (queued
through the store's own `write_step`). Then `--claimers` claimers loop until the queue is empty:
claim `--batch` due deliveries under a lease, and record every one as sent with one attempt (through
`record`, the group commit the dispatcher uses), as a dispatcher whose provider answers instantly.
The figure is deliveries claimed and recorded per second. With `--procs`, each PostgreSQL claimer
is a process of its own (as dispatchers on several machines would be); SQLite's claimers always
share one process, its one writer. No provider, no HTTP: only the store.

PostgreSQL's floor, in the same run and on a copy of the same prepared database: as many bare asyncpg
connections (processes with `--procs`) each claiming `--batch` rows with the store's claim statement
and marking them sent with one `UPDATE … FROM unnest`, one statement each, nothing else (no attempt
log, no household statuses or counters). `--rounds` runs store and floor alternately; each run
reports the server's CPU (every postgres process), the claimers' and the rest of the machine's.

Measured 2026-12-02, 2 cores shared with other work (load 4-7), PostgreSQL 15 local with default
config on the same cores, 100,000 households, 4 claimers of 500, --procs --rounds 2, alternate runs
of main's store and this one:
  main:  PostgreSQL 20,016 / 11,946 and 16,220 / 15,822/s (floor 48,227 / 29,636 and 24,332 / 39,722)
         server 44-48 us + claimers 33-35 us of CPU a delivery
  now:   PostgreSQL 10,116 / 10,789 (load 7) and 18,845 / 21,277/s (floor 33,534 / 34,745 and 43,003 / 31,447)
         server 42-53 us + claimers 32-40 us a delivery; SQLite 11,458-17,490 beside them
The floor costs ~30 us of server and 3 us of client a delivery. The store's two to three times that
(attempt log, household statuses and counters, what a message needs, Python's work a delivery) is
CPU, not waiting: `cpu_bound_per_second`, the rate with both cores to itself, is ~25,000-27,000/s,
and a run reaches 20,000/s only when other work leaves it most of the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

from safetynet.channels import registry
from safetynet.clock import SystemClock
from safetynet.domain import CampaignKind
from safetynet.domain.campaigns import AttemptRecord, DeliveryOutcome, LadderStep, OutcomeKind
from safetynet.domain.roster import HouseholdRecord
from safetynet.store import Store
from safetynet.store.postgres import open_postgres_store
from safetynet.store.sqlite import open_sqlite_store

ROUTES = registry.routes()
LADDER = (LadderStep(0, ("sms",)),)


def city(n: int) -> list[HouseholdRecord]:
    return [HouseholdRecord(f"地区{i % 5}", f"町会{i % 200}", "", f"K{i}", f"世帯{i}", "", 1, i % 10 == 0, "ja",
                            contacts=(("mobile", f"+8190{i:08d}"),)) for i in range(n)]


async def prepare(store: Store, n: int) -> int:
    from safetynet.broadcast.planner import plan_step

    await store.roster.import_households(city(n))
    c = await store.campaigns.create(kind=CampaignKind.DRILL, title="bench", scope=["city"],
                                     messages={"ja": "bench"}, ladder=LADDER)
    await store.campaigns.enrol_scope(c.id, ["city"], lambda cid, hid: f"t{cid}-{hid}")
    now = store.clock.now()
    async for batch in store.campaigns.step_households(c.id):
        await store.campaigns.write_step(c.id, plan_step(batch, 0, LADDER[0], routes=ROUTES), now)
    assert await store.campaigns.begin_running(c.id, now)
    return c.id


async def claimer(store: Store, cid: int, owner: str, batch: int) -> int:
    done, empty = 0, 0
    while empty < 2:  # with SKIP LOCKED a short claim does not mean the queue is empty: ask twice
        claims = await store.outbox.claim([cid], "sms", batch, owner, 60.0)
        if not claims:
            empty += 1
            continue
        empty = 0
        now = time.time()
        await asyncio.gather(*(store.outbox.record(DeliveryOutcome(
            d, OutcomeKind.SENT, now, (AttemptRecord(now, 1.0, "sent"),), provider_id=f"p{d.id}", segments=1))
            for d in claims))
        done += len(claims)
    return done


async def run_in_process(store: Store, cid: int, claimers: int, batch: int) -> tuple[int, float]:
    t0 = time.perf_counter()
    counts = await asyncio.gather(*(claimer(store, cid, f"c{i}", batch) for i in range(claimers)))
    return sum(counts), time.perf_counter() - t0


# The floor: the same rows claimed and marked sent by a bare asyncpg loop, one statement each (no
# attempt log, no household statuses or counters, no group commit): what the store's work costs beyond
# the two row writes every delivery needs whatever the store does.
_FLOOR_CLAIM = """
UPDATE deliveries SET state = 'claimed', lease_until = $1, lease_owner = $2, updated_at = $3
WHERE id = ANY(ARRAY(SELECT id FROM deliveries WHERE state = 'queued' AND campaign_id = $4 AND channel = 'sms'
      AND priority >= 0 AND next_attempt_at <= $3 ORDER BY priority, next_attempt_at LIMIT $5 FOR UPDATE SKIP LOCKED))
RETURNING id"""
_FLOOR_SENT = """
UPDATE deliveries d SET state = 'sent', attempts = d.attempts + 1, provider_id = u.provider_id, segments = 1,
  sent_at = $3, lease_until = NULL, lease_owner = NULL, updated_at = $3
FROM unnest($1::bigint[], $2::text[]) AS u(id, provider_id) WHERE d.id = u.id AND d.state = 'claimed'"""


async def floor_claimer(con: asyncpg.Connection, cid: int, owner: str, batch: int) -> int:
    done, empty = 0, 0
    while empty < 2:
        now = time.time()
        ids = [r[0] for r in await con.fetch(_FLOOR_CLAIM, now + 60.0, owner, now, cid, batch)]
        if not ids:
            empty += 1
            continue
        empty = 0
        await con.execute(_FLOOR_SENT, ids, [f"p{i}" for i in ids], time.time())
        done += len(ids)
    return done


def _ticks(pid: int) -> int:
    """User and system CPU ticks of a process (0 once it has gone)."""
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(f[11]) + int(f[12])


class Meter:
    """CPU seconds of this process and of the PostgreSQL backends serving its connections (the server
    is on this machine; other work on the same server is not counted)."""

    def __init__(self, backends: list[int]) -> None:
        self.backends = backends
        self.own0 = time.process_time()
        self.server0 = sum(_ticks(p) for p in backends)

    def stop(self) -> tuple[float, float]:
        return (time.process_time() - self.own0,
                (sum(_ticks(p) for p in self.backends) - self.server0) / os.sysconf("SC_CLK_TCK"))


async def pool_backends(pool: asyncpg.Pool, n: int) -> list[int]:
    """The server pids of `n` pooled connections (opened now, kept by the pool for the run)."""
    cons = [await pool.acquire() for _ in range(n)]
    pids = [c.get_server_pid() for c in cons]
    for c in cons:
        await pool.release(c)
    return pids


async def _claim_in_child(url: str, cid: int, owner: str, batch: int, floor: bool, start: Any
                          ) -> tuple[int, float, float]:
    """(deliveries, this claimer's CPU seconds, its backends'), from the start signal to the end."""
    if floor:
        con = await asyncpg.connect(url)
        try:
            start.wait()
            meter = Meter([con.get_server_pid()])
            return await floor_claimer(con, cid, owner, batch), *meter.stop()
        finally:
            await con.close()
    store = await open_postgres_store(url, SystemClock(), ROUTES, pool_size=4, migrate=False)
    try:
        backends = await pool_backends(store.db.pool, 4)
        start.wait()
        meter = Meter(backends)
        return await claimer(store, cid, owner, batch), *meter.stop()
    finally:
        await store.close()


def _proc_main(url: str, cid: int, owner: str, batch: int, floor: bool, start: Any, out: Any) -> None:
    out.put(asyncio.run(_claim_in_child(url, cid, owner, batch, floor, start)))


def run_processes(url: str, cid: int, claimers: int, batch: int, floor: bool) -> tuple[int, float, float, float]:
    """Claimers as processes: (deliveries, seconds, the claimers' CPU seconds, their backends')."""
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_proc_main, args=(url, cid, f"p{i}", batch, floor, start, out))
             for i in range(claimers)]
    for p in procs:
        p.start()
    time.sleep(3.0)  # spawned interpreters import the package and open their pools before the clock starts
    t0 = time.perf_counter()
    start.set()
    results = [out.get() for _ in procs]
    elapsed = time.perf_counter() - t0
    for p in procs:
        p.join()
    return sum(r[0] for r in results), elapsed, sum(r[1] for r in results), sum(r[2] for r in results)


def _machine_ticks() -> tuple[int, int]:
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = f[3] + f[4]
    return sum(f[:8]) - idle, sum(f[:8])


def cpu_report(deliveries: int, claimers_cpu: float, server_cpu: float,
               machine0: tuple[int, int]) -> dict[str, float]:
    """Who used the machine's CPU during a run: the claimers, their PostgreSQL backends, the rest
    (other work on the machine and on the server, PostgreSQL's WAL writer, this script's parent)."""
    busy1, total1 = _machine_ticks()
    tick = os.sysconf("SC_CLK_TCK")
    busy, total = (busy1 - machine0[0]) / tick, (total1 - machine0[1]) / tick
    n = max(deliveries, 1)
    ours = (claimers_cpu + server_cpu) * 1e6 / n
    return {"server_cpu_seconds": round(server_cpu, 2), "claimers_cpu_seconds": round(claimers_cpu, 2),
            "other_cpu_seconds": round(max(busy - server_cpu - claimers_cpu, 0.0), 2),
            "machine_busy_share": round(busy / total, 2) if total else 0.0,
            "server_cpu_us_per_delivery": round(server_cpu * 1e6 / n, 1),
            "claimers_cpu_us_per_delivery": round(claimers_cpu * 1e6 / n, 1),
            # what this run would reach with every core of the machine to itself
            "cpu_bound_per_second": round((os.cpu_count() or 1) * 1e6 / ours) if ours else 0}


async def recreate_database(url: str, template: str | None = None) -> None:
    base, _, name = url.rpartition("/")
    con = await asyncpg.connect(f"{base}/postgres")
    try:
        await con.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await con.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    finally:
        await con.close()


async def bench_sqlite(n: int, claimers: int, batch: int, folder: Path) -> dict[str, Any]:
    store = await open_sqlite_store(folder / "bench.db", SystemClock(), ROUTES)
    try:
        cid = await prepare(store, n)
        done, elapsed = await run_in_process(store, cid, claimers, batch)
    finally:
        await store.close()
    return {"deliveries": done, "seconds": round(elapsed, 2), "per_second": round(done / elapsed)}


async def prepare_postgres(url: str, n: int) -> int:
    """The city and its queued drill in a database that each run copies (CREATE DATABASE … TEMPLATE)."""
    await recreate_database(url)
    store = await open_postgres_store(url, SystemClock(), ROUTES, pool_size=4)
    try:
        cid = await prepare(store, n)
        await store.db.pool.execute("VACUUM ANALYZE")  # as autovacuum would have by now
    finally:
        await store.close()
    return cid


async def bench_postgres_once(url: str, template: str, cid: int, claimers: int, batch: int, procs: bool,
                              floor: bool) -> dict[str, Any]:
    await recreate_database(url, template)
    await asyncio.sleep(1.0)  # the copy's writes settle before the clock starts
    machine0 = _machine_ticks()
    if procs:
        done, elapsed, claimers_cpu, server_cpu = await asyncio.to_thread(run_processes, url, cid, claimers, batch,
                                                                          floor)
    elif floor:
        cons = [await asyncpg.connect(url) for _ in range(claimers)]
        try:
            meter, t0 = Meter([c.get_server_pid() for c in cons]), time.perf_counter()
            counts = await asyncio.gather(*(floor_claimer(c, cid, f"f{i}", batch) for i, c in enumerate(cons)))
            done, elapsed, (claimers_cpu, server_cpu) = sum(counts), time.perf_counter() - t0, meter.stop()
        finally:
            for c in cons:
                await c.close()
    else:
        store = await open_postgres_store(url, SystemClock(), ROUTES, pool_size=claimers + 2, migrate=False)
        try:
            meter = Meter(await pool_backends(store.db.pool, claimers + 2))
            done, elapsed = await run_in_process(store, cid, claimers, batch)
            claimers_cpu, server_cpu = meter.stop()
        finally:
            await store.close()
    return {"deliveries": done, "seconds": round(elapsed, 2), "per_second": round(done / elapsed),
            **cpu_report(done, claimers_cpu, server_cpu, machine0), "hot_updates": await hot_updates(url)}


async def hot_updates(url: str) -> dict[str, float]:
    """The share of each table's updates in the run that were HOT (no new index entries)."""
    con = await asyncpg.connect(url)
    try:
        rows = await con.fetch("SELECT relname, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"
                               " WHERE relname IN ('deliveries', 'campaign_households', 'campaign_counts')")
    finally:
        await con.close()
    return {r[0]: round(r[2] / r[1], 2) if r[1] else 0.0 for r in rows}


async def bench_postgres(url: str, n: int, claimers: int, batch: int, procs: bool, rounds: int) -> dict[str, Any]:
    """Store and floor alternately, each on a fresh copy of the same prepared database."""
    template = url.rpartition("/")[2] + "_template"
    cid = await prepare_postgres(f"{url.rpartition('/')[0]}/{template}", n)
    store_runs, floor_runs = [], []
    for _ in range(rounds):
        store_runs.append(await bench_postgres_once(url, template, cid, claimers, batch, procs, floor=False))
        floor_runs.append(await bench_postgres_once(url, template, cid, claimers, batch, procs, floor=True))
    best_store = max(store_runs, key=lambda r: r["per_second"])
    best_floor = max(floor_runs, key=lambda r: r["per_second"])
    return {"claimers_as_processes": procs, "per_second": best_store["per_second"],
            "floor_per_second": best_floor["per_second"],
            "store_vs_floor": [round(s["per_second"] / f["per_second"], 2) for s, f in zip(store_runs, floor_runs, strict=True)],
            "store": store_runs, "floor": floor_runs}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--households", type=int, default=100_000)
    ap.add_argument("--claimers", type=int, default=4)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--url", default=os.environ.get("SAFETYNET_BENCH_PG",
                                                    "postgresql://postgres@127.0.0.1:5432/safetynet_bench"))
    ap.add_argument("--procs", action="store_true", help="PostgreSQL claimers in processes of their own")
    ap.add_argument("--rounds", type=int, default=1, help="PostgreSQL store and floor runs, alternately")
    ap.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    args = ap.parse_args()
    sqlite: dict[str, Any] | None = None
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            sqlite = await bench_sqlite(args.households, args.claimers, args.batch, Path(tmp))
    pg = await bench_postgres(args.url, args.households, args.claimers, args.batch, args.procs, args.rounds)
    print(json.dumps({
        "households": args.households, "claimers": args.claimers, "batch": args.batch, "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0], "sqlite": sqlite, "postgres": pg,
        "postgres_vs_sqlite": round(pg["per_second"] / sqlite["per_second"], 2) if sqlite else None,
        "target_postgres_per_second": 20_000,
    }, indent=2))


if __name__ == "__main__":
    asyncio.run(main())

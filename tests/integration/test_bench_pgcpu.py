"""The benchmarks on PostgreSQL (`--store-url`): the run's own database, and the CPU of a backend
given to the process that holds its connection (`lab.pgcpu`).

It opens PostgreSQL itself in every run, SQLite's too: `--store-url` needs it whichever store the
suite runs on.
"""

from __future__ import annotations

import os

import asyncpg
from pg_helpers import SERVER

from safetynet.lab.benchstore import bench_store
from safetynet.lab.pgcpu import UNATTRIBUTED, PostgresCpu

# enough work for the backend's CPU to pass /proc's 10 ms ticks many times over
HEAVY = "SELECT count(*) FROM generate_series(1, 3000000)"


async def _exists(database: str) -> bool:
    con = await asyncpg.connect(f"{SERVER}/postgres")
    try:
        return bool(await con.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database))
    finally:
        await con.close()


async def test_a_backends_cpu_is_given_to_the_process_holding_its_connection() -> None:
    async with bench_store(f"{SERVER}/postgres?search_path=elsewhere") as store:
        assert store.database.startswith("safetynet_bench_") and await _exists(store.database)
        con = await asyncpg.connect(store.url)
        pg = PostgresCpu(store.url, lambda: {"bench": [os.getpid()]}, every_seconds=3600)
        try:
            await pg.start()
            assert pg.seconds().get("bench", 0.0) == 0.0  # what the backend did before is not the run's
            await con.fetchval(HEAVY)
            await pg.sample()
            used = pg.seconds()
            assert used["bench"] > 0.0
            assert used.get(UNATTRIBUTED, 0.0) == 0.0  # the sampler's own backend is left out
        finally:
            await pg.close()
            await con.close()
    assert not await _exists(store.database)


async def test_a_kept_run_database_stays() -> None:
    async with bench_store(f"{SERVER}/postgres", keep=True) as store:
        pass
    try:
        assert store.kept and await _exists(store.database)
    finally:
        con = await asyncpg.connect(f"{SERVER}/postgres")
        await con.execute(f'DROP DATABASE "{store.database}"')
        await con.close()

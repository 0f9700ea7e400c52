"""`lab.pgcpu`: the CPU of a PostgreSQL backend goes to the process that holds its connection.

It opens PostgreSQL itself (a schema of its own) in every run, SQLite's too: the benchmarks'
`--store-url` needs it whichever store the suite runs on.
"""

from __future__ import annotations

import os

import asyncpg
from pg_helpers import pg_schema

from safetynet.lab.pgcpu import UNATTRIBUTED, PostgresCpu

# enough work for the backend's CPU to pass /proc's 10 ms ticks many times over
HEAVY = "SELECT count(*) FROM generate_series(1, 3000000)"


async def test_a_backends_cpu_is_given_to_the_process_holding_its_connection() -> None:
    async with pg_schema() as url:
        con = await asyncpg.connect(url)
        pg = PostgresCpu(url, lambda: {"bench": [os.getpid()]}, every_seconds=3600)
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

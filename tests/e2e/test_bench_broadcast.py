"""`safetynet bench broadcast` on a small city: the first wave reaches everyone once, on the store
the run names. With SAFETYNET_TEST_STORE=postgres it runs on PostgreSQL (`--store-url`) with
`--workdir`, which keeps the run's database: it is there afterwards, holding the campaign.

A smoke test of the plumbing; it asserts what must hold at any speed, never a timing.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from pg_helpers import ON_POSTGRES, SERVER

pytestmark = pytest.mark.slow

HOUSEHOLDS = 300


async def _households_in(database: str) -> int:
    con = await asyncpg.connect(f"{SERVER}/{database}")
    try:
        return int(await con.fetchval("SELECT count(*) FROM households"))
    finally:
        await con.close()


async def _drop(database: str) -> None:
    con = await asyncpg.connect(f"{SERVER}/postgres")
    try:
        await con.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await con.close()


def test_a_small_first_wave_reaches_every_household_once_on_the_named_store(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFETYNET_")}
    work = tmp_path / "work"
    cmd = [sys.executable, "-m", "safetynet", "bench", "broadcast", "--households", str(HOUSEHOLDS), "--json",
           "--floor-requests", "300", "--workdir", str(work)]
    cmd += ["--store-url", f"{SERVER}/postgres"] if ON_POSTGRES else []
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads(done.stdout)
    try:
        assert r["households"] == HOUSEHOLDS and r["sent"] == HOUSEHOLDS
        assert r["lost"] == 0 and r["duplicates"] == 0 and r["sandbox_messages"] == HOUSEHOLDS
        assert r["delivery_cpu_multiple_of_bare_client"] > 0
        if ON_POSTGRES:
            assert r["store"]["kind"] == "postgresql" and r["store"]["kept"]
            assert asyncio.run(_households_in(r["store"]["database"])) == HOUSEHOLDS
            assert not (work / "bench.db").exists()
        else:
            assert r["store"] == {"kind": "sqlite"}
            assert (work / "bench.db").exists()
    finally:
        if r.get("store", {}).get("database"):
            asyncio.run(_drop(r["store"]["database"]))

"""`safetynet bench citywide` end to end on a small city: every figure is printed, nothing is lost.

A smoke test of the benchmark's plumbing (four processes, enrolment, wave, storm, ladder,
accounting); it asserts what must hold at any speed, never a timing. With SAFETYNET_TEST_STORE=postgres
the city runs on PostgreSQL (`--store-url`): in a database of its own, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from pg_helpers import ON_POSTGRES, SERVER

from safetynet.lab.bench_citywide import ladder_seconds

pytestmark = pytest.mark.slow

REQUIRED = ("import_seconds", "first_wave_seconds", "deliveries_per_second", "deliveries_per_second_by_channel",
            "replies_per_second", "reply_p99_ms", "stats_p95_ms", "peak_rss_mb", "lost", "duplicates",
            "unaccounted")


def _bench(tmp_path: Path, households: int, *args: str) -> dict[str, Any]:
    """`bench citywide --json` on a small city with a short ladder: its JSON (the run must succeed).
    The SMS rung leaves the wave and the storm time to end (about 3 s here); the later rungs, a
    second apart, only wait out the clock."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFETYNET_")}
    cmd = [sys.executable, "-m", "safetynet", "bench", "citywide", "--households", str(households), "--json",
           "--sms-after", "5", "--ladder-gap", "1", *args]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    r: dict[str, Any] = json.loads(done.stdout)
    return r


def test_a_small_city_runs_end_to_end_and_accounts_for_everyone(tmp_path: Path) -> None:
    """On SQLite the run is profiled as well (`--profile`): one city for both, a CI minute's quarter
    less than two. 600 households there: stages long enough for py-spy to catch the server at work
    (at 200, a loaded CI machine once caught it idle throughout: an empty graph)."""
    flames = tmp_path / "flames"
    households = 300 if ON_POSTGRES else 600
    # On PostgreSQL without --workdir: the run's database must be gone afterwards.
    where = (["--store-url", f"{SERVER}/postgres"] if ON_POSTGRES
             else ["--workdir", str(tmp_path / "work"), "--profile", str(flames)])
    r = _bench(tmp_path, households, "--floor-requests", "500", *where)
    if ON_POSTGRES:
        assert r["store"]["kind"] == "postgresql" and not r["store"]["kept"]
        assert not asyncio.run(_database_exists(r["store"]["database"]))
    else:
        assert r["store"] == {"kind": "sqlite"}
        assert (tmp_path / "work" / "safetynet.db").exists()
        assert r["flame_graphs"] == {"first_wave": str(flames / "first_wave.svg"),
                                     "reply_storm": str(flames / "reply_storm.svg")}
        for svg in r["flame_graphs"].values():
            text = Path(svg).read_text()
            assert "<svg" in text and "safetynet" in text  # the server's own frames are in it
    for key in REQUIRED:
        assert key in r, key
    assert r["households"] == households
    assert r["lost"] == 0 and r["duplicates"] == 0 and r["unaccounted"] == 0 and r["reply_duplicates"] == 0
    assert r["enrolled"]["webpush"] > households / 3 and r["enrolled"]["telegram"] > households / 15
    assert not r["enrolled"]["failed"]
    assert r["replies"] > 0 and r["reply_failed"] == 0
    assert 0.6 * households <= r["answered"] <= 0.95 * households
    assert set(r["peak_rss_mb"]) >= {"server", "residents_and_sandbox", "loader", "bench"}
    assert set(r["deliveries_per_second_by_channel"]) >= {"webpush", "telegram"}
    units = {"enrolment": r["enrolled"]["webpush"] + r["enrolled"]["telegram"],
             "first_wave": r["first_wave_deliveries"], "reply_storm": r["replies"]}
    assert set(r["server_cpu_multiple"]) == set(units)
    for stage, m in r["server_cpu_multiple"].items():
        split = m["split_ms"]  # the event loop, the store's threads, the web-push worker
        assert set(split) == {"loop", "threads", "workers"}, stage
        assert split["loop"] > 0 and min(split.values()) >= 0, stage
        # the parts add up to the whole, give or take the clock's 10 ms ticks (a part a tick below
        # zero reads 0) and each figure's rounding
        assert abs(sum(split.values()) - m["server_cpu_ms"]) <= 0.001 + 30 / units[stage], stage


async def _database_exists(name: str) -> bool:
    con = await asyncpg.connect(f"{SERVER}/postgres")
    try:
        return bool(await con.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await con.close()


def test_the_ladder_comes_after_the_wave_and_the_storm() -> None:
    assert ladder_seconds(20_000, sms_after=100) == (100, 130, 160)
    sms, voice, door = ladder_seconds(200_000, enrolled_per_second=500)
    assert sms == 1000 and voice == 1100 and door == 1200
    assert ladder_seconds(100, enrolled_per_second=1e6)[0] == 90


def test_channel_rates_use_the_time_each_channel_finished() -> None:
    from safetynet.lab.sim.citybench import channel_rates

    samples = [(1.0, {"webpush": 100, "sms": 10}), (2.0, {"webpush": 200, "sms": 10, "callbacks": 5}),
               (4.0, {"webpush": 200, "sms": 10, "callbacks": 9})]
    assert channel_rates(samples) == {"webpush": 100.0, "sms": 10.0}  # callbacks are no channel
    assert channel_rates([]) == {}

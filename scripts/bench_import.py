"""Roster import benchmark: a generated city of N households (200,000 by default) is written to
CSV, read and checked, then imported into a fresh database; then imported again (nothing
changes) and once more with --replace; the city-wide scope is streamed once, as a campaign
would read it. Prints one JSON object with seconds and peak RSS.

    .venv/bin/python scripts/bench_import.py [--households 200000] [--seed 1]

Target (issue 2): read + import of 200,000 households under 15 s and 400 MB peak RSS on 2 cores.
The machine is shared, so CPU seconds are printed next to wall seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from safetynet.config import load_config
from safetynet.roster.csvio import read_roster, write_roster
from safetynet.roster.generate import generate_roster
from safetynet.store import store_session


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


async def _imports(config: Path, path: Path) -> dict[str, float | int]:
    cfg = load_config(config, env={})
    out: dict[str, float | int] = {}
    t, c = time.perf_counter(), time.process_time()
    parsed = read_roster(path)
    out["read_seconds"] = time.perf_counter() - t
    out["read_cpu_seconds"] = time.process_time() - c
    if not parsed.ok:
        raise SystemExit(f"generated roster refused: {parsed.errors[:3]}")
    async with store_session(cfg) as store:
        t, c = time.perf_counter(), time.process_time()
        first = await store.roster.import_households(parsed.records)
        out["import_seconds"] = time.perf_counter() - t
        out["import_cpu_seconds"] = time.process_time() - c  # all threads: SQLite runs in aiosqlite's
        out["households_added"] = first.households_added
        out["contacts"] = first.contacts
        out["peak_rss_mb_after_first_import"] = _peak_rss_mb()
        t, c = time.perf_counter(), time.process_time()
        streamed = 0
        async for batch in store.roster.households_in_scope(["city"], batch_size=5000):
            streamed += len(batch)
        out["scope_city_seconds"] = time.perf_counter() - t  # what a city-wide campaign reads
        out["scope_city_cpu_seconds"] = time.process_time() - c
        out["scope_city_households"] = streamed
        t = time.perf_counter()
        again = await store.roster.import_households(parsed.records)
        out["reimport_seconds"] = time.perf_counter() - t
        out["reimport_unchanged"] = again.households_unchanged
        half = parsed.records[::2]
        t = time.perf_counter()
        replaced = await store.roster.import_households(half, replace=True)
        out["replace_half_seconds"] = time.perf_counter() - t
        out["replace_removed"] = replaced.households_removed
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--households", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        folder = Path(tmp)
        config = folder / "config.toml"
        config.write_text('[store]\npath = "var/bench.db"\n', encoding="utf-8")
        csv_path = folder / "roster.csv"
        t = time.perf_counter()
        write_roster(csv_path, generate_roster(args.households, args.seed))
        result: dict[str, float | int] = {
            "households": args.households,
            "generate_seconds": time.perf_counter() - t,
            "csv_mb": csv_path.stat().st_size / 1e6,
        }
        result.update(asyncio.run(_imports(config, csv_path)))
    result["read_and_import_seconds"] = float(result["read_seconds"]) + float(result["import_seconds"])
    result["peak_rss_mb"] = _peak_rss_mb()
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

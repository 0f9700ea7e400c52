"""`python -m safetynet.lab.sim.loadcity N PLAN.json`: a generated city imported as a city hall would.

Run as its own process (so its memory is not the benchmark's): it writes the roster CSV, imports it
the way `safetynet roster import` does (parse, then one bulk import; both timed), adds a head and a
deputy per association, issues enrolment codes for the households that will enrol web push or
Telegram themselves, creates a city-admin API token, and writes the enrolment plan. It prints one
JSON object.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from safetynet.auth import new_token, token_hash
from safetynet.channels.webpush.vapid import load_or_create_vapid
from safetynet.config import Config, load_config
from safetynet.domain import Role
from safetynet.lab.sim import city
from safetynet.lab.sim.enrol import Enrolling, EnrolResult, enrol
from safetynet.lab.sim.procs import HostProcess
from safetynet.roster import csvio
from safetynet.roster.generate import generate_roster
from safetynet.store import store_session

SEED = 11


async def load_city(cfg: Config, households: int, csv_path: Path, push_share: float = 0.6,
                    telegram_share: float = 0.2) -> dict[str, Any]:
    """Imports a generated city; returns the figures and the enrolment plan (household, code, channel, chat)."""
    csvio.write_roster(csv_path, generate_roster(households, SEED, city=cfg.city.name))
    load_or_create_vapid(cfg.data_dir)
    async with store_session(cfg) as store:
        t0 = time.perf_counter()
        parsed = csvio.read_roster(csv_path, default_language=cfg.city.default_language)
        if not parsed.ok:
            raise ValueError(f"generated roster refused: {parsed.errors[0]}")
        t1 = time.perf_counter()
        summary = await store.roster.import_households(parsed.records)
        t2 = time.perf_counter()
        ids = await city.household_ids(store)
        plan = city.choose_enrolment(ids, push_share, telegram_share, SEED)
        codes = await city.issue_codes(store, sorted(plan), cfg.secrets.secret_key)
        token = new_token()
        await store.auth.create_api_token(token_hash(token), Role.CITY_ADMIN, "city", "bench")
        # A head and a deputy per association (on Telegram), so need-help alerts go out as in a city.
        await city.add_staff(store, secrets.token_urlsafe(12))
    rows = [[hid, codes[hid], str(ch), city.CHAT_ID_BASE + hid] for hid, ch in plan.items()]
    return {"plan": rows, "households": len(ids), "associations": summary.associations, "contacts": summary.contacts,
            "without_channel": summary.households_without_channel, "parse_seconds": round(t1 - t0, 2),
            "import_db_seconds": round(t2 - t1, 2), "import_seconds": round(t2 - t0, 2), "token": token,
            "peak_rss_mb": round(_peak_rss_mb(), 1)}


async def load_in_child(env: dict[str, str], households: int, workdir: Path, push_share: float = 0.6,
                        telegram_share: float = 0.2) -> tuple[dict[str, Any], list[Enrolling]]:
    """Runs this module in a child process; returns its figures and the enrolment plan."""
    plan_path = workdir / "plan.json"
    log = workdir / "loader.log"
    with log.open("ab") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "safetynet.lab.sim.loadcity", str(households), str(plan_path), str(push_share),
            str(telegram_share), stdout=asyncio.subprocess.PIPE, stderr=err, env=env)
        out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"loading the city failed; see {log}")
    loaded: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    rows = json.loads(plan_path.read_text(encoding="utf-8"))
    return loaded, [Enrolling(int(h), str(code), str(ch), int(chat)) for h, code, ch, chat in rows]


async def enrol_plan(cfg: Config, sandbox_url: str, plan: list[Enrolling], concurrency: int = 64,
                     host: HostProcess | None = None) -> EnrolResult:
    """Every household of the plan enrols through the app's real paths (see `sim.enrol`); with a
    residents' `host`, its sandbox mints the push subscriptions in batches (shared key pairs)."""
    key = load_or_create_vapid(cfg.data_dir).application_server_key

    async def mint(n: int) -> list[dict[str, Any]]:
        assert host is not None
        subs: list[dict[str, Any]] = (await host.call("subscribe", n=n, key=key))["subscriptions"]
        return subs

    return await enrol(cfg.server.public_url, sandbox_url, plan, key, concurrency=concurrency,
                       mint=mint if host is not None else None)


def _peak_rss_mb() -> float:
    from safetynet.lab.procinfo import peak_rss_mb

    return peak_rss_mb()


def main(argv: list[str]) -> int:
    households, plan_path = int(argv[0]), Path(argv[1])
    push, telegram = (float(argv[2]), float(argv[3])) if len(argv) >= 4 else (0.6, 0.2)
    result = asyncio.run(load_city(load_config(None), households, plan_path.with_name("roster.csv"), push, telegram))
    plan_path.write_text(json.dumps(result.pop("plan")), encoding="utf-8")
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

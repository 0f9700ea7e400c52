"""`safetynet demo --once --json`: a fresh machine, one command, every household accounted for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pg_helpers import store_env

pytestmark = pytest.mark.slow

HOUSEHOLDS = 200


def _run_demo(cwd: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    # Nothing configured: an empty folder, no config.toml, no SAFETYNET_* in the environment (but the
    # store URL on PostgreSQL: `SAFETYNET_STORE_URL=postgresql://… safetynet demo --once` puts the city there)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFETYNET_")} | store_env()
    cmd = [sys.executable, "-m", "safetynet", "demo", "--once", "--json", *extra]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_demo_once_accounts_for_every_household(tmp_path: Path) -> None:
    done = _run_demo(tmp_path, "--households", str(HOUSEHOLDS), "--speed", "600")
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads(done.stdout)
    acc = doc["accounted"]
    assert acc["households"] == HOUSEHOLDS and acc["unaccounted"] == 0
    assert acc["answered"] + acc["confirmed_in_person"] + acc["door_knock"] == HOUSEHOLDS
    assert acc["door_knock"] > 0  # the model leaves about a fifth silent

    city = doc["city"]
    assert city["households"] == HOUSEHOLDS and sum(city["status"].values()) == HOUSEHOLDS
    assert 0.6 <= city["answered_rate"] <= 0.95  # the model: 80 % answer
    # 3 % of answers: with ~160 answering, a run where nobody asks for help happens about 1 in 100
    assert city["status"]["need_help"] <= 0.1 * acc["answered"] + 3
    assert doc["campaign"]["state"] == "closed" and doc["campaign"]["kind"] == "drill"

    sim = doc["simulation"]
    residents = sim["residents"]
    # every answer the server acknowledged is stored: the counts agree exactly
    assert residents["failed"] == 0 and residents["accepted"] == acc["replies"] >= acc["answered"]
    assert set(residents["by_channel"]) >= {"webpush", "telegram", "sms"}
    enrolled = sim["enrolled"]
    assert not enrolled["failed"]
    assert 0.45 * HOUSEHOLDS <= enrolled["webpush"] <= 0.75 * HOUSEHOLDS
    assert 0.1 * HOUSEHOLDS <= enrolled["telegram"] <= 0.3 * HOUSEHOLDS
    # half the households enrolling no app type a carrier mail address and open its link, and answer by it
    assert enrolled["email"] >= 1 and "email" in residents["by_channel"]
    assert sim["sandbox"]["messages"] >= HOUSEHOLDS - acc["door_knock"]
    assert sim["seconds"] < 60
    # nothing of a real deployment leaked into the folder it ran in
    assert list(tmp_path.iterdir()) == []


def test_demo_refuses_a_bad_scenario_with_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('title = "x"\n[messages]\nen = "no Japanese"\n', encoding="utf-8")
    done = _run_demo(tmp_path, "--scenario", str(bad))
    assert done.returncode == 2
    assert "messages.ja" in done.stderr


async def test_demo_closes_the_drill_it_calls_over_and_names_the_residents_inbox(tmp_path: Path) -> None:
    import asyncio
    import re
    import signal

    import aiohttp

    from safetynet.clock import SystemClock
    from safetynet.config import load_config
    from safetynet.store import open_store

    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFETYNET_")} | store_env()
    data = tmp_path / "data"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "safetynet", "demo", "--households", "60", "--speed", "600", "--data-dir", str(data),
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        while not lines or "the drill is over" not in lines[-1]:
            line = (await asyncio.wait_for(proc.stdout.readline(), timeout=90)).decode()
            assert line, "".join(lines)
            lines.append(line)
        banner = "".join(lines)
        inbox = re.search(r"residents' inbox\s+(http://\S+/_sandbox/messages)", banner)
        assert inbox is not None, banner
        async with aiohttp.ClientSession() as http, http.get(inbox.group(1), params={"channel": "sms"}) as r:
            assert r.status == 200
            messages = await r.json()
        assert messages and all(re.search(r"/r/[A-Za-z0-9_-]{22}", m["text"]) for m in messages), messages[:2]
        campaign_id = int(re.search(r"drill\s+campaign (\d+)", banner).group(1))  # type: ignore[union-attr]
        cfg = load_config(None, env={"SAFETYNET_STORE_PATH": str(data / "safetynet.db"), **store_env()})
        store = await open_store(cfg, SystemClock())
        try:
            c = await store.campaigns.get(campaign_id)
            assert c is not None and c.state == "closed"  # "over" is what its pages say too: 終了
        finally:
            await store.close()
        assert f"/campaigns/{campaign_id}/report" in lines[-1]
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), timeout=30) == 0

"""`scripts/bench_sms_webhook.py` runs and prints its figures (it asserts nothing on their size)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_sms_webhook.py"


def test_the_benchmark_prints_a_round_and_its_json() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--calls", "50", "--rounds", "1"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("round 1: bare HMAC")
    (r,) = json.loads(lines[-1])["rounds"]
    assert set(r) == {"bare_hmac_us", "signature_ours_us", "signature_library_us", "twiml_ours_us", "twiml_uncached_us"}
    assert min(r.values()) >= 0 and r["signature_library_us"] > 0

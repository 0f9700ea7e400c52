"""`bench channels` runs end to end (tiny N): a sandbox process, both loops per channel, one JSON object."""

from __future__ import annotations

import argparse
import json

import pytest

from safetynet.config import load_config
from safetynet.lab import bench_channels as bench


@pytest.mark.slow
def test_bench_channels_prints_rates_and_ratios(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(["--n", "10", "--json"])
    assert bench.main(load_config(None, env={}), args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc["channels"]) == {"webpush", "telegram", "sms", "voice", "line", "email"}
    for result in doc["channels"].values():
        assert result["bare_errors"] == result["module_errors"] == 0
        assert result["bare_per_second"] > 0 and result["module_per_second"] > 0
        assert result["ratio"] == pytest.approx(result["module_per_second"] / result["bare_per_second"], rel=0.01)
    # per channel: 20 warm-up (the minimum) and 10 timed messages through each of the two loops
    # LINE: households in batches of 500; a warm-up of one batch per worker, at least two batches per worker timed
    line = doc["channels"]["line"]
    assert line["batch"] == 500 and line["n"] == 500 * line["concurrency"] * 2
    assert doc["sandbox"]["messages"] == 5 * (2 * 20 + 2 * 10) + 2 * (500 * line["concurrency"] + line["n"])
    assert doc["sandbox"]["429_sent"] == 0

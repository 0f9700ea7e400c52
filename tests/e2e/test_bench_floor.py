"""The floors of the benchmarks: real processes, real requests; never a timing asserted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from safetynet.lab.bench_floor import ClientSinkFloor, FloorServer, mean_floor, measure_client_sink, multiple
from safetynet.lab.bench_replies import KINDS, Rounds, Run, _sharing, summarise, wrk_run


def test_the_floor_handler_reads_the_form_and_answers_a_page() -> None:
    floor = FloorServer()
    floor.start()
    try:
        async def go() -> tuple[int, str, int, str, int]:
            async with aiohttp.ClientSession() as s:
                async with s.get(f"{floor.url}/r/abc") as r:
                    get = (r.status, await r.text())
                async with s.post(f"{floor.url}/r/abc", data={"status": "need_help", "k": "key12345"}) as r:
                    post = (r.status, await r.text())
                async with s.post(f"{floor.url}/sink/x", json={"a": 1}) as r:
                    sink = r.status
            return get[0], get[1], post[0], post[1], sink

        get_status, get_body, post_status, post_body, sink_status = asyncio.run(go())
    finally:
        floor.stop()
    assert get_status == 200 and "/r/abc" in get_body
    assert post_status == 200 and "need_help" in post_body and "key12345" in post_body
    assert sink_status == 200


def test_the_bare_client_and_sink_are_measured_in_processes_of_their_own() -> None:
    f = measure_client_sink(400, concurrency=8)
    assert f.failed == 0 and f.requests == 400
    assert f.client_cpu_ms_per_request > 0 and f.requests_per_second > 0
    both = mean_floor(f, ClientSinkFloor(400, 3 * f.client_cpu_ms_per_request, 0.5, 10.0, 0))
    assert both.client_cpu_ms_per_request == pytest.approx(2 * f.client_cpu_ms_per_request, rel=1e-3)
    assert multiple(1.0, 0.25) == 4.0 and multiple(None, 1.0) is None and multiple(1.0, 0.0) is None


def _run(rate: float, cpu_us: float) -> Run:
    return Run(int(rate * 5), 5.0, cpu_us * rate * 5 / 1e6, 0, 0, 1.0, 2.0)


def test_the_replies_summary_pairs_each_server_run_with_its_floor_run() -> None:
    rounds = Rounds()
    for kind, _, _ in KINDS:
        rounds.server[kind] = [_run(1000, 300), _run(500, 320), _run(2000, 280)]
        rounds.floor[kind] = [_run(2000, 100), _run(2000, 100), _run(2500, 100)]
    out = summarise(rounds)
    assert out["get"]["ratios"] == [0.5, 0.25, 0.8]
    assert out["get"]["ratio"] == 0.5  # the median round
    assert out["post"]["cpu_multiple"] == pytest.approx(3.0, rel=0.01)


def test_the_replies_bench_reports_how_many_answers_a_commit_carried(tmp_path: Path) -> None:
    counters = tmp_path / "counters.json"
    counters.write_text('{"lookups": 900, "lookup_batches": 30, "writes": 1000, "write_batches": 40}')
    assert _sharing(counters) == {"writes_per_commit": 25.0, "lookups_per_read": 30.0}
    # a server that died before writing its counters: the run's figures stand without them
    assert _sharing(tmp_path / "missing.json") == {}
    (tmp_path / "partial.json").write_text('{"writes": 3}')
    assert _sharing(tmp_path / "partial.json") == {}


def test_wrk_gets_and_posts_the_form_and_its_summary_is_read(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("aaa\nbbb\nccc\n")
    floor = FloorServer()
    floor.start()
    try:
        get = wrk_run(floor.url, tokens, "GET", "t", 0, 1, 4, floor.pid)
        post = wrk_run(floor.url, tokens, "POST", "t", 1, 1, 4, floor.pid)
    finally:
        floor.stop()
    assert get.requests > 0 and get.non_2xx == 0 and get.errors == 0
    assert post.requests > 0 and post.non_2xx == 0

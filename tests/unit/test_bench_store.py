"""`--store-url` of `bench citywide` and `bench broadcast`: what it accepts, and that every process
of the run is given that store (the children through their environment, the bench through its config)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from roster_helpers import SECRET_KEY

from safetynet.cli import build_parser
from safetynet.config import load_config
from safetynet.lab import bench_broadcast
from safetynet.lab.benchstore import BenchStore, database_url
from safetynet.lab.sim.citybench import CityBench

PG = "postgresql://bench:secret@db.example:5433/postgres"
RUN_URL = "postgresql://bench:secret@db.example:5433/safetynet_bench_0123456789ab"


@pytest.mark.parametrize("bench", ["citywide", "broadcast"])
def test_the_store_url_option_takes_a_postgresql_url_and_defaults_to_sqlite(bench: str) -> None:
    parser = build_parser()
    assert parser.parse_args(["bench", bench]).store_url is None
    assert parser.parse_args(["bench", bench, "--store-url", PG]).store_url == PG
    assert parser.parse_args(["bench", bench, "--store-url", "postgres://h/db"]).store_url == "postgres://h/db"


@pytest.mark.parametrize("url", ["sqlite:///var/bench.db", "mysql://h/db", ""])
def test_the_store_url_option_refuses_anything_but_postgresql(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["bench", "broadcast", "--store-url", url])
    assert exited.value.code == 2
    assert "secret" not in capsys.readouterr().err


def test_the_run_database_is_on_the_same_server_without_the_other_databases_schema() -> None:
    assert database_url(PG, "safetynet_bench_0123456789ab") == RUN_URL
    assert database_url(PG + "?search_path=t_1&sslmode=require", "x") == \
        "postgresql://bench:secret@db.example:5433/x?sslmode=require"


def test_the_broadcast_children_and_the_dispatcher_get_the_run_store(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFETYNET_STORE_URL", "postgresql://somewhere-else/db")  # the caller's own is not used
    env = bench_broadcast._env(tmp_path, "http://127.0.0.1:9", 0.0, "warning", BenchStore(RUN_URL, "x"))
    assert env["SAFETYNET_STORE_URL"] == RUN_URL
    assert load_config(None, env=env).store.url == RUN_URL
    on_sqlite = bench_broadcast._env(tmp_path, "http://127.0.0.1:9", 0.0, "warning")
    assert "SAFETYNET_STORE_URL" not in on_sqlite
    assert load_config(None, env=on_sqlite).db_path == tmp_path / "bench.db"


def test_the_citywide_children_and_the_bench_get_the_run_store(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFETYNET_STORE_URL", "postgresql://somewhere-else/db")
    args = build_parser().parse_args(["bench", "citywide", "--households", "10", "--store-url", PG])
    assert isinstance(args, argparse.Namespace)
    bench = CityBench(args, tmp_path, SECRET_KEY, BenchStore(RUN_URL, "safetynet_bench_0123456789ab"))
    env = bench.env("http://127.0.0.1:9")
    assert env["SAFETYNET_STORE_URL"] == RUN_URL
    assert load_config(None, env=env).store.url == RUN_URL
    assert bench.result["store"] == {"kind": "postgresql", "database": "safetynet_bench_0123456789ab", "kept": False}
    on_sqlite = CityBench(args, tmp_path, SECRET_KEY).env()
    assert "SAFETYNET_STORE_URL" not in on_sqlite
    assert load_config(None, env=on_sqlite).db_path == tmp_path / "safetynet.db"


def test_a_tcp_connection_is_matched_to_the_process_holding_its_client_end() -> None:
    import os
    import socket

    from safetynet.lab.pgcpu import client_ports, measurable

    with socket.create_server(("127.0.0.1", 0)) as server, socket.create_connection(server.getsockname()) as client:
        port = client.getsockname()[1]
        assert client_ports({"bench": [os.getpid()]}).get(port) == "bench"
        assert port not in client_ports({"nobody": []})
    assert measurable("postgresql://postgres@127.0.0.1:5432/x") and measurable("postgresql://localhost/x")
    assert not measurable("postgresql://db.example/x")

"""The OpenAPI document (safetynet/web/openapi.yaml, served at /api/openapi.json) against the app:
the same /api routes both ways, well formed, and schemathesis calling every operation with generated
input over loopback with a city admin's token finds no 5xx and no answer outside the document."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from dashboard_fixtures import World, world

from safetynet.broadcast.service import CampaignService, CampaignSpec
from safetynet.domain import CampaignKind
from safetynet.triggers.service import TriggerService
from safetynet.web.openapi import document

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def documented() -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document()["paths"].items() for method in item
            if method in METHODS}


async def test_the_document_and_the_route_table_name_the_same_api_routes(tmp_path: Path) -> None:
    async with world(tmp_path, seeded=False) as w:
        assert w.app is not None
        routes = {(r.method, r.resource.canonical) for r in w.app.router.routes()
                  if r.resource is not None and r.resource.canonical.startswith("/api/") and r.method != "HEAD"}
        async with aiohttp.ClientSession() as http, http.get(f"{w.url}/api/openapi.json") as r:
            assert r.status == 200 and r.content_type == "application/json"
            served = await r.json()
    assert len(routes) >= 15
    assert sorted(routes - documented()) == [], "routes the document does not describe"
    assert sorted(documented() - routes) == [], "documented routes the app does not have"
    assert served == document()


def test_every_operation_is_described_with_its_parameters_auth_and_answers() -> None:
    doc = document()
    assert doc["openapi"].startswith("3.1")
    schemes = set(doc["components"]["securitySchemes"])
    for path, item in doc["paths"].items():
        names = set(re.findall(r"\{(\w+)\}", path))
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            assert op.get("operationId") and op.get("summary"), where
            params = [p if "$ref" not in p else _ref(doc, p["$ref"]) for p in op.get("parameters", [])]
            assert {p["name"] for p in params if p["in"] == "path"} == names, where
            security = op.get("security", doc["security"])
            assert all(set(alternative) <= schemes for alternative in security), where
            if method == "post" and security:  # a session changing anything sends its CSRF token
                assert {"session", "csrf"} in [set(a) for a in security], where
            answers = op["responses"]
            assert any(code.startswith("2") for code in answers), where
            if security:
                assert "401" in answers, where
            for code, answer in answers.items():
                answer = _ref(doc, answer["$ref"]) if "$ref" in answer else answer
                assert answer.get("description"), (where, code)


def _ref(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_schemathesis_reads_the_document() -> None:
    import schemathesis

    schema = schemathesis.openapi.from_dict(document())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {(op.method.upper(), op.path) for op in operations} == documented()


# -- generated calls --------------------------------------------------------------------------------

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


async def _known_ids(w: World) -> tuple[list[int], list[int]]:
    """Campaigns (closed, running, a draft) and households, so most calls reach past the 404."""
    draft = await CampaignService(w.store, w.cfg, w.clock).create(
        CampaignSpec("下書き", CampaignKind.DRILL, ("city",), {"ja": "訓練です。"}), source="test")
    await w.answer("A-001", "need_help")
    return [w.previous_id, w.campaign_id, draft.id], sorted(h.id for h in w.households.values())


def _config(campaigns: list[int], households: list[int]) -> str:
    return (f"[dictionaries.campaigns]\nvalues = {[str(i) for i in campaigns]}\n"
            f"[dictionaries.households]\nvalues = {[str(i) for i in households]}\n"
            "[parameters]\n"
            '"path.id" = { dictionary = "campaigns", probability = 0.7 }\n'
            '"path.campaign_id" = { dictionary = "campaigns", probability = 0.7 }\n'
            '"path.household_id" = { dictionary = "households", probability = 0.7 }\n')


@pytest.mark.slow
async def test_generated_calls_of_every_operation_get_no_5xx_and_answer_as_documented(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        # what `serve` runs besides the app: the trigger service behind /api/triggers/*
        w.svc.triggers = TriggerService(w.store, w.cfg, CampaignService(w.store, w.cfg, w.clock), w.clock)
        campaigns, households = await _known_ids(w)
        (tmp_path / "schemathesis.toml").write_text(_config(campaigns, households), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SCHEMATHESIS_", "HYPOTHESIS_"))}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "schemathesis.cli", "--config-file", str(tmp_path / "schemathesis.toml"),
            "run", f"{w.url}/api/openapi.json",
            "--header", f"Authorization: Bearer {w.tokens['admin']}",
            "--checks", CHECKS, "--max-examples", "12", "--seed", "17", "--phases", "examples,coverage,fuzzing",
            "--workers", "1", "--request-timeout", "10", "--max-failures", "20", "--no-color",
            # a stream stays open for as long as the client reads: test_dashboard_live covers it
            "--exclude-path", "/api/campaigns/{id}/events",
            cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-6000:]
    assert re.search(r"Tested:\s+19\b", text), text[-3000:]  # every operation but the stream

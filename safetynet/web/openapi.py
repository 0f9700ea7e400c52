"""`GET /api/openapi.json`: the JSON API as OpenAPI 3.1, written as data in `openapi.yaml` beside this
module (paths, request and response schemas, authentication). tests/e2e/test_openapi.py holds it to the
app's route table both ways and calls every operation with generated input.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import yaml
from aiohttp import web


@cache
def document() -> dict[str, Any]:
    text = (resources.files(__package__) / "openapi.yaml").read_text(encoding="utf-8")
    doc: dict[str, Any] = yaml.safe_load(text)
    return doc


@cache
def _body() -> bytes:
    return json.dumps(document(), ensure_ascii=False).encode()


async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=_body(), content_type="application/json")


def setup(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", openapi)

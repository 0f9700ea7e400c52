"""A static file's version follows its content, also when the file is replaced under a running
process (an upgrade in place): the old version must not name the new content."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from safetynet import templating


def test_a_version_follows_the_file_replaced_under_the_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(templating, "_STATIC_DIR", tmp_path)
    monkeypatch.setattr(templating, "_VERSIONS", {})
    script = tmp_path / "dash.js"
    script.write_text("old();")
    first = templating.asset_version("/static/dash.js")
    assert first == hashlib.sha256(b"old();").hexdigest()[:12]
    assert templating.asset_url("/static/dash.js") == f"/static/dash.js?v={first}"
    script.write_text("the new release();")
    assert templating.asset_version("/static/dash.js") == hashlib.sha256(b"the new release();").hexdigest()[:12]


@pytest.mark.parametrize("path", ["/static/", "/static/none.js", "/static/../templating.py", "/static/.hidden",
                                  "/other/dash.js", "/static/sub/dir.js"])
def test_no_version_for_what_is_not_a_static_file(path: str) -> None:
    assert templating.asset_version(path) is None
    assert templating.asset_url(path) == path

"""The reply page's cached template: each page gets its own token, key and history."""

from __future__ import annotations

import re

from safetynet.domain import CampaignKind, Status
from safetynet.domain.replies import HistoryEntry
from safetynet.i18n import LANGUAGES
from safetynet.web.reply_views import question_page


def _page(token: str, history: list[HistoryEntry], title: str = "地震") -> str:
    return question_page(token, "ja", "さくら町会", CampaignKind.DRILL, title, "本文", Status.SAFE, history)


def test_cached_question_pages_carry_their_own_token_key_and_history() -> None:
    a = _page("tokenAAAAAAAAAAA", [HistoryEntry("safe", "web", 1_700_000_000.0, None, None, None, None, None, None)])
    b = _page("tokenBBBBBBBBBBB", [])
    assert 'action="/r/tokenAAAAAAAAAAA"' in a and "tokenAAAA" not in b
    assert 'action="/r/tokenBBBBBBBBBBB"' in b
    assert 'class="history"' in a and 'class="history"' not in b
    keys = [re.search(r'name="k" value="([^"]+)"', p).group(1) for p in (a, b, _page("tokenBBBBBBBBBBB", []))]  # type: ignore[union-attr]
    assert len(set(keys)) == 3
    assert "\x00" not in a + b


def test_texts_are_escaped_and_cannot_pose_as_placeholders() -> None:
    page = _page("tokenCCCCCCCCCCC", [], title="<script>x</script>\x00T\x00")
    assert "<script>x" not in page and "&lt;script&gt;x&lt;/script&gt;" in page
    assert "\x00" not in page
    assert page.count("tokenCCCCCCCCCCC") == 1 + len(LANGUAGES)  # the form, and a link per language

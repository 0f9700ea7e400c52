"""The reply page's cached template: each page gets its own token, key and history."""

from __future__ import annotations

import re

from safetynet.domain import CampaignKind, Status
from safetynet.i18n import LANGUAGES
from safetynet.web.reply_views import question_page


def _page(token: str, recent: tuple[tuple[float, str], ...], title: str = "地震") -> str:
    return question_page(token, "ja", "さくら町会", CampaignKind.DRILL, title, "本文", Status.SAFE, recent).decode()


def test_cached_question_pages_carry_their_own_token_key_and_history() -> None:
    a = _page("tokenAAAAAAAAAAA", ((1_700_000_000.0, "safe"),))
    b = _page("tokenBBBBBBBBBBB", ())
    assert 'action="/r/tokenAAAAAAAAAAA"' in a and "tokenAAAA" not in b
    assert 'action="/r/tokenBBBBBBBBBBB"' in b
    assert 'class="history"' in a and 'class="history"' not in b
    keys = [re.search(r'name="k" value="([^"]+)"', p).group(1) for p in (a, b, _page("tokenBBBBBBBBBBB", ()))]  # type: ignore[union-attr]
    assert len(set(keys)) == 3
    assert "\x00" not in a + b


def test_texts_are_escaped_and_cannot_pose_as_placeholders() -> None:
    page = _page("tokenCCCCCCCCCCC", (), title="<script>x</script>\x00T\x00")
    assert "<script>x" not in page and "&lt;script&gt;x&lt;/script&gt;" in page
    assert "\x00" not in page
    assert page.count("tokenCCCCCCCCCCC") == 1 + len(LANGUAGES)  # the form, and a link per language


def test_each_association_gets_its_own_name_escaped_from_one_cached_template() -> None:
    from safetynet.web.reply_views import _question_parts

    def page(association: str) -> str:
        return question_page("tokenDDDDDDDDDDD", "ja", association, CampaignKind.DRILL, "地震", "本文", Status.PENDING, ()).decode()

    _question_parts.cache_clear()
    names = [f"第{i}町会" for i in range(300)] + ['<b>&"東"</b>\x00A\x00']
    pages = [page(n) for n in names]
    assert all(n in p for n, p in zip(names[:300], pages, strict=False))
    assert "第1町会" not in pages[2] and "第2町会" in pages[2]
    assert "<b>" not in pages[-1] and "&lt;b&gt;&amp;&#34;東&#34;&lt;/b&gt;" in pages[-1] and "\x00" not in pages[-1]
    # the cache holds one page per language and campaign text, not one per association
    assert _question_parts.cache_info().currsize == 1


def test_form_keys_are_distinct_across_draws_and_never_shared_with_a_forked_child() -> None:
    import os

    from safetynet.web.reply_views import fresh_key

    keys = [fresh_key() for _ in range(700)]  # more than one block of 256
    assert len(set(keys)) == 700 and all(re.fullmatch(r"[A-Za-z0-9_-]{22}", k) for k in keys)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the key its parent takes next must not be its own
        os.write(write, fresh_key().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert len(child) == 22 and child != fresh_key()

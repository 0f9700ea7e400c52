"""Resident links with text stuck to them (chat and mail apps take along what follows a URL in a
sentence): one rule for every resident link (`tokens.token_part`): the token part is taken and
what follows it ignored, when the token itself is valid. QA: `/r/TOKEN。ご確認ください` gave 404,
`/join/CODE。` 「登録コードが正しくありません」, an email link `?t=…。` a button whose press said the link was
used up; `/join` with no code said the code was wrong before anything was typed."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from replies_fixtures import enrolment_code, running_app

from safetynet.i18n import t

TAILS = ["。", "。ご確認ください", "）", " ご確認ください", "、よろしく"]
# with punctuation alone (a link detected inside a sentence: 「。」「)」「.」, escaped or not) and a slash typed
# or glued on after the token (QA: /r/TOKEN/ was 404)
REPLY_TAILS = [*TAILS, ")", ".", "」", "%E3%80%82", "!", "/", "/。"]


@pytest.mark.parametrize("tail", REPLY_TAILS)
async def test_a_reply_link_with_words_stuck_to_it_opens_the_page_it_meant(tmp_path: Path, tail: str) -> None:
    async with running_app(tmp_path) as env:
        url = env.reply_url("A-001")
        async with env.http.get(url + tail + "?lang=en", allow_redirects=False) as r:
            assert r.status == 302 and r.headers["Location"] == url.removeprefix(env.url) + "?lang=en"
        async with env.http.get(url + tail) as r:
            assert r.status == 200 and "無事です" in await r.text()
        async with env.http.get(url + "x" + tail) as r:  # more token characters: no token of ours
            assert r.status == 404


async def test_a_reply_link_cut_before_its_token_is_the_dead_end_page(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        async with env.http.get(f"{env.url}/r/") as r:  # the dead end, not a bare 404
            assert r.status == 404 and "このリンクは" in await r.text()


@pytest.mark.parametrize("tail", [*TAILS, "/"])
async def test_the_letters_link_with_words_stuck_to_it_opens_the_households_page(tmp_path: Path, tail: str) -> None:
    async with running_app(tmp_path) as env:
        code = await enrolment_code(env, "A-001")
        async with env.http.get(f"{env.url}/join/{code}{tail}?lang=en", allow_redirects=False) as r:
            assert r.status == 302 and r.headers["Location"] == f"/join/{code}?lang=en"
        async with env.http.get(f"{env.url}/join/{code}{tail}?lang=en&x=a%26b", allow_redirects=False) as r:
            assert r.headers["Location"] == f"/join/{code}?lang=en&x=a%26b"  # the query as sent (review)
        async with env.http.get(f"{env.url}/join/{code}{tail}") as r:
            assert r.status == 200 and "山田 太郎" in await r.text()
        async with env.http.get(f"{env.url}/join/{code}X{tail}") as r:  # a code with a symbol too many
            assert r.status == 404 and t("ja", "enrol.bad_code") in await r.text()


async def test_join_with_no_code_shows_the_field_to_type_it(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        for path in ("/join", "/join/", "/join?code="):
            async with env.http.get(env.url + path) as r:
                page = await r.text()
                assert r.status == 200, path
            assert t("ja", "enrol.type_code") in page and 'name="code"' in page and 'action="/join"' in page
            assert t("ja", "enrol.bad_code") not in page
        code = await enrolment_code(env, "A-001")
        async with env.http.get(f"{env.url}/join", params={"code": code.lower()}) as r:  # the field, sent
            assert r.status == 200 and "山田 太郎" in await r.text()


@pytest.mark.parametrize("tail", ["。", "。ご確認ください", "）"])
async def test_an_email_confirmation_link_with_words_stuck_to_it_confirms(tmp_path: Path, tail: str) -> None:
    async with running_app(tmp_path) as env:
        code = await enrolment_code(env, "B-001")
        async with env.http.post(f"{env.url}/join/{code}/email", data={"address": "hanako@ezweb.ne.jp"}) as resp:
            assert resp.status == 200
        (mail,) = env.sandbox.messages("email")
        link = re.search(r"https?://\S+/confirm\?t=[A-Za-z0-9_-]+", mail.text or "")
        assert link
        async with env.http.get(link.group(0) + tail) as resp:
            page = await resp.text()
            assert resp.status == 200 and t("ja", "enrol.email.confirm") in page
        hidden = re.search(r'name="confirm_code" value="([^"]*)"', page)
        assert hidden and html.unescape(hidden.group(1)) == link.group(0).partition("?t=")[2]
        # the button of a page opened with the words stuck to it (an older page): confirms as well
        async with env.http.post(f"{env.url}/join/{code}/email/confirm",
                                 data={"confirm_code": hidden.group(1) + tail}) as resp:
            assert resp.status == 200 and t("ja", "enrol.email.done") in await resp.text()
        household = await env.store.roster.get_household(env.hh("B-001").id)
        assert household is not None and "hanako@ezweb.ne.jp" in {c.address for c in household.contacts}

"""The reply page `/r/{token}`: read vs answer, retries, history, expiry, limits, escaping, languages."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from replies_fixtures import SECRET, Env, running_app

from safetynet.domain import Status
from safetynet.replies.tokens import reply_token


async def _totals(env: Env) -> dict[str, int]:
    """Households per status over all associations, from the live counters."""
    out: dict[str, int] = {}
    for c in await env.store.stats.counts(env.campaign_id):
        out[c.status] = out.get(c.status, 0) + c.n
    return out


def _key(html: str) -> str:
    m = re.search(r'name="k" value="([^"]+)"', html)
    assert m
    return m.group(1)


async def test_get_records_read_only_and_shows_the_question(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        async with env.http.get(env.reply_url("A-001")) as resp:
            page = await resp.text()
            assert resp.status == 200
            assert resp.headers["Cache-Control"] == "no-store"
        assert "桜町一丁目町会" in page and "無事です" in page and "助けが必要" in page
        assert "【訓練】" in page and "震度6弱" in page
        assert "<script" not in page  # the page works without JavaScript
        assert await env.status("A-001") == Status.READ
        assert await env.history("A-001") == ["read"]


async def test_link_preview_get_does_not_answer(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        for agent in ("Slackbot-LinkExpanding 1.0", "facebookexternalhit/1.1", "Line/13.0", "TelegramBot (like TwitterBot)"):
            async with env.http.get(env.reply_url("A-001"), headers={"User-Agent": agent}) as resp:
                assert resp.status == 200
        async with env.http.head(env.reply_url("A-001")) as resp:
            assert resp.status == 200
        assert await env.status("A-001") == Status.READ
        assert await env.history("A-001") == ["read"]  # one read, never an answer
        counts = await _totals(env)
        assert counts.get("safe", 0) == 0 and counts["read"] == 1


async def test_post_records_the_answer_and_a_retry_counts_once(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        url = env.reply_url("A-001")
        async with env.http.get(url) as resp:
            key = _key(await resp.text())
        for _ in range(3):  # the same form sent three times (flaky network, refresh)
            async with env.http.post(url, data={"status": "safe", "k": key}) as resp:
                page = await resp.text()
                assert resp.status == 200
        assert "記録しました" in page and 'name="people_injured"' in page
        assert await env.status("A-001") == Status.SAFE
        assert await env.history("A-001") == ["read", "safe"]
        counts = await _totals(env)
        assert counts["safe"] == 1 and counts.get("read", 0) == 0


async def test_changed_answer_keeps_history_and_latest_wins(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        url = env.reply_url("A-003")
        async with env.http.post(url, data={"status": "safe", "k": "first-answer"}) as resp:
            assert resp.status == 200
        async with env.http.post(url, data={"status": "need_help", "k": "second-answer"}) as resp:
            assert resp.status == 200
        async with env.http.post(url, data={"status": "safe", "k": "third-answer"}) as resp:
            assert resp.status == 200
        assert await env.history("A-003") == ["safe", "need_help", "safe"]
        assert await env.status("A-003") == Status.SAFE
        counts = await _totals(env)
        assert counts["safe"] == 1 and counts.get("need_help", 0) == 0
        async with env.http.get(url) as resp:  # the page shows the current answer and the history
            page = await resp.text()
        assert "Your answer now" in page and page.count("<li>") == 3
        await env.intake.idle()


async def test_an_old_form_sent_again_says_the_answer_that_stands(tmp_path: Path) -> None:
    """Back or reload after changing the answer resends the first form (its key was used): the page
    must not say "recorded" for an answer the city does not have."""
    async with running_app(tmp_path) as env:
        url = env.reply_url("A-001")
        async with env.http.post(url, data={"status": "need_help", "k": "first-form"}) as resp:
            assert resp.status == 200 and "記録しました" in await resp.text()
        async with env.http.post(url, data={"status": "safe", "k": "change-form"}) as resp:
            assert resp.status == 200
        async with env.http.post(url, data={"status": "need_help", "k": "first-form"}) as resp:
            page = await resp.text()
            assert resp.status == 409
        assert "回答は変わっていません" in page and "現在の回答: 無事です" in page and "記録しました" not in page
        assert '<section class="history">' in page and page.count("<li>") == 2  # its answers, as the page shows them
        fresh = _key(page)
        assert fresh not in ("first-form", "change-form")  # the buttons answer anew
        assert await env.status("A-001") == Status.SAFE
        assert await env.history("A-001") == ["need_help", "safe"]
        async with env.http.post(url, data={"status": "need_help", "k": fresh}) as resp:
            assert resp.status == 200 and "記録しました" in await resp.text()
        assert await env.status("A-001") == Status.NEED_HELP
        # the same form twice with the answer it gave still standing is the plain retry: 200
        async with env.http.post(url, data={"status": "need_help", "k": fresh}) as resp:
            assert resp.status == 200 and "記録しました" in await resp.text()
        await env.intake.idle()


async def test_details_sent_after_need_help_are_not_a_second_answer_in_the_history(tmp_path: Path) -> None:
    """The details form is a second reply with the same answer; the resident's history lists where
    the answer changed, so two 「助けが必要」 lines do not read as asking twice."""
    async with running_app(tmp_path) as env:
        url = env.reply_url("A-001")
        for data in ({"status": "need_help", "k": "help-0001"},
                     {"status": "need_help", "k": "help-0002", "details": "1", "note": "2階にいます"},
                     {"status": "safe", "k": "safe-0001"}, {"status": "need_help", "k": "help-0003"}):
            async with env.http.post(url, data=data) as resp:
                assert resp.status == 200
        assert await env.history("A-001") == ["need_help", "need_help", "safe", "need_help"]  # all kept
        async with env.http.get(url) as resp:
            page = await resp.text()
        history = page[page.index('<section class="history">'):]
        lines = [li.split(" ", 2)[-1].split("<")[0] for li in history.split("<li>")[1:]]
        assert lines == ["助けが必要", "無事です", "助けが必要"]
        await env.intake.idle()


async def test_an_earlier_answers_details_form_never_undoes_a_newer_answer(tmp_path: Path) -> None:
    """Safe on one page, need help on another, then the first page's details form (its hidden answer
    is "safe") with an injury: recording it would withdraw the help request unseen."""
    async with running_app(tmp_path) as env:
        url = env.reply_url("A-001")
        async with env.http.post(url, data={"status": "safe", "k": "first-page"}) as resp:
            assert resp.status == 200 and 'name="details"' in await resp.text()
        async with env.http.post(url, data={"status": "need_help", "k": "second-page"}) as resp:
            assert resp.status == 200
        late = {"status": "safe", "k": "first-page-d", "details": "1", "people_injured": "1", "note": "足をけがしました"}
        async with env.http.post(url, data=late) as resp:
            page = await resp.text()
            assert resp.status == 409
        assert "詳しい状況は記録していません" in page and "現在の回答: 助けが必要" in page and "記録しました" not in page
        assert await env.status("A-001") == Status.NEED_HELP
        assert await env.history("A-001") == ["safe", "need_help"]
        # details of the answer that stands are taken as before
        async with env.http.post(url, data={**late, "status": "need_help", "k": "second-page-d"}) as resp:
            assert resp.status == 200 and "受け取りました" in await resp.text()
        (row,) = await env.store.replies.help_list(env.campaign_id)
        assert (row.people_injured, row.note) == (1, "足をけがしました")
        # the other way round (help details after 無事 elsewhere) they are taken: they only ask for more help
        async with env.http.post(url, data={"status": "safe", "k": "third-page"}) as resp:
            assert resp.status == 200
        async with env.http.post(url, data={**late, "status": "need_help", "k": "second-page-d2", "note": "やはり動けない"}) as resp:
            assert resp.status == 200 and "受け取りました" in await resp.text()
        assert await env.status("A-001") == Status.NEED_HELP
        await env.intake.idle()


async def test_details_sent_again_from_a_kept_page_with_other_words_are_stored(tmp_path: Path) -> None:
    """QA: details sent, Back (the browser keeps the answer page), other words in the same form, sent:
    the page said 「受け取りました」 while the city kept only the first words (the form's key was seen)."""
    async with running_app(tmp_path) as env:
        url = env.reply_url("A-001")
        async with env.http.post(url, data={"status": "need_help", "k": "answer-0001"}) as resp:
            assert resp.status == 200
        first = {"status": "need_help", "k": "answer-0001-d", "details": "1", "note": "一回目：足をけがしています"}
        second = {**first, "note": "二回目：2階に閉じ込められています", "people_injured": "2"}
        for data in (first, second, second):  # the last: the same words again, a plain retry
            async with env.http.post(url, data=data) as resp:
                assert resp.status == 200 and "受け取りました" in await resp.text()
        notes = [e.note for e in await env.store.replies.history(env.campaign_id, env.hh("A-001").id)]
        assert notes == [None, "一回目：足をけがしています", "二回目：2階に閉じ込められています"]
        (row,) = await env.store.replies.help_list(env.campaign_id)
        assert (row.note, row.people_injured) == ("二回目：2階に閉じ込められています", 2)
        await env.intake.idle()


async def test_the_history_says_its_times_are_japan_time(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        url = env.reply_url("A-003")  # an English household: it may not live by Japan's clock
        async with env.http.post(url, data={"status": "safe", "k": "an-answer"}) as resp:
            assert resp.status == 200
        async with env.http.get(url) as resp:
            en = await resp.text()
        async with env.http.get(url + "?lang=ja") as resp:
            ja = await resp.text()
        await env.intake.idle()
        answered = datetime.fromtimestamp(env.clock.now(), timezone(timedelta(hours=9))).strftime("%m/%d %H:%M")
    for page, heading in ((en, "Your answers so far (Japan time)"), (ja, "これまでの回答（日本時間）")):
        history = page[page.index('<section class="history">'):]
        assert f"<h2>{heading}</h2>" in history and f"<li>{answered} " in history


async def test_details_are_stored_and_malformed_ones_dropped(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        url = env.reply_url("A-001")
        data = {"status": "need_help", "k": "details-0001", "details": "1", "people_safe": "2",
                "people_injured": "1", "location": "shelter", "note": "足を痛めた" + "あ" * 300}
        async with env.http.post(url, data=data) as resp:
            assert resp.status == 200
            page = await resp.text()
        assert "受け取りました" in page
        # what arrived is shown back, as stored (the note clipped to 200), the form folded below it
        sent = page[page.index('<section class="sent">'):page.index("</section>", page.index('<section class="sent">'))]
        assert "<dt>無事な人数</dt><dd>2</dd>" in sent and "<dt>けがをしている人数</dt><dd>1</dd>" in sent
        assert "<dd>避難所</dd>" in sent and "<dd>足を痛めた" + "あ" * 195 + "</dd>" in sent
        assert "それを超えた部分は届いていません" in sent  # 305 characters sent, 200 kept: said, not hidden
        assert page.index('<details class="more">') < page.index('class="details"')
        bad = {"status": "need_help", "k": "details-0002", "people_safe": "-3", "people_injured": "many",
               "location": "moon"}
        async with env.http.post(url, data=bad) as resp:
            assert resp.status == 200
        first, second = await env.store.replies.history(env.campaign_id, env.hh("A-001").id)
        assert (first.people_safe, first.people_injured, first.location) == (2, 1, "shelter")
        assert first.note is not None and len(first.note) == 200
        # the counts dropped; the place in words kept in the note (see the next test)
        assert (second.people_safe, second.people_injured, second.location, second.note) == (None, None, None, "moon")
        # as a phone types them: full-width digits, a counter word (QA: 「２」 was dropped without a word)
        typed = {"status": "need_help", "k": "details-0004", "people_safe": "２", "people_injured": "1人"}
        async with env.http.post(url, data=typed) as resp:
            assert resp.status == 200
        *_, third = await env.store.replies.history(env.campaign_id, env.hh("A-001").id)
        assert (third.people_safe, third.people_injured) == (2, 1)
        await env.intake.idle()


async def test_a_location_in_words_is_kept_in_the_note_by_the_form_and_the_json_answer(tmp_path: Path) -> None:
    # QA: `location=自宅1階` answered 200 and stored nothing of the place; the page sends only the three
    # values, so the words come from an API client or a hand-made form: kept, never refused (the call for
    # help came with them)
    async with running_app(tmp_path) as env:
        url = env.reply_url("A-001")
        data = {"status": "need_help", "k": "place-0001", "details": "1", "location": "自宅1階", "note": "足を痛めた"}
        async with env.http.post(url, data=data) as resp:
            assert resp.status == 200
            page = await resp.text()
        sent = page[page.index('<section class="sent">'):page.index("</section>", page.index('<section class="sent">'))]
        assert "<dd>自宅1階\n足を痛めた</dd>" in sent  # the resident sees the place was received
        async with env.http.post(url, data={"status": "need_help", "k": "place-0002", "location": " 2階の寝室 "}) as resp:
            assert resp.status == 200
        async with env.http.post(url, data={"status": "need_help", "k": "place-0003", "location": "shelter"}) as resp:
            assert resp.status == 200
        base = env.reply_url("A-002")
        async with env.http.post(base + "/answer", json={"status": "need_help", "key": "sw-place-1",
                                                         "location": "公民館"}) as resp:
            assert resp.status == 200 and (await resp.json())["recorded"] is True
        async with env.http.post(base + "/answer", json={"status": "need_help", "key": "sw-place-2",
                                                         "location": "home", "note": "台所"}) as resp:
            assert resp.status == 200
        form = await env.store.replies.history(env.campaign_id, env.hh("A-001").id)
        assert [(e.status, e.location, e.note) for e in form] == [
            ("need_help", None, "自宅1階\n足を痛めた"), ("need_help", None, "2階の寝室"), ("need_help", "shelter", None)]
        api = await env.store.replies.history(env.campaign_id, env.hh("A-002").id)
        assert [(e.status, e.location, e.note) for e in api] == [("need_help", None, "公民館"), ("need_help", "home", "台所")]
        await env.intake.idle()


async def test_details_shown_back_are_escaped_and_a_plain_answer_has_no_summary(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        url = env.reply_url("A-002")
        data = {"status": "need_help", "k": "details-0003", "details": "1", "note": "<b>2階</b> & 台所"}
        async with env.http.post(url, data=data) as resp:
            page = await resp.text()
        assert "<dd>&lt;b&gt;2階&lt;/b&gt; &amp; 台所</dd>" in page and "<b>2階</b>" not in page
        assert "無事な人数</dt>" not in page  # only what was given is listed
        assert "届いていません" not in page  # a short note is whole
        async with env.http.post(url, data={"status": "safe", "k": "plain-0001"}) as resp:
            plain = await resp.text()
        assert '<section class="sent">' not in plain and '<details class="more">' not in plain
        await env.intake.idle()


async def test_bad_answer_is_refused_without_recording(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        async with env.http.post(env.reply_url("A-001"), data={"status": "read"}) as resp:
            assert resp.status == 400
            assert "もう一度" in await resp.text()
        assert await env.history("A-001") == []


async def test_unknown_malformed_and_expired_tokens_look_the_same(tmp_path: Path) -> None:
    async with running_app(tmp_path, SAFETYNET_REPLIES_TOKEN_GRACE_HOURS="2") as env:
        valid = env.token("A-001")
        unknown = reply_token(SECRET, env.campaign_id + 99, env.hh("A-001").id)
        bodies = set()
        for token in (unknown, "short", "x" * 200, "bad!token~chars*******"):
            async with env.http.get(f"{env.url}/r/{token}") as resp:
                assert resp.status == 404
                bodies.add(await resp.text())
            async with env.http.post(f"{env.url}/r/{token}", data={"status": "safe"}) as resp:
                assert resp.status == 404
                bodies.add(await resp.text())
        assert await env.store.campaigns.close(env.campaign_id, env.clock.now())
        await env.clock.advance(3600)  # within the grace period: still accepted
        async with env.http.post(f"{env.url}/r/{valid}", data={"status": "safe"}) as resp:
            assert resp.status == 200
        await env.clock.advance(2 * 3600)  # past it: exactly like an unknown token
        async with env.http.get(f"{env.url}/r/{valid}") as resp:
            assert resp.status == 404
            bodies.add(await resp.text())
        async with env.http.post(f"{env.url}/r/{valid}", data={"status": "need_help"}) as resp:
            assert resp.status == 404
            bodies.add(await resp.text())
        assert len(bodies) == 1
        assert await env.history("A-001") == ["safe"]


async def test_rate_limit_per_ip_answers_429_with_retry_after(tmp_path: Path) -> None:
    async with running_app(tmp_path, SAFETYNET_REPLIES_RATE_LIMIT_PER_MINUTE="3") as env:
        for _ in range(3):
            async with env.http.get(env.reply_url("A-001")) as resp:
                assert resp.status == 200
        async with env.http.post(env.reply_url("A-001"), data={"status": "safe"}) as resp:
            assert resp.status == 429
            assert int(resp.headers["Retry-After"]) >= 1
            text = await resp.text()  # the catalog's words, Japanese first (was English only)
            assert text.index("アクセスが集中しています") < text.index("Too many requests right now")
        assert await env.status("A-001") == Status.READ
        await env.clock.advance(60)  # the bucket refills with time
        async with env.http.post(env.reply_url("A-001"), data={"status": "safe"}) as resp:
            assert resp.status == 200


async def test_large_body_is_refused(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        url = env.reply_url("A-001")
        async with env.http.post(url, data={"status": "safe", "note": "あ" * 700}) as resp:
            page = await resp.text()
            assert resp.status == 413
        # not a dead end: what to shorten, and the way back to the question
        assert "200字まで" in page and f'href="{url.removeprefix(env.url)}"' in page and "回答のページにもどる" in page
        async with env.http.post(f"{env.url}/r/bad!token", data={"status": "safe", "note": "x" * 10_000}) as resp:
            assert resp.status == 413 and "/r/bad" not in await resp.text()  # no link made of what is no token
        async with env.http.post(env.reply_url("A-001") + "/answer", data=b"{" + b" " * 10_000 + b"}",
                                 headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 413
        assert await env.history("A-001") == []


async def test_everything_shown_is_escaped(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        evil = '<script>alert("x")</script>'
        await env.store.campaigns.update_text(env.campaign_id, title=evil, messages={"ja": evil + "本文"})
        env.intake._pages.clear()
        async with env.http.get(env.reply_url("A-001")) as resp:
            page = await resp.text()
        assert "<script>" not in page and "&lt;script&gt;" in page
        async with env.http.get(env.reply_url("A-001") + '?lang="><script>') as resp:
            assert "<script>" not in await resp.text()


async def test_language_of_household_and_switch(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        async with env.http.get(env.reply_url("A-003")) as resp:  # an English household
            page = await resp.text()
        assert "I need help" in page and "A strong earthquake" in page and 'lang="en"' in page
        assert re.search(r"<h1>\[DRILL\] \S", page)  # the mark and the title are two words
        async with env.http.get(env.reply_url("A-003") + "?lang=ja-easy") as resp:
            page = await resp.text()
        assert "だいじょうぶ" in page
        async with env.http.post(env.reply_url("A-003"), data={"status": "safe", "lang": "ja"}) as resp:
            assert "「無事」と記録しました" in await resp.text()


async def test_push_endpoints_record_seen_and_action(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        base = env.reply_url("A-002")
        async with env.http.post(base + "/seen") as resp:
            assert resp.status == 204
        assert await env.status("A-002") == Status.READ
        body = {"status": "safe", "key": "sw-action-123"}
        for _ in range(2):  # the worker retries with the same key
            async with env.http.post(base + "/answer", json=body) as resp:
                doc = await resp.json()
                assert resp.status == 200
        assert doc["status"] == "safe" and doc["recorded"] is False and "記録しました" in doc["message"]
        async with env.http.post(base + "/answer", json={"status": "need_help", "key": "sw-action-456"}) as resp:
            assert resp.status == 200 and (await resp.json())["recorded"] is True
        async with env.http.post(base + "/answer", json=body) as resp:  # the first notification's action again
            doc = await resp.json()
        assert doc == {"status": "need_help", "recorded": False, "message": "現在の回答: 助けが必要"}
        entries = await env.store.replies.history(env.campaign_id, env.hh("A-002").id)
        assert [(e.status, e.channel) for e in entries] == [("read", "webpush"), ("safe", "webpush"),
                                                            ("need_help", "webpush")]
        async with env.http.post(f"{env.url}/r/{'a' * 22}/answer", json=body) as resp:
            assert resp.status == 404


async def test_a_safe_the_phone_kept_offline_does_not_withdraw_a_call_for_help_made_since(tmp_path: Path) -> None:
    """The service worker sends a tap it kept with its age (by the phone's own clock): a "safe" tapped
    before the household called for help elsewhere must not withdraw the call when it arrives."""
    async with running_app(tmp_path) as env:
        base = env.reply_url("A-001")
        async with env.http.post(base, data={"status": "need_help"}) as resp:  # on the page, just now
            assert resp.status == 200
        await env.clock.advance(60)
        hour = {"status": "safe", "key": "sw-kept-1", "via": "webpush", "age_ms": 3_600_000}  # tapped an hour ago
        async with env.http.post(base + "/answer", json=hour) as resp:
            doc = await resp.json()
        assert resp.status == 200
        assert doc == {"status": "need_help", "recorded": False, "message": "現在の回答: 助けが必要"}
        assert await env.status("A-001") == Status.NEED_HELP
        # tapped 30 s ago, after the call for help a minute ago: the resident is safe now
        later = {"status": "safe", "key": "sw-kept-2", "via": "webpush", "age_ms": 30_000}
        async with env.http.post(base + "/answer", json=later) as resp:
            assert (await resp.json())["recorded"] is True
        assert await env.status("A-001") == Status.SAFE
        # a tap sent as it is made (no age, or a few seconds) changes the answer as always
        async with env.http.post(base, data={"status": "need_help"}) as resp:
            assert resp.status == 200
        async with env.http.post(base + "/answer", json={"status": "safe", "key": "sw-now", "age_ms": 900}) as resp:
            assert (await resp.json())["recorded"] is True
        assert [e.status for e in await env.store.replies.history(env.campaign_id, env.hh("A-001").id)] == [
            "need_help", "safe", "need_help", "safe"]


def test_urlencoded_forms_parse_like_browsers_send_them() -> None:
    from safetynet.web.replies_common import parse_urlencoded

    assert parse_urlencoded(b"status=safe&note=%E8%B6%B3+%E3%81%8C&status=need_help&&x=") == {
        "status": "safe", "note": "足 が", "x": ""}
    with pytest.raises(UnicodeDecodeError):
        parse_urlencoded(b"note=%FF%FE")
    with pytest.raises(ValueError):
        parse_urlencoded(b"&".join([b"a=1"] * 500))


async def test_unreadable_form_is_refused(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        async with env.http.post(env.reply_url("A-001"), data=b"status=safe&note=%FF%FE",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"}) as resp:
            assert resp.status == 400
        async with env.http.post(env.reply_url("A-001"), data={"status": "safe"},  # multipart works too
                                 headers=None) as resp:
            assert resp.status == 200
        assert await env.history("A-001") == ["safe"]


async def test_with_the_store_failing_a_resident_reads_a_page_not_json(tmp_path: Path) -> None:
    """QA: with the database down the reply page answered `{"error": "internal error"}` in English."""
    from store_helpers import break_writes

    async with running_app(tmp_path) as env:
        await break_writes(env.store, True)
        try:
            async with env.http.post(env.reply_url("A-002"), data={"status": "need_help", "k": "down-1"}) as r:
                page = await r.text()
                assert r.status == 503 and r.content_type == "text/html" and r.headers["Retry-After"] == "30"
            assert "ただいまご利用になれません" in page and "もう一度お試しください" in page and "119" in page
            assert "Not available right now" in page and "error" not in page
            async with env.http.post(env.reply_url("A-002"), data={"status": "need_help", "k": "down-2"},
                                     headers={"Accept": "application/json"}) as r:
                assert r.status == 503 and "not recorded" in (await r.json())["error"]
        finally:
            await break_writes(env.store, False)
        async with env.http.post(env.reply_url("A-002"), data={"status": "need_help", "k": "down-3"}) as r:
            assert r.status == 200
        assert await env.status("A-002") == Status.NEED_HELP


async def test_a_cancelled_campaigns_page_says_so_and_asks_nothing(tmp_path: Path) -> None:
    """A mistaken alert taken back: its link says it was cancelled, in the household's language, with
    no buttons, before and after the grace (not "no such link", which sends people to their head)."""
    async with running_app(tmp_path, SAFETYNET_REPLIES_TOKEN_GRACE_HOURS="2") as env:
        assert await env.store.campaigns.cancel(env.campaign_id, env.clock.now())
        for hours in (0, 3):  # within the grace, then past it
            await env.clock.advance(hours * 3600)
            async with env.http.get(env.reply_url("A-001")) as resp:
                assert resp.status == 200
                page = await resp.text()
            assert "この安否確認は取り消されました" in page and "回答の必要はありません" in page and "119" in page
            assert "<form" not in page and "地震 安否確認" in page
            async with env.http.get(env.reply_url("A-003")) as resp:  # an English household
                assert "This safety check was cancelled" in await resp.text()
        async with env.http.post(env.reply_url("A-001"), data={"status": "need_help"}) as resp:
            assert resp.status == 200 and "この安否確認は取り消されました" in await resp.text()
        assert await env.history("A-001") == []  # neither opening nor the late tap counts as an answer
        async with env.http.get(f"{env.url}/r/{reply_token(SECRET, env.campaign_id + 99, env.hh('A-001').id)}") as resp:
            assert resp.status == 404  # an unknown link is still just unknown

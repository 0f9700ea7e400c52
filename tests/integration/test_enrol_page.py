"""Enrolment `/join/{code}`: web push, Telegram deep link, phone by SMS code, list and remove, limits."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from replies_fixtures import Env, enrolment_code, running_app

from safetynet.domain import Status


def _server_key(env: Env) -> str:
    return str(env.senders["webpush"].keys.application_server_key)  # type: ignore[attr-defined]


async def test_join_page_offers_every_channel(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        code = await enrolment_code(env, "A-001")
        async with env.http.get(f"{env.url}/join/{code}") as resp:
            page = await resp.text()
            assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
        assert 'lang="ja"' in page and "桜町一丁目町会" in page and "山田 太郎" in page
        assert f'data-key="{_server_key(env)}"' in page and "/static/enrol.js" in page
        assert re.search(r'href="https://t\.me/[A-Za-z0-9_]+\?start=' + re.escape(code) + '"', page)
        assert f'action="/join/{code}/sms"' in page and 'name="address"' in page and "…0001" in page  # masked
        async with env.http.get(f"{env.url}/join/{code}?lang=en") as resp:
            assert "Turn on notifications" in await resp.text()


async def test_webpush_enrolment_then_a_push_action_answers(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        code = await enrolment_code(env, "A-001")
        sub = env.sandbox.fake("webpush").subscribe(_server_key(env))
        async with env.http.post(f"{env.url}/join/{code}/webpush", json=sub) as resp:
            assert resp.status == 201
        household = await env.store.roster.get_household(env.hh("A-001").id)
        assert household is not None
        (contact,) = [c for c in household.contacts if c.kind == "webpush"]
        assert contact.source == "enrolment" and json.loads(contact.address)["endpoint"] == sub["endpoint"]
        # the dispatcher's push reaches the "browser"; its action button answers (the worker's POST)
        await env.send_alert("A-001", "webpush", contact.address)
        sub_id = str(sub["endpoint"]).rsplit("/", 1)[1]
        pushed = env.sandbox.state.find("webpush", sub_id)
        assert pushed is not None and [a["action"] for a in pushed.data["payload"]["actions"]] == ["safe", "need_help"]
        result = await env.sandbox.fake("webpush").action(sub_id, "safe")
        assert result.status == 200
        assert await env.status("A-001") == Status.SAFE


@pytest.mark.parametrize(
    "sub",
    [
        {"endpoint": "https://evil.example/push/1", "keys": {"p256dh": "x", "auth": "y"}},
        {"endpoint": "http://fcm.googleapis.com/fcm/send/1"},
        "not a subscription",
        None,
    ],
)
async def test_bad_subscriptions_are_refused(tmp_path: Path, sub: object) -> None:
    async with running_app(tmp_path) as env:
        code = await enrolment_code(env, "A-001")
        async with env.http.post(f"{env.url}/join/{code}/webpush", json=sub) as resp:
            assert resp.status == 400 and "error" in await resp.json()
        household = await env.store.roster.get_household(env.hh("A-001").id)
        assert household is not None and not [c for c in household.contacts if c.kind == "webpush"]


@pytest.mark.parametrize("tail", ["\u0000\r\nX: y", "\r\n", " x", "\t", "é", "\u3000"])
async def test_an_endpoint_with_characters_no_url_carries_is_refused(tmp_path: Path, tail: str) -> None:
    """An endpoint on an allowed host, with NUL, CR/LF (a header injected into the push request),
    a space or non-ASCII after it: stored before (201), refused now with the page's usual error."""
    async with running_app(tmp_path) as env:
        code = await enrolment_code(env, "A-001")
        sub = env.sandbox.fake("webpush").subscribe(_server_key(env))
        sub["endpoint"] = str(sub["endpoint"]) + tail
        async with env.http.post(f"{env.url}/join/{code}/webpush", json=sub) as resp:
            assert resp.status == 400 and "error" in await resp.json()
        household = await env.store.roster.get_household(env.hh("A-001").id)
        assert household is not None and not [c for c in household.contacts if c.kind == "webpush"]


async def test_phone_confirmed_by_sms_code(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        code = await enrolment_code(env, "B-001")
        async with env.http.post(f"{env.url}/join/{code}/sms", data={"address": "０９０−５５５５−０００１"}) as resp:
            assert resp.status == 200 and 'name="confirm_code"' in await resp.text()
        (sms,) = env.sandbox.messages("sms")
        assert sms.address == "+819055550001"
        sent = re.search(r"(\d{6})", sms.text or "")
        assert sent
        wrong = "000000" if sent.group(1) != "000000" else "111111"
        async with env.http.post(f"{env.url}/join/{code}/sms/confirm", data={"confirm_code": wrong}) as resp:
            assert resp.status == 400
        async with env.http.post(f"{env.url}/join/{code}/sms/confirm", data={"confirm_code": sent.group(1)}) as resp:
            assert resp.status == 200 and "登録しました" in await resp.text()
        household = await env.store.roster.get_household(env.hh("B-001").id)
        assert household is not None
        assert ("+819055550001", "enrolment") in {(c.address, c.source) for c in household.contacts}
        async with env.http.post(f"{env.url}/join/{code}/sms/confirm", data={"confirm_code": sent.group(1)}) as resp:
            assert resp.status == 400  # a code works once


async def test_phone_code_attempts_are_limited(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        code = await enrolment_code(env, "B-001")
        async with env.http.post(f"{env.url}/join/{code}/sms", data={"address": "09055550002"}):
            pass
        (sms,) = env.sandbox.messages("sms")
        right = re.search(r"(\d{6})", sms.text or "")
        assert right
        wrong = "000000" if right.group(1) != "000000" else "111111"
        for _ in range(5):
            async with env.http.post(f"{env.url}/join/{code}/sms/confirm", data={"confirm_code": wrong}) as resp:
                assert resp.status == 400
        async with env.http.post(f"{env.url}/join/{code}/sms/confirm", data={"confirm_code": right.group(1)}) as resp:
            assert resp.status == 400  # used up by the wrong guesses


_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


async def test_the_sms_code_typed_in_full_width_digits_confirms(tmp_path: Path) -> None:
    """QA: 「５６６５１０」 (a phone's Japanese IME types full-width digits) was refused with 確認コードが
    違う and used up a try. Spaces and hyphens as a person types them are left out; a slip that
    is no six-digit code (too short) uses up no try."""
    async with running_app(tmp_path) as env:
        code = await enrolment_code(env, "B-001")
        async with env.http.post(f"{env.url}/join/{code}/sms", data={"address": "09055550003"}):
            pass
        (sms,) = env.sandbox.messages("sms")
        sent = re.search(r"(\d{6})", sms.text or "")
        assert sent
        for _ in range(5):  # as many slips as the tries: none of them counts
            async with env.http.post(f"{env.url}/join/{code}/sms/confirm", data={"confirm_code": "１２３"}) as resp:
                assert resp.status == 400
        typed = sent.group(1).translate(_FULL_WIDTH)
        async with env.http.post(f"{env.url}/join/{code}/sms/confirm",
                                 data={"confirm_code": f" {typed[:3]}－{typed[3:]}\u3000"}) as resp:
            assert resp.status == 200 and "登録しました" in await resp.text()
        household = await env.store.roster.get_household(env.hh("B-001").id)
        assert household is not None and "+819055550003" in {c.address for c in household.contacts}


async def test_landline_or_nonsense_is_not_a_mobile(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        code = await enrolment_code(env, "B-001")
        for phone in ("03-1234-5678", "hello", ""):
            async with env.http.post(f"{env.url}/join/{code}/sms", data={"address": phone}) as resp:
                assert resp.status == 400
        assert env.sandbox.messages("sms") == []


async def test_remove_asks_first_and_only_touches_own_channels(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        code = await enrolment_code(env, "A-002")
        other = env.hh("A-001").contacts[0].id
        for confirm in ("", "1"):
            async with env.http.post(f"{env.url}/join/{code}/remove",
                                     data={"contact_id": str(other), "confirm": confirm}) as resp:
                assert resp.status == 200
        assert await env.store.roster.get_household(env.hh("A-001").id) == env.hh("A-001")  # untouched
        own = next(c for c in env.hh("A-002").contacts if c.kind == "landline")
        # one tap on 削除 only asks: what would go, and how to keep it
        async with env.http.post(f"{env.url}/join/{code}/remove", data={"contact_id": str(own.id)}) as resp:
            page = await resp.text()
            assert resp.status == 200 and "この連絡先を削除しますか？ 固定電話（音声） …0002" in page
            assert 'name="confirm" value="1"' in page and f'href="/join/{code}?lang=ja"' in page
            assert "最後の連絡先" not in page  # the mobile stays
        assert await env.store.roster.get_household(env.hh("A-002").id) == env.hh("A-002")
        async with env.http.post(f"{env.url}/join/{code}/remove",
                                 data={"contact_id": str(own.id), "confirm": "1"}) as resp:
            page = await resp.text()
            assert "削除しました" in page and "固定電話" not in page
        household = await env.store.roster.get_household(env.hh("A-002").id)
        assert household is not None and own.id not in {c.id for c in household.contacts}


async def test_removing_the_last_contact_warns_what_it_means(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        code = await enrolment_code(env, "A-001")
        (only,) = env.hh("A-001").contacts
        async with env.http.post(f"{env.url}/join/{code}/remove",
                                 data={"contact_id": str(only.id), "lang": "en"}) as resp:
            page = await resp.text()
            assert resp.status == 200 and 'lang="en"' in page
            assert "This is your last contact" in page and "Cancel (keep it)" in page
        async with env.http.post(f"{env.url}/join/{code}/remove", data={"contact_id": str(only.id)}) as resp:
            assert "これが最後の連絡先です" in await resp.text()
        assert await env.store.roster.get_household(env.hh("A-001").id) == env.hh("A-001")


async def test_bad_codes_are_limited_per_ip(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        code = await enrolment_code(env, "A-001")
        for i in range(10):
            async with env.http.get(f"{env.url}/join/ZZZZ-ZZZZ-ZZZZ-ZZ{i:02d}") as resp:
                assert resp.status == 404
        async with env.http.get(f"{env.url}/join/{code}") as resp:
            assert resp.status == 429 and int(resp.headers["Retry-After"]) > 0  # even a right code now waits
        await env.clock.advance(601)
        async with env.http.get(f"{env.url}/join/{code}") as resp:
            assert resp.status == 200


async def test_requests_are_limited_per_ip(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        code = await enrolment_code(env, "A-001")
        statuses = []
        for _ in range(31):
            async with env.http.get(f"{env.url}/join/{code}") as resp:
                statuses.append(resp.status)
        assert statuses[:30] == [200] * 30 and statuses[30] == 429


async def test_a_subscription_the_browser_renewed_by_itself_takes_the_old_ones_place(tmp_path: Path) -> None:
    """Review: Firefox renews an expiring push subscription by itself; the service worker had no
    `pushsubscriptionchange`, so the old one died at the next push and the household heard no more by
    push. It posts both to /push/renew: the contact holding the old one moves to the new one."""
    async with running_app(tmp_path) as env:
        code = await enrolment_code(env, "A-001")
        old = env.sandbox.fake("webpush").subscribe(_server_key(env))
        new = env.sandbox.fake("webpush").subscribe(_server_key(env))
        async with env.http.post(f"{env.url}/join/{code}/webpush", json=old) as resp:
            assert resp.status == 201
        async with env.http.post(f"{env.url}/push/renew", json={"old": old, "new": new}) as resp:
            assert resp.status == 204
        household = await env.store.roster.get_household(env.hh("A-001").id)
        assert household is not None
        pushes = [(json.loads(c.address)["endpoint"], c.working) for c in household.contacts if c.kind == "webpush"]
        assert pushes == [(new["endpoint"], True)]
        async with env.http.post(f"{env.url}/push/renew", json={"old": new, "new": new}) as resp:
            assert resp.status == 204  # the same one given back: nothing moves, nothing is removed
        household = await env.store.roster.get_household(env.hh("A-001").id)
        assert household is not None and [c.working for c in household.contacts if c.kind == "webpush"] == [True]
        async with env.http.post(f"{env.url}/push/renew", json={"old": old, "new": new}) as resp:
            assert resp.status == 404  # nobody holds the old one now (nor did a stranger's guess)
        async with env.http.post(f"{env.url}/push/renew", json={"old": {"endpoint": "x"}, "new": new}) as resp:
            assert resp.status == 400
        async with env.http.post(f"{env.url}/push/renew", json=["not", "an", "object"]) as resp:
            assert resp.status == 400

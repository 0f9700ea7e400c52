"""Inbound SMS and status callbacks: signatures (twilio's RequestValidator), keywords, retries, shared phones."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from replies_fixtures import (
    ASSOC_A,
    ASSOC_B,
    Env,
    add_staff,
    post_twilio,
    records,
    running_app,
    seed,
    start_campaign,
)
from roster_helpers import with_contacts
from twilio.request_validator import RequestValidator

from safetynet.domain import Role, Status
from safetynet.replies.tokens import reply_url


def _inbound(env: Env, sid: str, from_: str, body: str) -> dict[str, str]:
    return {"MessageSid": sid, "SmsSid": sid, "AccountSid": env.cfg.secrets.twilio_account_sid, "From": from_,
            "To": env.cfg.channels.sms.from_number, "Body": body, "NumMedia": "0", "NumSegments": "1",
            "SmsStatus": "received", "ApiVersion": "2010-04-01"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [("1", Status.SAFE), ("１", Status.SAFE), ("無事", Status.SAFE), ("ぶじ", Status.SAFE), ("SAFE", Status.SAFE),
     ("ok", Status.SAFE), ("1 無事です", Status.SAFE), ("2", Status.NEED_HELP), ("２", Status.NEED_HELP),
     ("助けて", Status.NEED_HELP), ("たすけて", Status.NEED_HELP), ("HELP", Status.NEED_HELP),
     ("ｓｏｓ", Status.NEED_HELP), ("2 足をけがしました", Status.NEED_HELP)],
)
async def test_each_keyword_form_answers_through_the_sandbox(tmp_path: Path, body: str, expected: Status) -> None:
    async with running_app(tmp_path) as env:
        result = await env.sandbox.fake("sms").reply("+819011110002", body)  # signed by the sandbox, as Twilio signs
        assert result.status == 200 and "<Message>" in result.body and "記録しました" in result.body
        assert ("119番" in result.body) is (expected == Status.NEED_HELP)  # the page's advice, after help only
        assert await env.status("A-002") == expected
        await env.intake.idle()


async def test_keyword_with_words_keeps_them_as_the_note(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        await env.sandbox.fake("sms").reply("+819011110002", "2 足をけがしました")
        (entry,) = await env.store.replies.history(env.campaign_id, env.hh("A-002").id)
        assert (entry.status, entry.channel, entry.note) == ("need_help", "sms", "2 足をけがしました")
        await env.intake.idle()


async def test_other_text_is_kept_as_a_note_and_answered_with_help(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        result = await env.sandbox.fake("sms").reply("+819011110002", "いま避難所に向かっています")
        assert "1" in result.body and "2" in result.body and "返信" in result.body
        (entry,) = await env.store.replies.history(env.campaign_id, env.hh("A-002").id)
        assert (entry.status, entry.note) == ("note", "いま避難所に向かっています")
        assert await env.status("A-002") == Status.PENDING


async def test_a_text_that_tells_of_trouble_is_need_help_and_the_head_reads_it(tmp_path: Path) -> None:
    """QA: 「大丈夫じゃない、足をけがした」 was answered with the keyword help and kept as a note no head
    saw; the household stayed "not answered"."""
    async with running_app(tmp_path) as env:
        await add_staff(env, "head-a", Role.ASSOCIATION_HEAD, ASSOC_A, phone="+819088880001")
        result = await env.sandbox.fake("sms").reply("+819011110002", "大丈夫じゃない、足をけがした")
        assert "「助けが必要」と記録しました" in result.body and "119" in result.body
        assert await env.status("A-002") == Status.NEED_HELP
        await env.dispatch()
        alerts = [r.text or "" for r in env.staff_messages("sms")]
        assert alerts and all("足をけがした" in a for a in alerts)
        (item,) = await env.store.dashboard.help_panel(env.campaign_id, [env.hh("A-002").association_id])
        assert item.note == "大丈夫じゃない、足をけがした"


@pytest.mark.parametrize(
    ("body", "expected"),
    [("救命", Status.NEED_HELP), ("socorro", Status.NEED_HELP), ("cứu", Status.NEED_HELP), ("살려주세요", Status.NEED_HELP),
     ("não estou bem", Status.NEED_HELP), ("Tôi an toàn", Status.SAFE), ("我平安", Status.SAFE)],
)
async def test_a_keyword_in_another_language_answers_and_help_alerts_the_head(
        tmp_path: Path, body: str, expected: Status) -> None:
    """Review: 「救命」, "socorro", "cứu", "살려주세요" were kept as a note: no help request, no alert to the head."""
    async with running_app(tmp_path) as env:
        await add_staff(env, "head-a", Role.ASSOCIATION_HEAD, ASSOC_A, phone="+819088880001")
        result = await env.sandbox.fake("sms").reply("+819011110003", body)
        assert "Recorded" in result.body
        assert await env.status("A-003") == expected
        await env.dispatch()
        assert bool(env.staff_messages("sms")) is (expected == Status.NEED_HELP)
        await env.intake.idle()


async def test_reply_is_in_the_households_language(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        result = await env.sandbox.fake("sms").reply("+819011110003", "ok")
        assert "Recorded: you are safe" in result.body


async def test_forged_or_tampered_signature_is_refused(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        params = _inbound(env, "SM" + "1" * 32, "+819011110002", "1")
        status, _ = await post_twilio(env, "/hooks/twilio/sms", params, token="not-the-auth-token")
        assert status == 403
        url = env.cfg.server.public_url + "/hooks/twilio/sms"
        signature = RequestValidator(env.cfg.secrets.twilio_auth_token).compute_signature(url, params)
        tampered = {**params, "Body": "2"}
        async with env.http.post(env.url + "/hooks/twilio/sms", data=tampered,
                                 headers={"X-Twilio-Signature": signature}) as resp:
            assert resp.status == 403
        async with env.http.post(env.url + "/hooks/twilio/sms", data=params) as resp:  # no signature at all
            assert resp.status == 403
        # signed for another URL (the request reached us behind a proxy under another path)
        other = RequestValidator(env.cfg.secrets.twilio_auth_token).compute_signature(url + "?x=1", params)
        async with env.http.post(env.url + "/hooks/twilio/sms", data=params,
                                 headers={"X-Twilio-Signature": other}) as resp:
            assert resp.status == 403
        assert await env.history("A-002") == []


async def test_twilio_retry_of_the_same_message_counts_once(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        params = _inbound(env, "SM" + "a" * 32, "+819011110002", "1")
        for _ in range(3):
            status, body = await post_twilio(env, "/hooks/twilio/sms", params)
            assert status == 200 and "記録しました" in body
        assert await env.history("A-002") == ["safe"]


async def test_shared_phone_safe_asks_per_household_and_help_reaches_all(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        result = await env.sandbox.fake("sms").reply("+819011110001", "1")  # share this mobile
        assert "複数の世帯" in result.body
        assert result.body.count("/r/") == 2
        assert await env.status("A-001") == Status.PENDING and await env.status("A-004") == Status.PENDING
        assert await env.history("A-001") == ["note"]
        await env.sandbox.fake("sms").reply("+819011110001", "助けて")
        assert await env.status("A-001") == Status.NEED_HELP and await env.status("A-004") == Status.NEED_HELP
        await env.intake.idle()


def _message(body: str) -> list[str]:
    """The lines of the TwiML answer's message."""
    m = re.search(r"<Message>(.*)</Message>", body, re.S)
    assert m is not None, body
    return html.unescape(m.group(1)).split("\n")


async def test_a_shared_phone_is_told_which_link_is_which_household_by_number_and_group(tmp_path: Path) -> None:
    # QA: the son registered on his mother's household got two bare links and could not tell his own
    async with running_app(tmp_path) as env:
        result = await env.sandbox.fake("sms").reply("+819011110001", "1")
        link = {key: reply_url(env.cfg.server.public_url, env.token(key)) for key in ("A-001", "A-004")}
        assert _message(result.body) == [
            "この番号は複数の世帯に登録されています。各世帯のリンクから回答してください。",
            "1班 世帯番号 A-001", link["A-001"], "2班 世帯番号 A-004", link["A-004"]]
        # what the enrolment letters print; no name, no address: an SMS goes to whoever holds the number
        assert "山田" not in result.body and "桜町1-" not in result.body and ASSOC_A not in result.body
        words = [line for line in _message(result.body) if "/r/" not in line]
        assert len("".join(words)) + len(words) - 1 <= 70  # one segment, the links aside
        await env.intake.idle()


async def test_households_of_different_associations_on_one_phone_are_told_apart_by_association(
        tmp_path: Path) -> None:
    async with running_app(tmp_path, seeded=False) as env:
        # B-001's head of household put the son's mobile, A-001's, on it too
        await seed(env, households=[with_contacts(r, phone="+819011110001") if r.household_key == "B-001" else r
                                    for r in records()])
        lines = _message((await env.sandbox.fake("sms").reply("+819011110001", "1")).body)
        assert lines[1::2] == [f"{ASSOC_A} 1班 世帯番号 A-001", f"{ASSOC_A} 2班 世帯番号 A-004",
                               f"{ASSOC_B} 1班 世帯番号 B-001"]
        assert lines[2::2] == [reply_url(env.cfg.server.public_url, env.token(k)) for k in ("A-001", "A-004", "B-001")]
        assert "鈴木" not in "".join(lines)
        assert [await env.status(k) for k in ("A-001", "A-004", "B-001")] == [Status.PENDING] * 3
        await env.intake.idle()


async def test_phone_without_running_campaign(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        result = await env.sandbox.fake("sms").reply("+819099999999", "1")
        assert result.status == 200 and "この番号あての安否確認は行われていません" in result.body  # a phone's own words
        assert await env.store.campaigns.close(env.campaign_id, env.clock.now())
        await env.clock.advance(env.cfg.replies.token_grace_hours * 3600 + 1)  # past the closed campaign's grace
        result = await env.sandbox.fake("sms").reply("+819011110002", "1")
        assert "行われていません" in result.body
        assert await env.history("A-002") == []


async def test_a_call_for_help_texted_just_after_the_close_is_taken_as_its_link_would(tmp_path: Path) -> None:
    """Review: 「2 母が倒れた」 texted ten minutes after the close was answered "no safety check is running"
    and dropped, no note, no alert, where the same answer by the reply link (within the grace) opened a
    help request and told the head."""
    async with running_app(tmp_path) as env:
        await add_staff(env, "head-a", Role.ASSOCIATION_HEAD, ASSOC_A, phone="+819088880001")
        assert await env.store.campaigns.close(env.campaign_id, env.clock.now())
        await env.clock.advance(600)
        result = await env.sandbox.fake("sms").reply("+819011110002", "2 母が倒れた")
        assert "「助けが必要」と記録しました" in result.body and "119" in result.body
        assert await env.history("A-002") == ["need_help"]
        await env.dispatch()
        alerts = [r.text or "" for r in env.staff_messages("sms")]
        assert alerts and all("母が倒れた" in a for a in alerts)
        result = await env.sandbox.fake("sms").reply("+819011110003", "1")  # a 無事 as well, as by its link
        assert await env.history("A-003") == ["safe"]
        # a cancelled campaign takes none, within its grace too: it went out by mistake
        await env.clock.advance(env.cfg.replies.token_grace_hours * 3600 + 1)
        cancelled = await start_campaign(env)
        assert await env.store.campaigns.cancel(cancelled, env.clock.now())
        result = await env.sandbox.fake("sms").reply("+819011110002", "2")
        assert "行われていません" in result.body


async def test_a_sender_that_is_no_phone_number_is_answered_not_a_500(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        for i, sender in enumerate(("+", "+81+9011110002", "090+1111")):
            status, body = await post_twilio(env, "/hooks/twilio/sms", _inbound(env, f"SMbad{i}", sender, "1"))
            assert status == 200 and "<Response>" in body, (sender, status, body)
        assert await env.history("A-002") == []


async def test_answer_goes_to_the_latest_running_campaign_and_the_other_drill_too(tmp_path: Path) -> None:
    """The answer is the latest drill's (its key is the message's own); the other running drill over the
    household takes it as well (`domain.replies.shared_with`: 無事 is a fact about the household)."""
    from replies_fixtures import start_campaign

    async with running_app(tmp_path) as env:
        await env.clock.advance(60)
        second = await start_campaign(env)
        await env.sandbox.fake("sms").reply("+819011110002", "1")
        hh = env.hh("A-002").id
        for campaign in (second, env.campaign_id):
            assert [(h.status, h.channel) for h in await env.store.replies.history(campaign, hh)] == [("safe", "sms")]


async def test_status_callback_signature_is_checked(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        params = {"MessageSid": "SM" + "b" * 32, "MessageStatus": "delivered", "AccountSid": "AC" + "0" * 32}
        status, _ = await post_twilio(env, "/hooks/twilio/status", params, token="forged")
        assert status == 403
        status, _ = await post_twilio(env, "/hooks/twilio/status", params)
        assert status == 204


@pytest.mark.parametrize("body", ["STOP", "配信停止", "配信停止してください"])
async def test_a_request_to_stop_is_told_how_and_kept_for_the_staff(tmp_path: Path, body: str) -> None:
    """QA: STOP and 配信停止 were kept as a note and answered with the 1/2 prompt: nothing told the
    resident how stopping works. A safety check is not stopped by a reply (README, Privacy)."""
    async with running_app(tmp_path) as env:
        result = await env.sandbox.fake("sms").reply("+819011110002", body)
        assert "ここからは止められません" in result.body and "町会長か市役所" in result.body
        assert "「1」" not in result.body
        (entry,) = await env.store.replies.history(env.campaign_id, env.hh("A-002").id)
        assert (entry.status, entry.channel, entry.note) == ("note", "sms", body)
        assert await env.status("A-002") == Status.PENDING
        # from a number no running check has: told the same, nothing recorded
        result = await env.sandbox.fake("sms").reply("+819099990000", body)
        assert "ここからは止められません" in result.body
        # in the household's language
        result = await env.sandbox.fake("sms").reply("+819011110003", "stop")
        assert "cannot be stopped by a reply" in result.body


async def test_a_deputy_who_texts_back_to_his_alert_is_answered_as_staff(tmp_path: Path) -> None:
    """QA (heads' walk): a deputy with only a feature phone texted 「対応済み」 and 「1」 back to his help
    alert and was told 「現在、この番号あての安否確認は行われていません。」 while the check ran. 「対応済み」
    now marks it (test_staff_handled_by_sms); any other text is answered as staff's, with how to."""
    async with running_app(tmp_path) as env:
        await add_staff(env, "deputy-a", Role.DEPUTY, ASSOC_A, phone="+819088880002")
        await env.sandbox.fake("sms").reply("+819011110002", "2 足をけがしました")
        await env.dispatch()
        assert env.staff_messages("sms")  # his alert went out by SMS
        for body in ("1", "了解"):
            lines = _message((await env.sandbox.fake("sms").reply("+819088880002", body)).body)
            assert "行われていません" not in "".join(lines)
            assert "世帯の回答としては記録していません" in lines[0] and "電話" in lines[0]
            assert "「対応済み」と世帯番号を返信" in lines[0]
            assert lines[1] == env.cfg.server.public_url.rstrip("/") + "/"  # the dashboard (after a login)
        assert await env.history("A-002") == ["need_help"]  # nothing recorded for anyone from his texts
        # a head who is a resident too: her household's number answers for the household
        await add_staff(env, "head-a", Role.ASSOCIATION_HEAD, ASSOC_A, phone="+819011110002")
        result = await env.sandbox.fake("sms").reply("+819011110002", "1")
        assert "記録しました" in result.body and await env.status("A-002") == Status.SAFE
        # with no safety check running, a staff number is still answered as staff
        assert await env.store.campaigns.close(env.campaign_id, env.clock.now())
        result = await env.sandbox.fake("sms").reply("+819088880002", "了解")
        assert "世帯の回答としては記録していません" in result.body and "行われていません" not in result.body
        result = await env.sandbox.fake("sms").reply("+819088880002", "対応済み")
        assert "未対応の「助けが必要」はありません" in result.body
        await env.intake.idle()

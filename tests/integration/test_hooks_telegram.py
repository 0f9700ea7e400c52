"""Telegram: secret header, button presses recorded and acknowledged, the message edited, /start CODE."""

from __future__ import annotations

import json
from pathlib import Path

from replies_fixtures import Env, enrolment_code, running_app, start_campaign

from safetynet.channels.telegram.updates import SECRET_HEADER, callback_data, webhook_secret
from safetynet.domain import CampaignKind, Status

CHAT = 5550003  # A-003 (English)


def _press(env: Env, query_id: str, data: str) -> dict[str, object]:
    return {"update_id": 1, "callback_query": {
        "id": query_id, "from": {"id": CHAT, "is_bot": False, "first_name": "R"}, "chat_instance": "1", "data": data}}


async def _post(env: Env, update: dict[str, object], secret: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    async with env.http.post(env.url + "/hooks/telegram", data=json.dumps(update), headers=headers) as resp:
        return resp.status


async def test_button_press_records_acknowledges_and_edits_the_message(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        await env.send_alert("A-003", "telegram", str(CHAT), language="en")
        result = await env.sandbox.fake("telegram").press(CHAT, "safe")
        assert result.status == 200
        assert await env.status("A-003") == Status.SAFE
        acks = [r for r in env.sandbox.records if r.kind == "answer_callback"]
        assert len(acks) == 1 and acks[0].text == "Recorded: you are safe."
        rec = env.sandbox.state.find("telegram", str(CHAT))
        assert rec is not None
        edit = rec.data["edits"][-1]
        assert "Recorded: you are safe." in edit["text"] and "has ended" not in edit["text"]
        (button,) = [b for row in edit["reply_markup"]["inline_keyboard"] for b in row]
        assert button["callback_data"] == callback_data("need_help", env.token("A-003"))
        # the "change" button works: the answer changes, the history keeps both
        await env.sandbox.fake("telegram").press(CHAT, "need_help")
        assert await env.status("A-003") == Status.NEED_HELP
        assert await env.history("A-003") == ["safe", "need_help"]
        await env.intake.idle()


async def test_the_press_is_answered_in_the_webhooks_response(tmp_path: Path) -> None:
    """answerCallbackQuery rides in the response (Telegram runs it): the server's own Bot API
    requests for a press are the edit alone."""
    async with running_app(tmp_path) as env:
        await env.send_alert("A-003", "telegram", str(CHAT), language="en")
        sent = env.sandbox.state.find("telegram", str(CHAT))
        assert sent is not None
        update = _press(env, "q-in-reply", callback_data("safe", env.token("A-003")))
        update["callback_query"]["message"] = {  # type: ignore[index]
            "message_id": int(sent.provider_id.split(":")[1]), "chat": {"id": CHAT, "type": "private"}, "text": sent.text}
        headers = {"Content-Type": "application/json", SECRET_HEADER: webhook_secret(env.cfg.secrets.secret_key)}
        async with env.http.post(env.url + "/hooks/telegram", data=json.dumps(update), headers=headers) as resp:
            assert resp.status == 200 and resp.content_type == "application/json"
            body = await resp.json()
        assert body == {"method": "answerCallbackQuery", "callback_query_id": "q-in-reply",
                        "text": "Recorded: you are safe."}
        assert await env.status("A-003") == Status.SAFE
        # posted straight to the app, not through the sandbox: nothing ran the response's method
        assert [r for r in env.sandbox.records if r.kind == "answer_callback"] == []
        assert len([r for r in env.sandbox.records if r.kind == "edit_message"]) == 1
        # a press that records nothing is answered the same way, with why
        forged = _press(env, "q-unknown", callback_data("safe", "q" * 22))
        async with env.http.post(env.url + "/hooks/telegram", data=json.dumps(forged), headers=headers) as resp:
            body = await resp.json()
        assert body["method"] == "answerCallbackQuery" and body["callback_query_id"] == "q-unknown"
        assert body["text"] == "この安否確認は見つからないか、受付を終了しました。"
        await env.intake.idle()


async def test_a_button_of_an_ended_campaign_says_the_running_one_took_the_answer(tmp_path: Path) -> None:
    """The drill's message kept in the chat, pressed after the drill closed and a real event began: the
    answer goes to the event (as the drill's reply link would), and the message says so, as the reply
    page does (reply.moved): it said only "Recorded", as if the drill had taken it."""
    async with running_app(tmp_path) as env:
        drill = env.campaign_id
        await env.send_alert("A-003", "telegram", str(CHAT), language="en")
        assert await env.store.campaigns.close(drill, env.clock.now())
        await env.clock.advance(600)
        event = await start_campaign(env, CampaignKind.REAL, title="Earthquake M7")
        result = await env.sandbox.fake("telegram").press(CHAT, "need_help")
        assert result.status == 200
        assert await env.status("A-003", event) == Status.NEED_HELP
        assert await env.status("A-003", drill) == Status.PENDING
        acks = [r for r in env.sandbox.records if r.kind == "answer_callback"]
        # the press's own line (at most 200 characters) is the recorded answer alone
        assert [a.text for a in acks] == ["Recorded: you need help. Your association or city staff will check it."]
        rec = env.sandbox.state.find("telegram", str(CHAT))
        assert rec is not None
        text = rec.data["edits"][-1]["text"]
        assert text.endswith("\nThe button you pressed was for “地震 安否確認”, which has ended."
                             " Your answer has been recorded for “Earthquake M7”, which is running now.")
        assert "Recorded: you need help." in text
        await env.intake.idle()


async def test_missing_or_wrong_secret_is_refused(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        update = _press(env, "q-1", callback_data("safe", env.token("A-003")))
        assert await _post(env, update, None) == 403
        assert await _post(env, update, "wrong-secret") == 403
        assert await env.history("A-003") == []
        assert await _post(env, update, webhook_secret(env.cfg.secrets.secret_key)) == 200
        assert await env.history("A-003") == ["safe"]


async def test_duplicate_callback_counts_once(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        update = _press(env, "q-dup", callback_data("need_help", env.token("A-003")))
        secret = webhook_secret(env.cfg.secrets.secret_key)
        for _ in range(3):  # Telegram re-delivers an update it did not see acknowledged
            assert await _post(env, update, secret) == 200
        assert await env.history("A-003") == ["need_help"]
        await env.intake.idle()


async def test_an_english_households_button_pressed_after_the_grace_is_answered_in_english(tmp_path: Path) -> None:
    """Review: the button of a campaign that takes no more answers was told 「この安否確認は見つからないか…」
    in Japanese, though its token is an English household's (an unknown one is still told in the city's)."""
    async with running_app(tmp_path) as env:
        await env.send_alert("A-003", "telegram", str(CHAT), language="en")
        assert await env.store.campaigns.close(env.campaign_id, env.clock.now())
        await env.clock.advance(env.cfg.replies.token_grace_hours * 3600 + 1)
        assert (await env.sandbox.fake("telegram").press(CHAT, "safe")).status == 200
        acks = [r for r in env.sandbox.records if r.kind == "answer_callback"]
        assert len(acks) == 1 and acks[0].text == "This safety check cannot be found, or answers are no longer accepted."
        assert await env.history("A-003") == []


async def test_expired_or_unknown_token_in_a_button(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        result = await env.sandbox.fake("telegram").forged_press(CHAT, "safe", "q" * 22)
        assert result.status == 200
        acks = [r for r in env.sandbox.records if r.kind == "answer_callback"]
        # a button: the reply page's 「このリンクは無効か…」 has no link to point at in a chat (QA)
        assert len(acks) == 1 and acks[0].text == "この安否確認は見つからないか、受付を終了しました。"
        update = {"update_id": 3, "message": {"message_id": 1, "chat": {"id": CHAT, "type": "private"}, "text": "hi"}}
        assert await _post(env, update, webhook_secret(env.cfg.secrets.secret_key)) == 200


async def test_start_code_links_the_chat_to_the_household(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        code = await enrolment_code(env, "A-001")
        result = await env.sandbox.fake("telegram").start(7770001, code.lower().replace("-", " "))
        assert result.status == 200
        (household,) = await env.store.roster.households_by_contact(["telegram"], "7770001")
        assert household.id == env.hh("A-001").id
        (contact,) = [c for c in household.contacts if c.kind == "telegram"]
        assert contact.source == "enrolment"
        sent = env.sandbox.state.find("telegram", "7770001")
        assert sent is not None and "登録しました" in (sent.text or "")


async def test_start_with_a_wrong_code_links_nothing(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        await enrolment_code(env, "A-001")
        await env.sandbox.fake("telegram").start(7770002, "AAAA-BBBB-CCCC-DDDD")
        assert await env.store.roster.households_by_contact(["telegram"], "7770002") == []
        sent = env.sandbox.state.find("telegram", "7770002")
        assert sent is not None and "正しくありません" in (sent.text or "")


async def test_start_from_a_group_or_an_impossible_chat_enrols_nothing(tmp_path: Path) -> None:
    """A household's Telegram contact is a person's own chat: `/start CODE` said in a group (a
    negative id), a channel, or from a chat id no Telegram user has (2**63) links nothing; the
    code still works afterwards from a private chat."""
    async with running_app(tmp_path) as env:
        code = await enrolment_code(env, "A-001")
        secret = webhook_secret(env.cfg.secrets.secret_key)
        for chat in ({"id": -1001234567890, "type": "supergroup"}, {"id": -4242, "type": "group"},
                     {"id": 4242, "type": "channel"}, {"id": 2**63, "type": "private"}, {"id": -4242}):
            update = {"update_id": 9, "message": {"message_id": 1, "chat": chat, "from": {"id": 4242},
                                                  "text": f"/start@SafetyBot {code}"}}
            assert await _post(env, update, secret) == 200  # Telegram re-sends anything else for a day
            assert await env.store.roster.households_by_contact(["telegram"], str(chat["id"])) == []
        household = await env.store.roster.get_household(env.hh("A-001").id)
        assert household is not None and not any(c.kind == "telegram" for c in household.contacts)
        assert (await env.sandbox.fake("telegram").start(7770003, code)).status == 200
        assert len(await env.store.roster.households_by_contact(["telegram"], "7770003")) == 1


def _said(env: Env, chat: int) -> list[str]:
    """What the bot wrote into `chat`, oldest first."""
    return [r.text or "" for r in env.sandbox.messages("telegram") if r.address == str(chat)]


async def _enrolled_chat(env: Env, key: str, chat: int) -> None:
    assert (await env.sandbox.fake("telegram").start(chat, await enrolment_code(env, key))).status == 200


async def test_typed_keywords_answer_as_an_sms_or_a_line_text_does(tmp_path: Path) -> None:
    """QA: 「助けて 母が家具の下敷き」, 「2」 and 「無事です」 typed into the chat got 200 and nothing else:
    no reply stored, the household left `notified`, no word back. The same keywords as SMS and LINE."""
    async with running_app(tmp_path) as env:
        chat = 7770101
        await _enrolled_chat(env, "A-001", chat)
        fake = env.sandbox.fake("telegram")
        assert (await fake.say(chat, "助けて 母が家具の下敷き")).status == 200
        assert await env.status("A-001") == Status.NEED_HELP
        (entry,) = await env.store.replies.history(env.campaign_id, env.hh("A-001").id)
        assert (entry.status, entry.channel, entry.note) == ("need_help", "telegram", "助けて 母が家具の下敷き")
        assert "「助けが必要」と記録しました" in _said(env, chat)[-1] and "119" in _said(env, chat)[-1]
        await fake.say(chat, "無事です")
        assert await env.status("A-001") == Status.SAFE
        assert "記録しました" in _said(env, chat)[-1]
        await fake.say(chat, "２")
        assert await env.history("A-001") == ["need_help", "safe", "need_help"]
        await env.intake.idle()


async def test_other_text_is_a_note_answered_with_how_to_reply(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        chat = 7770102
        await _enrolled_chat(env, "A-001", chat)
        await env.sandbox.fake("telegram").say(chat, "いま避難所に向かっています")
        (entry,) = await env.store.replies.history(env.campaign_id, env.hh("A-001").id)
        assert (entry.status, entry.channel, entry.note) == ("note", "telegram", "いま避難所に向かっています")
        assert await env.status("A-001") == Status.PENDING
        assert _said(env, chat)[-1] == "安否確認: 無事なら「1」、助けが必要なら「2」と返信してください。"


async def test_a_redelivered_text_counts_once(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        update = {"update_id": 77, "message": {"message_id": 12, "chat": {"id": CHAT, "type": "private"},
                                               "from": {"id": CHAT}, "text": "2"}}
        secret = webhook_secret(env.cfg.secrets.secret_key)
        for _ in range(3):  # Telegram re-delivers an update it did not see acknowledged
            assert await _post(env, update, secret) == 200
        assert await env.history("A-003") == ["need_help"]
        await env.intake.idle()


async def test_a_text_from_an_unlinked_chat_is_told_as_line_tells_a_stranger(tmp_path: Path) -> None:
    """A chat no household has: nothing recorded, told that no check is running for it (as LINE and
    SMS tell an unknown sender); a wrong code typed alone is refused as at /start. A group's talk
    is neither answered nor kept."""
    async with running_app(tmp_path) as env:
        fake = env.sandbox.fake("telegram")
        assert (await fake.say(7770103, "2")).status == 200
        assert _said(env, 7770103) == ["現在、このアカウントへの安否確認は行われていません。"]  # a chat has no number
        await fake.say(7770103, "AAAA-BBBB-CCCC-DDDD")
        assert "正しくありません" in _said(env, 7770103)[-1]
        assert await env.store.roster.households_by_contact(["telegram"], "7770103") == []
        # the letter's code typed without /start links the chat, as a LINE text of it does
        await fake.say(7770103, await enrolment_code(env, "A-002"))
        assert "登録しました" in _said(env, 7770103)[-1]
        update = {"update_id": 78, "message": {"message_id": 1, "chat": {"id": -4242, "type": "group"},
                                               "from": {"id": CHAT}, "text": "2"}}
        assert await _post(env, update, webhook_secret(env.cfg.secrets.secret_key)) == 200
        assert _said(env, -4242) == []
        assert await env.history("A-003") == []


async def test_a_text_redelivered_after_an_event_began_is_not_the_events_answer(tmp_path: Path) -> None:
    """Review: Telegram redelivers every update our server did not acknowledge (for up to a day). A 「無事」
    written before the earthquake's event began, redelivered after it, was the event's answer. Telegram
    dates a message in whole seconds: one written in the second an event began still counts for it."""
    async with running_app(tmp_path) as env:
        chat = 7770103
        await _enrolled_chat(env, "A-001", chat)
        assert await env.store.campaigns.close(env.campaign_id, env.clock.now())  # the drill is over
        written = env.clock.now()
        await env.clock.advance(300)
        event = await start_campaign(env, CampaignKind.REAL, title="地震 M7")
        fake = env.sandbox.fake("telegram")
        await fake.say(chat, "無事です", sent_at=written)
        assert await env.status("A-001", event) == Status.PENDING
        # kept for the staff, and the resident asked to answer the question now asked
        assert [h.status for h in await env.store.replies.history(event, env.hh("A-001").id)] == ["note"]
        assert _said(env, chat)[-1] == "安否確認: 無事なら「1」、助けが必要なら「2」と返信してください。"
        await fake.say(chat, "無事です", sent_at=env.clock.now() - 0.5)  # the same second as the start
        assert await env.status("A-001", event) == Status.SAFE
        await env.intake.idle()


async def test_a_call_for_help_delivered_late_is_the_running_events_all_the_same(tmp_path: Path) -> None:
    """Review: the first cut held back every late text, so a 「助けて」 written before the event began and
    delivered after it was dropped, and the resident told no safety check was running. A call for help
    is taken whenever it was written, as on every channel: a false alarm is cheaper than a missed one."""
    async with running_app(tmp_path) as env:
        chat = 7770104
        await _enrolled_chat(env, "A-001", chat)
        assert await env.store.campaigns.close(env.campaign_id, env.clock.now())
        written = env.clock.now()
        await env.clock.advance(300)
        event = await start_campaign(env, CampaignKind.REAL, title="地震 M7")
        await env.sandbox.fake("telegram").say(chat, "助けて 家具の下敷き", sent_at=written)
        assert await env.status("A-001", event) == Status.NEED_HELP
        await env.intake.idle()

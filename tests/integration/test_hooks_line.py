"""LINE webhook: X-Line-Signature, postback answers (once per webhook event id), enrolment by a
follow and a code, unfollow — through the app, the sandbox's LINE fake and the real SDK sender."""

from __future__ import annotations

import json
from pathlib import Path

from replies_fixtures import ASSOC_A, Env, add_staff, enrolment_code, running_app, start_campaign
from roster_helpers import SECRET_KEY

from safetynet.channels.line.events import SIGNATURE_HEADER, postback_data, signature
from safetynet.channels.line.sandbox import event
from safetynet.domain import CampaignKind, Role, Status
from safetynet.replies import texts
from safetynet.store import StoreUnavailable

USER = "U" + "a1" * 16
SECRET = "sandbox-line-channel-secret"  # the sandbox value, used while LINE talks to the sandbox


async def _post(env: Env, events: list[dict[str, object]], sig: str | None, body: bytes | None = None) -> int:
    raw = body if body is not None else json.dumps({"destination": "U0", "events": events}).encode()
    headers = {"Content-Type": "application/json"}
    if sig is not None:
        headers[SIGNATURE_HEADER] = sig
    async with env.http.post(env.url + "/hooks/line", data=raw, headers=headers) as resp:
        return resp.status


async def _enrol(env: Env, key: str, user: str = USER) -> None:
    fake = env.sandbox.fake("line")
    assert (await fake.follow(user)).status == 200
    code = await enrolment_code(env, key)
    assert (await fake.say(user, code)).status == 200


def _replies(env: Env) -> list[str]:
    return [r.text or "" for r in env.sandbox.records if r.channel == "line" and r.kind == "reply"]


async def test_follow_then_code_links_the_user_and_a_postback_answers(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        await _enrol(env, "A-001")
        (household,) = await env.store.roster.households_by_contact(["line"], USER)
        assert household.id == env.hh("A-001").id
        (contact,) = [c for c in household.contacts if c.kind == "line"]
        assert contact.source == "enrolment" and contact.working
        follow, done = _replies(env)
        assert "登録コード" in follow and "登録しました" in done
        # the alert by the real sender, its button pressed by the resident
        await env.send_alert("A-001", "line", USER)
        assert (await env.sandbox.fake("line").press(USER, "need_help")).status == 200
        assert await env.status("A-001") == Status.NEED_HELP
        assert "助け" in _replies(env)[-1] and "119番" in _replies(env)[-1] and "終了した" not in _replies(env)[-1]
        await env.intake.idle()


async def test_a_button_of_an_ended_campaign_says_the_running_one_took_the_answer(tmp_path: Path) -> None:
    """The drill's message kept in the chat, pressed after the drill closed and a real event began: the
    answer goes to the event (as the drill's reply link would), and the reply says so, as the reply
    page, Telegram and the call do (channel.moved): it said only 「記録しました」, as if the drill had taken it."""
    async with running_app(tmp_path) as env:
        await _enrol(env, "A-001")
        drill = env.campaign_id
        await env.send_alert("A-001", "line", USER)
        assert await env.store.campaigns.close(drill, env.clock.now())
        await env.clock.advance(600)
        event = await start_campaign(env, CampaignKind.REAL, title="地震 M7")
        assert (await env.sandbox.fake("line").press(USER, "need_help")).status == 200
        assert await env.status("A-001", event) == Status.NEED_HELP
        assert await env.status("A-001", drill) == Status.PENDING
        reply = _replies(env)[-1]
        assert "119番" in reply  # the recorded answer as ever, then where it went
        assert reply.endswith("\n押したボタンは、終了した「地震 安否確認」のものでした。"
                              "この回答は、いま行われている「地震 M7」の回答として記録しました。")
        await env.intake.idle()


async def test_forged_or_missing_signature_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        await _enrol(env, "A-002")
        ev = event(USER, "postback", "01FORGED", postback={"data": postback_data(env.campaign_id, "safe")})
        body = json.dumps({"destination": "U0", "events": [ev]}).encode()
        assert await _post(env, [], None, body) == 403
        assert await _post(env, [], signature("not-the-secret", body), body) == 403
        assert await _post(env, [], signature(SECRET, body + b" "), body) == 403
        forged = await env.sandbox.fake("line").post_events([ev], secret="forged")
        assert forged.status == 403
        assert await env.history("A-002") == []
        # an unfollow with a forged signature marks nothing dead
        gone = event(USER, "unfollow", with_reply=False)
        gone_body = json.dumps({"destination": "U0", "events": [gone]}).encode()
        assert await _post(env, [], signature("x", gone_body), gone_body) == 403
        (household,) = await env.store.roster.households_by_contact(["line"], USER)
        assert all(c.working for c in household.contacts)
        # the genuine request is taken
        assert await _post(env, [], signature(SECRET, body), body) == 200
        assert await env.history("A-002") == ["safe"]
        await env.intake.idle()


async def test_duplicate_deliveries_count_once(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        await _enrol(env, "A-002")
        ev = event(USER, "postback", "01DUPLICATE", postback={"data": postback_data(env.campaign_id, "need_help")})
        body = json.dumps({"destination": "U0", "events": [ev]}).encode()
        for _ in range(3):  # LINE redelivers what it did not see acknowledged
            assert await _post(env, [], signature(SECRET, body), body) == 200
        redelivered = dict(ev, deliveryContext={"isRedelivery": True})
        assert await _post(env, [redelivered], signature(SECRET, json.dumps(
            {"destination": "U0", "events": [redelivered]}).encode())) == 200
        assert await env.history("A-002") == ["need_help"]
        await env.intake.idle()


async def test_unfollow_marks_the_contact_dead(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        await _enrol(env, "A-001")
        assert (await env.sandbox.fake("line").unfollow(USER)).status == 200
        (household,) = await env.store.roster.households_by_contact(["line"], USER)
        assert [c.working for c in household.contacts if c.kind == "line"] == [False]


async def test_a_resident_who_unblocks_the_account_is_reached_and_heard_again(tmp_path: Path) -> None:
    """Review: a resident who had blocked the account (its contact dead) unblocked it on the night and
    pressed 助けが必要 on the alert in the chat: 「この安否確認は見つからないか…」, nothing recorded."""
    async with running_app(tmp_path) as env:
        await _enrol(env, "A-001")
        fake = env.sandbox.fake("line")
        assert (await fake.unfollow(USER)).status == 200
        assert (await fake.follow(USER, unblocked=True)).status == 200
        assert _replies(env)[-1] == "おかえりなさい。安否確認のお知らせを、またこのトークでお届けします。"
        (household,) = await env.store.roster.households_by_contact(["line"], USER)
        assert [c.working for c in household.contacts if c.kind == "line"] == [True]
        ev = event(USER, "postback", postback={"data": postback_data(env.campaign_id, "need_help")})
        assert (await fake.post_events([ev])).status == 200
        assert await env.history("A-001") == ["need_help"]
        # a new friend (no contact left dead by a block) is asked for the letter's code, as before
        stranger = "U" + "e" * 32
        assert (await fake.follow(stranger)).status == 200
        assert "登録コード" in _replies(env)[-1]
        await env.intake.idle()


async def test_an_english_household_unblocking_the_account_is_welcomed_back_in_english(tmp_path: Path) -> None:
    """Review: the welcome back was said in the city's language, Japanese, to a household known to read
    English (its contact's household says so)."""
    async with running_app(tmp_path) as env:
        await _enrol(env, "A-003")
        fake = env.sandbox.fake("line")
        assert (await fake.unfollow(USER)).status == 200
        assert (await fake.follow(USER, unblocked=True)).status == 200
        assert _replies(env)[-1] == texts.t("en", "line.follow_again")


async def test_an_english_households_button_pressed_after_the_grace_is_answered_in_english(tmp_path: Path) -> None:
    """Review: an old alert's button pressed once its campaign took no more answers was told
    「この安否確認は見つからないか…」 in Japanese, though the LINE account is an English household's."""
    async with running_app(tmp_path) as env:
        await _enrol(env, "A-003")
        await env.send_alert("A-003", "line", USER, language="en")
        assert await env.store.campaigns.close(env.campaign_id, env.clock.now())
        await env.clock.advance(env.cfg.replies.token_grace_hours * 3600 + 1)
        assert (await env.sandbox.fake("line").press(USER, "safe")).status == 200
        assert _replies(env)[-1] == texts.t("en", "reply.not_found_here")
        assert await env.history("A-003") == []


async def test_an_account_households_of_two_languages_share_is_answered_in_the_firsts(tmp_path: Path) -> None:
    """One LINE account for an English household and a Japanese one (A-003 before A-004): told in the
    first's language, as an answer for several households is; not in the city's."""
    async with running_app(tmp_path) as env:
        await _enrol(env, "A-003")
        await _enrol(env, "A-004")
        assert [h.household_key for h in await env.store.roster.households_by_contact(["line"], USER)] == [
            "A-003", "A-004"]
        await env.send_alert("A-004", "line", USER)
        assert await env.store.campaigns.close(env.campaign_id, env.clock.now())
        await env.clock.advance(env.cfg.replies.token_grace_hours * 3600 + 1)
        assert (await env.sandbox.fake("line").press(USER, "need_help")).status == 200
        assert _replies(env)[-1] == texts.t("en", "reply.not_found_here")


async def test_an_event_that_fails_does_not_drop_the_others_in_its_body(tmp_path: Path) -> None:
    """Review: LINE batches events; one that raised (the store busy a moment) made the whole body a 500
    and every event after it was dropped, another resident's call for help among them. Each is handled
    on its own; the body is a 503 for LINE to redeliver, and the redelivery counts the rest once."""
    async with running_app(tmp_path) as env:
        await _enrol(env, "A-002")
        gone = "U" + "d" * 32
        roster = env.store.roster
        real = roster.mark_contacts_dead

        async def busy(kind: str, address: str, reason: str) -> int:
            raise StoreUnavailable("database is locked")

        roster.mark_contacts_dead = busy  # type: ignore[method-assign]
        events = [event(gone, "unfollow", "01UNFOLLOW"),
                  event(USER, "postback", "01HELP", postback={"data": postback_data(env.campaign_id, "need_help")})]
        assert await _post(env, events, signature(SECRET, json.dumps({"destination": "U0", "events": events}).encode())) == 503
        assert await env.history("A-002") == ["need_help"]
        roster.mark_contacts_dead = real  # type: ignore[method-assign]
        again = [dict(ev, deliveryContext={"isRedelivery": True}) for ev in events]
        assert await _post(env, again, signature(SECRET, json.dumps({"destination": "U0", "events": again}).encode())) == 200
        assert await env.history("A-002") == ["need_help"]
        await env.intake.idle()


async def test_unknown_user_wrong_code_and_malformed_body(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        fake = env.sandbox.fake("line")
        stranger = "U" + "f" * 32
        assert (await fake.say(stranger, "AAAA-BBBB-CCCC-DDDD")).status == 200
        assert await env.store.roster.households_by_contact(["line"], stranger) == []
        assert "正しくありません" in _replies(env)[-1]
        # a postback of someone who is no household's contact records nothing
        ev = event(stranger, "postback", postback={"data": postback_data(env.campaign_id, "safe")})
        assert (await fake.post_events([ev])).status == 200
        assert _replies(env)[-1] == "この安否確認は見つからないか、受付を終了しました。"  # no 「このリンク」 in a chat
        body = b"not json"
        assert await _post(env, [], signature(SECRET, body), body) == 400


async def test_a_request_to_stop_is_told_how_and_kept_for_the_staff(tmp_path: Path) -> None:
    """QA: 配信停止 sent over LINE was kept as a note and answered with the 1/2 prompt."""
    async with running_app(tmp_path) as env:
        await _enrol(env, "A-001")
        assert (await env.sandbox.fake("line").say(USER, "配信停止")).status == 200
        assert "ここからは止められません" in _replies(env)[-1]
        (entry,) = await env.store.replies.history(env.campaign_id, env.hh("A-001").id)
        assert (entry.status, entry.channel, entry.note) == ("note", "line", "配信停止")


async def test_a_chat_is_told_of_its_account_not_of_a_number(tmp_path: Path) -> None:
    """QA: a LINE chat was told 「この番号」, of a phone number the resident never gave (SMS keeps it)."""
    async with running_app(tmp_path) as env:
        fake = env.sandbox.fake("line")
        assert (await fake.say("U" + "f" * 32, "1")).status == 200
        assert _replies(env)[-1] == "現在、このアカウントへの安否確認は行われていません。"
        # one account on two households (a son on his mother's too): "safe" is asked per household
        await _enrol(env, "A-001")
        await _enrol(env, "A-002")
        assert (await fake.say(USER, "1")).status == 200
        lines = _replies(env)[-1].split("\n")
        assert lines[0] == "このアカウントは複数の世帯に登録されています。各世帯のリンクから回答してください。"
        assert sum("/r/" in line for line in lines) == 2
        assert await env.status("A-001") == Status.PENDING and await env.status("A-002") == Status.PENDING
        await env.intake.idle()


async def test_a_need_help_answer_alerts_a_head_over_line_with_the_dashboard_link(tmp_path: Path) -> None:
    head = "U" + "b2" * 16
    async with running_app(tmp_path) as env:
        await add_staff(env, "head-a", Role.ASSOCIATION_HEAD, ASSOC_A, line=head)
        await _enrol(env, "A-002")
        await env.send_alert("A-002", "line", USER)
        assert (await env.sandbox.fake("line").press(USER, "need_help")).status == 200
        await env.dispatch()  # the alert is queued in the outbox; the dispatcher sends it
        alert = env.sandbox.state.find("line", head)
        assert alert is not None and alert.data["postbacks"] == []  # a staff alert has no answer buttons
        assert f"/a/{env.hh('A-002').association_id}?campaign={env.campaign_id}" in (alert.text or "")


async def test_a_real_deployment_never_takes_the_sandbox_secret(tmp_path: Path) -> None:
    """With LINE's real API the secrets must be set (no start without them), and the public sandbox
    secret then signs nothing."""
    import pytest
    from channel_helpers import write_config

    from safetynet.channels.base import WebhookRefused, WebhookRequest
    from safetynet.channels.line.webhook import routes
    from safetynet.config import ConfigError, channel_context, load_config

    real = {"SAFETYNET_SECRET_KEY": SECRET_KEY, "SAFETYNET_CHANNELS_LINE_API_BASE_URL": "https://api.line.me"}
    with pytest.raises(ConfigError):
        load_config(write_config(tmp_path), env=real)
    cfg = load_config(write_config(tmp_path), env={**real, "SAFETYNET_LINE_CHANNEL_ACCESS_TOKEN": "t" * 40,
                                                    "SAFETYNET_LINE_CHANNEL_SECRET": "s" * 32})
    ctx = channel_context(cfg, "line")
    body = json.dumps({"destination": "U0", "events": []}).encode()

    async def read() -> bytes:
        return body

    async def nothing() -> object:
        raise AssertionError("not read")

    req = WebhookRequest("POST", "/hooks/line", {}, {SIGNATURE_HEADER: signature(SECRET, body)},
                         "https://x.jp/hooks/line", read, nothing, nothing)  # type: ignore[arg-type]
    (route,) = routes(ctx, None, None)  # type: ignore[arg-type]
    try:
        await route.handle(req)
    except WebhookRefused as e:
        assert e.status == 403
    else:
        raise AssertionError("a body signed with the sandbox secret was taken")


async def test_a_text_delivered_late_answers_no_campaign_begun_after_it_was_sent(tmp_path: Path) -> None:
    """Review: LINE redelivers a webhook our server did not take (a restart, an overload: the night of an
    earthquake). A 「無事」 written for the drill before the earthquake, delivered after the real event
    began, was recorded as safe in the event: a household nobody heard from since, off the door-knock
    list. The event's `timestamp` says when it was sent: a campaign begun after it does not take it."""
    async with running_app(tmp_path) as env:
        await _enrol(env, "A-001")
        drill = env.campaign_id
        written = env.clock.now()
        await env.clock.advance(600)
        event = await start_campaign(env, CampaignKind.REAL, title="地震 M7")
        fake = env.sandbox.fake("line")
        assert (await fake.say(USER, "1", sent_at=written)).status == 200
        assert await env.status("A-001", event) == Status.PENDING
        assert await env.status("A-001", drill) == Status.SAFE  # the drill's question it answered
        # written after the event began: the event's
        assert (await fake.say(USER, "2", sent_at=env.clock.now())).status == 200
        assert await env.status("A-001", event) == Status.NEED_HELP
        await env.intake.idle()


async def test_a_closed_drills_button_pressed_before_the_event_began_hands_on_only_a_call_for_help(
        tmp_path: Path) -> None:
    """Review: the button of a closed drill hands its answer on to the running event (as its link would),
    but a 無事 pressed before the event began and delivered late is no answer to it; 助けて is, whenever."""
    async with running_app(tmp_path) as env:
        await _enrol(env, "A-001")
        drill = env.campaign_id
        await env.send_alert("A-001", "line", USER)
        assert await env.store.campaigns.close(drill, env.clock.now())
        pressed = env.clock.now()
        await env.clock.advance(600)
        event = await start_campaign(env, CampaignKind.REAL, title="地震 M7")
        fake = env.sandbox.fake("line")
        assert (await fake.press(USER, "safe", sent_at=pressed)).status == 200
        assert await env.status("A-001", event) == Status.PENDING
        # not lost either (review: the button said only 「見つからない」): a note for the staff, and asked again
        notes = [h.note for h in await env.store.replies.history(event, env.hh("A-001").id)]
        assert notes == [texts.t("ja", "staff.note.safe_pressed_before")]
        assert _replies(env)[-1] == texts.t("ja", "sms.help")
        assert (await fake.press(USER, "need_help", sent_at=pressed)).status == 200
        assert await env.status("A-001", event) == Status.NEED_HELP
        await env.intake.idle()


async def test_a_closed_real_events_button_pressed_while_a_drill_runs_leaves_no_note_on_the_drill(
        tmp_path: Path) -> None:
    """Review of the late-button note: a closed real event's 無事 button (which never hands on to a drill),
    pressed while a drill that began before it runs, is not late: it is said not to be found, as before,
    and leaves no "pressed before this campaign began" note on the drill's household."""
    async with running_app(tmp_path) as env:
        await _enrol(env, "A-001")
        drill = env.campaign_id
        await env.clock.advance(60)
        event = await start_campaign(env, CampaignKind.REAL, title="地震 M7")
        env.campaign_id = event
        await env.send_alert("A-001", "line", USER)
        assert await env.store.campaigns.close(event, env.clock.now())
        await env.clock.advance(60)
        assert (await env.sandbox.fake("line").press(USER, "safe", sent_at=env.clock.now())).status == 200
        assert await env.status("A-001", drill) == Status.PENDING
        assert await env.store.replies.history(drill, env.hh("A-001").id) == []
        assert _replies(env)[-1] == texts.t("ja", "reply.not_found_here")
        await env.intake.idle()


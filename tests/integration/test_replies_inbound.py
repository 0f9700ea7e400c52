"""The InboundPort as the channels' webhooks use it (`replies/inbound.py`), beyond what the SMS, voice
and Telegram hook tests exercise: answers identified by the sender's address (a LINE postback of a
multicast), a resident leaving a bot, and an enrolment code sent as a text message."""

from __future__ import annotations

from pathlib import Path

from replies_fixtures import ASSOC_A, Env, enrolment_code, running_app, seed, start_campaign

from safetynet.channels.base import ContactsBack
from safetynet.domain import CampaignKind
from safetynet.replies import texts
from safetynet.replies.inbound import LINKS_PER_MINUTE, Inbound

SHARED = "+819011110001"
CHAT_A003 = "5550003"


def port(env: Env) -> Inbound:
    return Inbound(env.intake, env.store, env.cfg, env.clock)


async def test_an_answer_by_address_records_for_its_households_once(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        p = port(env)
        ack = await p.answer_from("telegram", CHAT_A003, env.campaign_id, "need_help", "telegram", "pb:1")
        assert (ack.found, ack.recorded, ack.language) == (True, True, "en")
        again = await p.answer_from("telegram", CHAT_A003, env.campaign_id, "need_help", "telegram", "pb:1")
        assert (again.found, again.recorded) == (True, False)  # the provider's retry: taken once
        assert await env.history("A-003") == ["need_help"]
        await env.intake.idle()


async def test_safe_from_an_address_several_households_share_asks_each_and_help_reaches_all(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        p = port(env)
        safe = await p.answer_from("mobile", SHARED, env.campaign_id, "safe", "sms", "pb:2")
        assert safe.found and not safe.recorded
        assert env.reply_url("A-001") in safe.notice and env.reply_url("A-004") in safe.notice
        assert await env.status("A-001") != "safe" and await env.status("A-004") != "safe"
        help_ = await p.answer_from("mobile", SHARED, env.campaign_id, "need_help", "sms", "pb:3")
        assert help_.recorded and not help_.notice
        assert await env.status("A-001") == await env.status("A-004") == "need_help"
        await env.intake.idle()


async def test_an_answer_by_an_unknown_address_or_for_another_campaign_records_nothing(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        p = port(env)
        # nobody's address: told in the city's language
        ack = await p.answer_from("telegram", "999", env.campaign_id, "safe", "telegram", "pb:999")
        assert (ack.found, ack.recorded, ack.language) == (False, False, "ja")
        assert ack.notice == "この安否確認は見つからないか、受付を終了しました。"
        # an English household's, for a campaign that has none of its: in English (review: in Japanese)
        ack = await p.answer_from("telegram", CHAT_A003, 999, "safe", "telegram", "pb:A-003:999")
        assert (ack.found, ack.recorded, ack.language) == (False, False, "en")
        assert ack.notice == texts.t("en", "reply.not_found_here")
        assert await env.history("A-003") == []


async def test_a_token_past_its_grace_and_a_bot_followed_again_speak_the_households_language(tmp_path: Path) -> None:
    """Review: what a known household is told when nothing is taken (an old button's token, a note by
    it) or when it comes back to a bot was said in Japanese whatever its language; a token or an
    address that is nobody's still gets the city's."""
    async with running_app(tmp_path) as env:
        p = port(env)
        assert await env.store.campaigns.close(env.campaign_id, env.clock.now())
        await env.clock.advance(env.cfg.replies.token_grace_hours * 3600 + 1)
        for ack in (await p.answer(env.token("A-003"), "safe", "telegram", "tg:old"),
                    await p.note(env.token("A-003"), "hello", "telegram", "tg:old-note")):
            assert (ack.found, ack.recorded, ack.language) == (False, False, "en")
            assert ack.notice == texts.t("en", "reply.not_found_here")
        forged = await p.answer("q" * 22, "safe", "telegram", "tg:forged")
        assert (forged.language, forged.notice) == ("ja", texts.t("ja", "reply.not_found_here"))
        assert await p.contact_gone("telegram", CHAT_A003, "unfollowed") == 1
        assert await p.contact_back("telegram", CHAT_A003, "unfollowed") == ContactsBack(1, "en")
        assert await p.contact_back("telegram", "999", "unfollowed") == ContactsBack(0, "ja")


async def test_a_resident_leaving_a_bot_marks_the_contact_dead(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        assert await port(env).contact_gone("telegram", CHAT_A003, "unfollowed") == 1
        household = await env.store.roster.get_household(env.hh("A-003").id)
        assert household is not None
        assert {c.kind: c.working for c in household.contacts} == {"mobile": True, "telegram": False}
        assert await port(env).contact_gone("telegram", CHAT_A003, "unfollowed") == 0


async def test_an_enrolment_code_sent_as_a_message_links_the_sender(tmp_path: Path) -> None:
    """What a LINE-like channel's webhook does with a text message: the port tells a code from an answer."""
    async with running_app(tmp_path) as env:
        code = await enrolment_code(env, "B-001")
        p = port(env)
        text = await p.text_message("telegram", ["telegram"], "7770009", f" {code.lower()} ", "m1")
        assert "登録しました" in text
        (found,) = await env.store.roster.households_by_contact(["telegram"], "7770009")
        assert found.id == env.hh("B-001").id
        wrong = await p.text_message("telegram", ["telegram"], "7770010", "AAAA-BBBB-CCCC-DDDD", "m2")
        assert "正しくありません" in wrong
        # a keyword from the linked chat is an answer for its household
        assert "記録しました" in await p.text_message("telegram", ["telegram"], "7770009", "1", "m3")
        assert await env.status("B-001") == "safe"
        await env.intake.idle()


async def test_enrolment_codes_from_one_address_are_limited(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        p = port(env)
        answers = [await p.link("AAAA-BBBB-CCCC-DDDD", "telegram", "7770011") for _ in range(LINKS_PER_MINUTE + 1)]
        assert "正しくありません" in answers[0] and "試行が多すぎます" in answers[-1]
        code = await enrolment_code(env, "B-001")
        assert "試行が多すぎます" in await p.link(code, "telegram", "7770011")  # even a right one, for a minute
        await env.clock.advance(61)
        assert "登録しました" in await p.link(code, "telegram", "7770011")


async def test_a_closed_campaigns_button_answers_the_households_running_campaign(tmp_path: Path) -> None:
    """A LINE postback of the drill's multicast, pressed after the drill closed and a real event began:
    the event takes it, as a closed campaign's reply link hands its answer on (QA: the answer was lost)."""
    async with running_app(tmp_path, SAFETYNET_REPLIES_TOKEN_GRACE_HOURS="2") as env:
        p = port(env)
        drill = env.campaign_id
        assert await env.store.campaigns.close(drill, env.clock.now())
        lone = await p.answer_from("telegram", CHAT_A003, drill, "need_help", "telegram", "pb:none")
        assert (lone.found, lone.recorded) == (False, False)  # nothing running: as before
        event = await start_campaign(env, CampaignKind.REAL, title="地震")
        ack = await p.answer_from("telegram", CHAT_A003, drill, "need_help", "telegram", "pb:old")
        assert (ack.found, ack.recorded) == (True, True)
        assert await env.status("A-003", event) == "need_help" and await env.history("A-003") == []
        assert (ack.moved_from, ack.moved_to) == ("地震 安否確認", "地震")  # for the resident to be told
        await env.clock.advance(3 * 3600)  # past the drill's grace: its buttons lead nowhere
        late = await p.answer_from("telegram", CHAT_A003, drill, "safe", "telegram", "pb:late")
        assert (late.found, late.recorded) == (False, False)
        assert await env.status("A-003", event) == "need_help"
        await env.intake.idle()


async def test_a_closed_campaigns_button_on_a_shared_phone_names_each_campaign_that_took_it(tmp_path: Path) -> None:
    """A phone A-001 and A-004 share, the city's drill closed, a campaign running for each one's 班:
    助けが必要 is taken for both, each in its own running campaign, and both are named; 無事 is not
    taken (a link per household instead), so nothing is said to have moved."""
    async with running_app(tmp_path, SAFETYNET_REPLIES_TOKEN_GRACE_HOURS="2") as env:
        p = port(env)
        drill = env.campaign_id
        assert await env.store.campaigns.close(drill, env.clock.now())
        first = await start_campaign(env, CampaignKind.REAL, scope=(f"group:{ASSOC_A}/1班",), title="地震 1班")
        await env.clock.advance(60)
        second = await start_campaign(env, CampaignKind.REAL, scope=(f"group:{ASSOC_A}/2班",), title="地震 2班")
        safe = await p.answer_from("mobile", SHARED, drill, "safe", "sms", "pb:safe")
        assert (safe.recorded, safe.moved_to) == (False, "") and safe.notice
        ack = await p.answer_from("mobile", SHARED, drill, "need_help", "sms", "pb:help")
        assert ack.recorded and await env.status("A-001", first) == await env.status("A-004", second) == "need_help"
        assert ack.moved_from == "地震 安否確認"
        assert sorted(ack.moved_to.split(" / ")) == ["地震 1班", "地震 2班"]
        await env.intake.idle()


async def test_a_cancelled_campaigns_button_is_not_handed_on(tmp_path: Path) -> None:
    """A cancelled campaign's buttons keep to it, as its reply link does (`domain.replies.hands_on`):
    within its grace, another campaign running, the press answers neither."""
    async with running_app(tmp_path, SAFETYNET_REPLIES_TOKEN_GRACE_HOURS="2") as env:
        cancelled = env.campaign_id
        assert await env.store.campaigns.cancel(cancelled, env.clock.now())
        event = await start_campaign(env, CampaignKind.REAL, title="地震")
        ack = await port(env).answer_from("telegram", CHAT_A003, cancelled, "need_help", "telegram", "pb:c")
        assert (ack.found, ack.recorded) == (False, False)
        assert await env.status("A-003", event) != "need_help"
        await env.intake.idle()


async def test_a_closed_real_events_button_never_answers_a_drill(tmp_path: Path) -> None:
    """Review: the buttons' fallback took the address's running campaign by its own order, so a late
    助けが必要 to a closed real event went to a drill (the head's alert then withheld name and address)."""
    async with running_app(tmp_path, seeded=False, SAFETYNET_REPLIES_TOKEN_GRACE_HOURS="2") as env:
        await seed(env, CampaignKind.REAL)
        event = env.campaign_id
        assert await env.store.campaigns.close(event, env.clock.now())
        drill = await start_campaign(env, CampaignKind.DRILL, title="訓練")
        ack = await port(env).answer_from("telegram", CHAT_A003, event, "need_help", "telegram", "pb:x")
        assert (ack.found, ack.recorded) == (False, False)  # as a closed campaign's button with none running
        assert await env.status("A-003", drill) != "need_help"
        await env.intake.idle()


async def test_a_closed_campaigns_button_answers_only_for_the_households_it_asked(tmp_path: Path) -> None:
    """Review: on a phone two households share, the drill of 1班 (A-001) closed and a real event of 2班
    (A-004) running, the drill's 助けが必要 button marked A-004 in the event and lost A-001's answer."""
    async with running_app(tmp_path, seeded=False, SAFETYNET_REPLIES_TOKEN_GRACE_HOURS="2") as env:
        await seed(env)
        assert await env.store.campaigns.close(env.campaign_id, env.clock.now())
        drill = await start_campaign(env, CampaignKind.DRILL, scope=(f"group:{ASSOC_A}/1班",), title="班訓練")
        assert await env.store.campaigns.close(drill, env.clock.now())
        event = await start_campaign(env, CampaignKind.REAL, scope=(f"group:{ASSOC_A}/2班",), title="地震")
        ack = await port(env).answer_from("mobile", SHARED, drill, "need_help", "sms", "pb:y")
        assert ack.recorded is False
        assert await env.status("A-004", event) != "need_help"
        await env.intake.idle()

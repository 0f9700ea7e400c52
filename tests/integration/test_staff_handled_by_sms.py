"""A head or deputy on a feature phone marks a help request 対応済み by texting back to the SMS alert.

QA (a head and her three deputies, the night of an earthquake): a deputy whose alerts come by SMS walked
to the household, and could not record 対応済み: the alert sent her to a page her phone cannot open, her
reply was answered with the same page, the head's dashboard kept the request open and the district's
heads were told of an unhandled call for help. The texts go through the sandbox's SMS over loopback
(the real twilio client, the signed webhook), as test_hooks_sms; both stores.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from replies_fixtures import ASSOC_A, ASSOC_B, Env, add_staff, add_staff_over, records, running_app, seed
from roster_helpers import household

from safetynet.domain import Role
from safetynet.domain.replies import ReplyEvent
from safetynet.domain.roster import Staff
from safetynet.replies.escalate import HelpEscalation
from safetynet.replies.notify import StaffNotifier

DEPUTY = "+819088880002"


def _said(body: str) -> str:
    """The text of the TwiML answer's message."""
    m = re.search(r"<Message>(.*)</Message>", body, re.S)
    assert m is not None, body
    return html.unescape(m.group(1))


async def _text(env: Env, from_: str, body: str) -> str:
    return _said((await env.sandbox.fake("sms").reply(from_, body)).body)


async def _help(env: Env, key: str) -> None:
    """The household texts 「2」 (need help) from its own mobile."""
    phone = next(c.address for c in env.hh(key).contacts if c.kind == "mobile")
    await env.sandbox.fake("sms").reply(phone, f"2 {key} けがをしました")


async def _open(env: Env) -> set[str]:
    return {r.household_key for r in await env.store.replies.help_list(env.campaign_id)}


async def test_a_deputy_marks_a_request_handled_by_its_number(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        deputy = await add_staff(env, "deputy-a", Role.DEPUTY, ASSOC_A, phone=DEPUTY)
        await add_staff(env, "head-a", Role.ASSOCIATION_HEAD, ASSOC_A, telegram="8880001")
        await _help(env, "A-002")
        await _help(env, "A-003")
        await env.dispatch()
        # her SMS alert says how to reply, with the number; the head's Telegram alert keeps the page
        texts = [r.text for r in env.staff_messages("sms")]
        assert len(texts) == 2
        a002 = next(t for t in texts if "佐藤 花子" in t)
        assert a002.split("\n")[-1].startswith("対応したら「対応済み A-002」と返信（またはこちらで）: http")
        assert all(r.text.split("\n")[-1].startswith("対応したら「対応済み」に: http")
                   for r in env.staff_messages("telegram"))
        events: list[ReplyEvent] = []
        env.store.replies.add_listener(events.append)

        # full-width, as a feature phone types it
        said = await _text(env, DEPUTY, "対応済み　Ａ－００２")
        assert said == "世帯番号 A-002を「対応済み」にしました。\n未対応 1件: 世帯番号 A-003"
        assert await _open(env) == {"A-003"}
        [row] = [r for r in await env.store.replies.help_list(env.campaign_id, include_handled=True)
                 if r.household_key == "A-002"]
        assert row.handled_at is not None and row.handled_by == "deputy-a"  # as the dashboard's 対応済み list shows
        association = env.hh("A-002").association_id
        assert any((env.campaign_id, association) in e.help_changed for e in events)  # the live dashboards
        [entry] = [e for e in await env.store.audit.entries() if e.action == "handled"]
        assert (entry.actor, entry.staff_id, entry.what, entry.detail) == ("deputy-a", deputy.id, "help", "sms")
        assert (entry.campaign_id, entry.household_id) == (env.campaign_id, env.hh("A-002").id)

        # a second deputy's text after hers: it was marked already, nothing changes
        await add_staff(env, "deputy-a2", Role.DEPUTY, ASSOC_A, phone="+819088880003")
        await env.clock.advance(1)  # (a new member's number is read again a second after the last read)
        said = await _text(env, "+819088880003", "A-002 対応済み")
        assert said.startswith("世帯番号 A-002はすでに「対応済み」です。")
        assert len([e for e in await env.store.audit.entries() if e.action == "handled"]) == 1
        # 「対応済み」 with more words is no mark: after the number, told the form; in a sentence, no staff text
        said = await _text(env, DEPUTY, "対応済み A-003 まだ")
        assert said.startswith("記録していません。「対応済み A-003」のように") and await _open(env) == {"A-003"}
        said = await _text(env, DEPUTY, "A-003 まだ対応済みにしないで")
        assert "世帯の回答としては記録していません" in said and await _open(env) == {"A-003"}
        await env.intake.idle()


async def test_plain_handled_marks_nothing_and_asks_which_even_with_one_open(tmp_path: Path) -> None:
    """Review: with one request open, 「対応済み」 alone marked it. The head marked A-002 on the page, A-003
    came in, the deputy back from A-002 texted 「対応済み」: A-003, never visited, was marked and never
    escalated. The number is needed always; the answer lists the open ones and the form."""
    async with running_app(tmp_path) as env:
        await add_staff(env, "deputy-a", Role.DEPUTY, ASSOC_A, phone=DEPUTY)
        await _help(env, "A-002")
        await _help(env, "A-003")
        said = await _text(env, DEPUTY, "対応済み")
        assert said == ("どの世帯か、「対応済み A-002」のように世帯番号をつけて返信してください。\n"
                        "未対応 2件: 世帯番号 A-002、世帯番号 A-003")
        assert await _open(env) == {"A-002", "A-003"}  # nothing marked
        said = await _text(env, DEPUTY, "A-003番 対応済みです")
        assert said.startswith("世帯番号 A-003を「対応済み」にしました。")
        # one left open: 「対応済み」 alone (katakana too) is still no mark, and says the form and the open one
        for plain in ("タイオウズミ", "対応済み", "done"):
            said = await _text(env, DEPUTY, plain)
            assert said == ("どの世帯か、「対応済み A-002」のように世帯番号をつけて返信してください。\n"
                            "未対応 1件: 世帯番号 A-002"), plain
        assert await _open(env) == {"A-002"}
        assert (await _text(env, DEPUTY, "対応済み A-002")).startswith("世帯番号 A-002を「対応済み」にしました。")
        assert await _open(env) == set()
        said = await _text(env, DEPUTY, "対応済み")
        assert said == "いま未対応の「助けが必要」はありません。"
        await env.intake.idle()


async def test_only_requests_in_the_staff_members_scope_are_marked(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        await add_staff(env, "deputy-a", Role.DEPUTY, ASSOC_A, phone=DEPUTY)
        await add_staff_over(env, "district-u", Role.DISTRICT_HEAD, "district:梅地区", phone="+819077770003")
        await add_staff_over(env, "district-s", Role.DISTRICT_HEAD, "district:桜地区", phone="+819077770002")
        await _help(env, "A-002")
        await _help(env, "B-001")
        # B-001 is of another association: not hers to mark, said as a number her associations lack
        said = await _text(env, DEPUTY, "対応済み B-001")
        assert said.startswith("世帯番号 B-001 の「助けが必要」は見つかりません。")
        assert said.endswith("\n未対応 1件: 世帯番号 A-002")
        # plain: the form, and the one open in her association, not B's
        assert (await _text(env, DEPUTY, "対応済み")).endswith("\n未対応 1件: 世帯番号 A-002")
        assert (await _text(env, DEPUTY, "対応済み A-002")).startswith("世帯番号 A-002を「対応済み」にしました。")
        assert await _open(env) == {"B-001"}
        # the district heads standing in: each their own district's (the scope rule of their pages)
        said = await _text(env, "+819077770002", "対応済み B-001")
        assert said.startswith("世帯番号 B-001 の「助けが必要」は見つかりません。") and await _open(env) == {"B-001"}
        said = await _text(env, "+819077770003", "対応済み B-001")
        assert said.startswith("世帯番号 B-001を「対応済み」にしました。") and await _open(env) == set()
        await env.intake.idle()


async def test_a_removed_staff_member_or_a_stranger_marks_nothing(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        await add_staff(env, "deputy-a", Role.DEPUTY, ASSOC_A, phone=DEPUTY)
        await _help(env, "A-002")
        await _help(env, "A-003")
        # known as staff a moment ago (the process keeps the staff's numbers), then removed (a lost phone)
        assert (await _text(env, DEPUTY, "対応済み A-002")).startswith("世帯番号 A-002を「対応済み」にしました。")
        assert "世帯の回答としては記録していません" in await _text(env, DEPUTY, "了解")
        assert await env.store.auth.remove_staff("deputy-a") is not None
        assert await _text(env, DEPUTY, "了解") == "現在、この番号あての安否確認は行われていません。"
        said = await _text(env, DEPUTY, "対応済み A-003")
        assert said.startswith("この連絡先は役員の連絡先として登録されていないため、「対応済み」を記録できません。")
        assert await _open(env) == {"A-003"}
        said = await _text(env, "+819099990000", "対応済み A-003")  # a number nobody has
        assert said.startswith("この連絡先は役員の連絡先として登録されていないため") and await _open(env) == {"A-003"}
        # a household's own number: its words, kept as a note for the head as before, mark nothing
        said = await _text(env, "+819011110002", "対応済み A-003")
        assert "「1」" in said and await _open(env) == {"A-003"}
        await env.intake.idle()


async def test_a_head_whose_phone_is_her_households_marks_as_staff(tmp_path: Path) -> None:
    """A head is a resident too: 「対応済み 1」 from her phone is her mark, not her household's 無事."""
    async with running_app(tmp_path) as env:
        await add_staff(env, "head-a", Role.ASSOCIATION_HEAD, ASSOC_A, phone="+819011110001")  # A-001's and A-004's
        await _help(env, "A-002")
        said = await _text(env, "+819011110001", "対応済み A-002")
        assert said.startswith("世帯番号 A-002を「対応済み」にしました。") and await _open(env) == set()
        assert await env.history("A-001") == [] and await env.history("A-004") == []
        await env.intake.idle()


async def test_a_request_handled_by_sms_is_not_escalated(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        await add_staff(env, "deputy-a", Role.DEPUTY, ASSOC_A, phone=DEPUTY)
        await add_staff_over(env, "district-s", Role.DISTRICT_HEAD, "district:桜地区", telegram="7770002")
        await _help(env, "A-002")
        await _help(env, "A-003")
        await env.dispatch()
        await env.clock.advance(10 * 60)
        assert (await _text(env, DEPUTY, "対応済み A-002")).startswith("世帯番号 A-002を「対応済み」にしました。")
        esc = HelpEscalation(env.store, StaffNotifier(env.store, env.cfg, env.senders, env.clock), env.clock,
                             env.cfg.replies.help_escalate_minutes)
        await env.clock.advance(env.cfg.replies.help_escalate_minutes * 60)
        assert await esc.check() == [(env.campaign_id, env.hh("A-003").id)]  # the open one only
        await env.dispatch()
        [told] = [r.text for r in env.sandbox.messages("telegram") if "【未対応】" in (r.text or "")]
        assert "Smith John" in told and "佐藤 花子" not in told
        await env.intake.idle()


async def test_an_escalation_by_sms_says_how_to_reply_too(tmp_path: Path) -> None:
    """The district head standing in gets the 【未対応】 alert by SMS: its last line says how to mark it."""
    async with running_app(tmp_path) as env:
        await add_staff_over(env, "district-s", Role.DISTRICT_HEAD, "district:桜地区", phone="+819077770002")
        await add_staff(env, "head-b", Role.ASSOCIATION_HEAD, ASSOC_B, telegram="8880009")
        await _help(env, "A-003")
        esc = HelpEscalation(env.store, StaffNotifier(env.store, env.cfg, env.senders, env.clock), env.clock,
                             env.cfg.replies.help_escalate_minutes)
        await env.clock.advance(env.cfg.replies.help_escalate_minutes * 60)
        assert await esc.check() == [(env.campaign_id, env.hh("A-003").id)]
        await env.dispatch()
        [told] = [r.text for r in env.sandbox.messages("sms")
                  if r.address == "+819077770002" and "【未対応】" in (r.text or "")]
        # with the association: district and city staff's numbers restart in each association (review)
        assert told.split("\n")[-1].startswith(f"対応したら「対応済み A-003 {ASSOC_A}」と返信（またはこちらで）: http")
        said = await _text(env, "+819077770002", f"対応済み A-003 {ASSOC_A}")
        assert said.startswith("世帯番号 A-003を「対応済み」にしました。")
        await env.intake.idle()


async def test_one_number_in_two_associations_is_told_apart_by_the_associations_name(tmp_path: Path) -> None:
    """A city admin standing in sees every association: the same 世帯番号 may be two households."""
    async with running_app(tmp_path, seeded=False) as env:
        await env.store.roster.import_households([*records(), household(
            "梅地区", ASSOC_B, "1班", "A-002", "高橋 三郎", "梅町2-1-2", 1, False, "ja", phone="+819022220002")])
        await seed(env)
        await add_staff_over(env, "city-1", Role.CITY_ADMIN, "city", phone="+819066660001")
        await env.sandbox.fake("sms").reply("+819011110002", "2")  # A's A-002
        await env.sandbox.fake("sms").reply("+819022220002", "2")  # B's A-002
        said = await _text(env, "+819066660001", "対応済み A-002")
        assert said.startswith(f"世帯番号 A-002 の世帯が複数の町会にあります。「対応済み A-002 {ASSOC_A}」のように")
        assert said.endswith(f"未対応 2件: {ASSOC_A} 世帯番号 A-002、{ASSOC_B} 世帯番号 A-002")
        said = await _text(env, "+819066660001", f"対応済み A-002 {ASSOC_B}")
        assert said == f"{ASSOC_B} 世帯番号 A-002を「対応済み」にしました。\n未対応 1件: {ASSOC_A} 世帯番号 A-002"
        [still] = await env.store.replies.help_list(env.campaign_id)
        assert (still.association, still.name) == (ASSOC_A, "佐藤 花子")


async def test_texts_from_unknown_numbers_do_not_read_every_staff_member_each(tmp_path: Path) -> None:
    """Review: a text from a number no household of a running campaign has read every staff member and
    their contacts to see whether it was staff's (86 ms a text with 4,000 staff on SQLite, against 0.15 ms
    for the households' read): a reply storm's texts from numbers not on the roster paid it each. The
    addresses are kept a while; one among them is read afresh, so a removed member is no staff (above)."""
    async with running_app(tmp_path) as env:
        await add_staff(env, "deputy-a", Role.DEPUTY, ASSOC_A, phone=DEPUTY)
        reads = 0
        list_staff = env.store.auth.list_staff

        async def counted() -> list[Staff]:  # the store's own read, counted
            nonlocal reads
            reads += 1
            return await list_staff()

        env.store.auth.list_staff = counted  # type: ignore[method-assign]
        for n in range(20):
            assert await _text(env, f"+8190999900{n:02d}", "無事です") == "現在、この番号あての安否確認は行われていません。"
        assert "世帯の回答としては記録していません" in await _text(env, DEPUTY, "了解")
        assert reads == 1
        # a staff member added since is known by their 「対応済み」 (read again for it, a second on at most)
        await add_staff(env, "deputy-a2", Role.DEPUTY, ASSOC_A, phone="+819088880003")
        await _help(env, "A-002")
        await env.clock.advance(1)
        assert (await _text(env, "+819088880003", "対応済み A-002")).startswith("世帯番号 A-002を「対応済み」にしました。")
        assert reads == 2
        # a stranger's flood of them reads no more than once a second
        for n in range(10):
            await _text(env, f"+8190999901{n:02d}", "対応済み")
        assert reads == 2
        await env.clock.advance(1)
        await _text(env, "+819099990200", "対応済み")
        assert reads == 3
        await env.intake.idle()


async def test_a_residents_words_with_sumi_are_the_households_not_staffs(tmp_path: Path) -> None:
    """Review: bare 済み, done and 確認済み anywhere in a text were taken for staff's before the household's
    own answer. A head who is a resident too texted 「1 避難済み」 and got the 対応済み error, her 無事 never
    recorded; 「A-003 済み」 marked A-003's request; a resident's 「避難済み」 was told she is no staff; a
    stranger's 「訪問済み 12」 was answered about 「対応済み」."""
    async with running_app(tmp_path) as env:
        await add_staff(env, "head-a", Role.ASSOCIATION_HEAD, ASSOC_A, phone="+819011110002")  # A-002's phone
        await add_staff(env, "deputy-a", Role.DEPUTY, ASSOC_A, phone=DEPUTY)
        await _help(env, "A-003")
        said = await _text(env, "+819011110002", "1 避難済み")
        assert "「対応済み" not in said and await env.status("A-002") == "safe"
        # 済み alone is no mark: the deputy (no household) is answered as staff, with the form
        said = await _text(env, DEPUTY, "A-003 済み")
        assert "世帯の回答としては記録していません" in said and await _open(env) == {"A-003"}
        # from a number that is no one's: a resident's words after the close, a stranger's 訪問済み
        assert await _text(env, "+819099990000", "避難済み") == "現在、この番号あての安否確認は行われていません。"
        said = await _text(env, "+819099990000", "訪問済み 12")
        assert said.startswith("この連絡先は役員の連絡先として登録されていないため、「訪問済み」を記録できません。")
        await env.intake.idle()


async def test_a_households_answer_beside_a_staff_text_is_the_households(tmp_path: Path) -> None:
    """A head's phone that is her household's: 「確認済み 1 無事」 is her household's 無事 (the words beside
    the number say so); 「対応済み 1」, the form the alert asks for, stays her mark."""
    async with running_app(tmp_path) as env:
        await add_staff(env, "head-a", Role.ASSOCIATION_HEAD, ASSOC_A, phone="+819011110002")  # A-002's phone
        said = await _text(env, "+819011110002", "確認済み A-003 無事")
        assert "訪問" not in said and await env.status("A-002") == "safe"
        assert await env.status("A-003") != "safe"
        await env.intake.idle()


async def test_a_phone_handed_to_another_staff_member_is_hers_at_once(tmp_path: Path) -> None:
    """Review: the process keeps the staff's numbers 30 s; a phone moved from one deputy to another (the
    association's shared phone) was taken for the first one's, failed the check by her id, and for up to
    30 s was answered as no staff member's. Every kept one failing, the numbers are read again."""
    async with running_app(tmp_path) as env:
        first = await add_staff(env, "deputy-a", Role.DEPUTY, ASSOC_A, phone=DEPUTY)
        await _help(env, "A-002")
        assert "世帯の回答としては記録していません" in await _text(env, DEPUTY, "了解")  # known: kept 30 s
        assert await env.store.auth.remove_staff_contact(first.id, "mobile", DEPUTY)
        await add_staff(env, "deputy-a2", Role.DEPUTY, ASSOC_A, phone=DEPUTY)
        await env.clock.advance(1)  # (read again a second after the last read at most)
        said = await _text(env, DEPUTY, "対応済み A-002")
        assert said.startswith("世帯番号 A-002を「対応済み」にしました。")
        [row] = await env.store.replies.help_list(env.campaign_id, include_handled=True)
        assert row.handled_by == "deputy-a2"
        await env.clock.advance(1)
        assert "世帯の回答としては記録していません" in await _text(env, DEPUTY, "了解")
        await env.intake.idle()


async def test_a_retried_handled_text_leaves_a_new_call_for_help_open(tmp_path: Path) -> None:
    """Review: a provider sends a text again when our answer did not arrive (Telegram redelivers every
    unacknowledged update after a restart). A retried 「対応済み A-002」 that came after the household
    called for help again marked the new call handled: hidden from the open list and never escalated.
    The mark keeps the text's message id: its retry marks nothing."""
    async with running_app(tmp_path) as env:
        await add_staff(env, "deputy-a", Role.DEPUTY, ASSOC_A, phone=DEPUTY)
        sms = env.sandbox.fake("sms")
        await _help(env, "A-002")
        sid = "SM" + "5" * 32
        first = _said((await sms.reply(DEPUTY, "対応済み A-002", sid=sid)).body)
        assert first.startswith("世帯番号 A-002を「対応済み」にしました。")
        await env.clock.advance(60)
        await _help(env, "A-002")  # hurt again, a minute later
        assert await _open(env) == {"A-002"}
        assert _said((await sms.reply(DEPUTY, "対応済み A-002", sid=sid)).body) == first  # as the text was answered
        assert await _open(env) == {"A-002"}
        assert len([e for e in await env.store.audit.entries() if e.action == "handled"]) == 1
        # her new text (its own id) marks it
        assert (await _text(env, DEPUTY, "対応済み A-002")).startswith("世帯番号 A-002を「対応済み」にしました。")
        assert await _open(env) == set()
        await env.intake.idle()

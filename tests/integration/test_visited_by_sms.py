"""A head or deputy on a feature phone confirms a household of the door-knock list by texting 「訪問済み 12」.

QA (a head and her deputies walking the door-knock list): the deputy whose list came by SMS saw the
household at its door and could not record it: 訪問で確認 is a button on a page her phone cannot open,
and her text 「訪問済み 12」 was read as 「対応済み」 of a help request nobody had asked for. The texts go
through the sandbox's SMS over loopback (the real twilio client, the signed webhook); both stores.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from replies_fixtures import ASSOC_A, ASSOC_B, Env, add_staff, add_staff_over, running_app, start_campaign
from roster_helpers import household

from safetynet.auth import Viewer
from safetynet.domain import CampaignKind, Role, Scope, Status

DEPUTY = "+819088880002"


def _said(body: str) -> str:
    m = re.search(r"<Message>(.*)</Message>", body, re.S)
    assert m is not None, body
    return html.unescape(m.group(1))


async def _text(env: Env, from_: str, body: str) -> str:
    return _said((await env.sandbox.fake("sms").reply(from_, body)).body)


async def test_a_deputy_confirms_a_household_she_saw_by_its_number(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        deputy = await add_staff(env, "deputy-a", Role.DEPUTY, ASSOC_A, phone=DEPUTY)
        # full width, as a feature phone types it
        said = await _text(env, DEPUTY, "訪問済み　Ａ－００３")
        assert said == ("世帯番号 A-003を訪問で確認済みにしました。\n間違えたときは「訪問取消 A-003」と返信すると取り消せます。\n"
                        "未回答 残り3世帯")
        assert await env.status("A-003") == Status.CONFIRMED_IN_PERSON
        [entry] = await env.store.replies.history(env.campaign_id, env.hh("A-003").id)
        assert (entry.status, entry.method, entry.actor) == (Status.CONFIRMED_IN_PERSON, "visit", "deputy-a")
        [audit] = [e for e in await env.store.audit.entries() if e.action == "confirm"]
        assert (audit.actor, audit.staff_id, audit.what, audit.detail) == ("deputy-a", deputy.id, "household",
                                                                            "visit:sms")
        assert (audit.campaign_id, audit.household_id) == (env.campaign_id, env.hh("A-003").id)

        # 確認済み too; a household no longer on the list (confirmed, answered) is said so, nothing recorded
        said = await _text(env, DEPUTY, "確認済み A-003")
        assert said.startswith("世帯番号 A-003 は未回答の世帯にありません") and said.endswith("未回答 残り3世帯")
        assert len(await env.store.replies.history(env.campaign_id, env.hh("A-003").id)) == 1
        # no number: which one (a confirmation is no guess); other words with it: nothing recorded
        said = await _text(env, DEPUTY, "訪問済み")
        assert said.startswith("どの世帯か、「訪問済み A-001」のように")
        said = await _text(env, DEPUTY, "A-002 訪問済み まだ会えていない")
        assert said.startswith("記録していません。") and await env.status("A-002") != Status.CONFIRMED_IN_PERSON
        # a household of another association is not hers to confirm
        said = await _text(env, DEPUTY, "訪問済み B-001")
        assert said.startswith("世帯番号 B-001 は未回答の世帯にありません")
        assert await env.status("B-001") != Status.CONFIRMED_IN_PERSON
        for key in ("A-001", "A-002", "A-004"):
            assert await _text(env, DEPUTY, f"訪問済み {key}") == (
                f"世帯番号 {key}を訪問で確認済みにしました。\n間違えたときは「訪問取消 {key}」と返信すると取り消せます。\n"
                + ("未回答の世帯はもうありません。" if key == "A-004" else f"未回答 残り{2 if key == 'A-001' else 1}世帯"))
        await env.intake.idle()


async def test_a_number_in_two_associations_is_named_with_its_association(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        # B gets a household numbered A-003 too, in a second campaign (one of A's households is in both)
        await env.store.roster.import_households([household("梅地区", ASSOC_B, "1班", "A-003", "二宮 一", "梅町2-1-3")])
        second = await start_campaign(env, title="地震 安否確認 2")
        await add_staff_over(env, "city-1", Role.CITY_ADMIN, "city", phone=DEPUTY)
        said = await _text(env, DEPUTY, "訪問済み A-003")
        assert said.startswith(f"世帯番号 A-003 の世帯が複数の町会にあります。「訪問済み A-003 {ASSOC_A}」のように")
        assert await env.status("A-003") != Status.CONFIRMED_IN_PERSON
        said = await _text(env, DEPUTY, f"訪問済み A-003 {ASSOC_A}")
        assert said == (f"{ASSOC_A} 世帯番号 A-003を訪問で確認済みにしました。\n間違えたときは「訪問取消 A-003」と返信すると取り消せます。\n"
                        "未回答 残り5世帯")
        # confirmed in each running campaign it had not answered in
        assert await env.status("A-003") == Status.CONFIRMED_IN_PERSON
        assert await env.status("A-003", second) == Status.CONFIRMED_IN_PERSON
        await env.intake.idle()


async def test_several_numbers_in_one_text_are_answered_one_a_text(tmp_path: Path) -> None:
    """Review: 「訪問済み A-002、A-003」 and 「対応済み A-002 A-003」 were answered 「世帯番号 A-002 の世帯が複数の町会に
    あります」, false, and recorded nothing. Nothing is recorded still (a mistyped second number would mark a
    household nobody saw): the answer says one number a text."""
    async with running_app(tmp_path) as env:
        await add_staff(env, "deputy-a", Role.DEPUTY, ASSOC_A, phone=DEPUTY)
        said = await _text(env, DEPUTY, "訪問済み A-002、A-003")
        assert said == ("記録していません。1通に1世帯ずつ、「訪問済み A-001」のように世帯番号を1つだけつけて返信してください。\n"
                        "未回答 残り4世帯")
        assert await env.status("A-002") != Status.CONFIRMED_IN_PERSON
        for key in ("A-002", "A-003"):
            await env.sandbox.fake("sms").reply(next(c.address for c in env.hh(key).contacts if c.kind == "mobile"), "2")
        said = await _text(env, DEPUTY, "対応済み A-002 A-003")
        assert said == ("記録していません。1通に1世帯ずつ、「対応済み A-002」のように世帯番号を1つだけつけて返信してください。\n"
                        "未対応 2件: 世帯番号 A-002、世帯番号 A-003")
        assert {r.household_key for r in await env.store.replies.help_list(env.campaign_id)} == {"A-002", "A-003"}
        await env.intake.idle()


async def test_a_drill_held_back_by_a_real_event_is_not_written_to(tmp_path: Path) -> None:
    """Review: while a real event runs the dispatcher holds every drill back (its pages say 一時停止中), yet a
    「訪問済み」 or 「対応済み」 by SMS recorded in the drill too, or in it alone."""
    async with running_app(tmp_path) as env:  # a drill over the city
        await add_staff(env, "deputy-a", Role.DEPUTY, ASSOC_A, phone=DEPUTY)
        await env.sandbox.fake("sms").reply("+819011110002", "2")  # A-002 asks for help in the drill
        real = await start_campaign(env, CampaignKind.REAL, scope=(f"association:{ASSOC_A}",), title="地震")
        said = await _text(env, DEPUTY, "訪問済み A-003")
        assert said.startswith("世帯番号 A-003を訪問で確認済みにしました。")
        assert await env.status("A-003", real) == Status.CONFIRMED_IN_PERSON
        assert await env.status("A-003") != Status.CONFIRMED_IN_PERSON  # the held drill's: untouched
        said = await _text(env, DEPUTY, "対応済み A-002")
        assert said.startswith("世帯番号 A-002 の「助けが必要」は見つかりません。")
        assert {r.household_key for r in await env.store.replies.help_list(env.campaign_id)} == {"A-002"}
        await env.intake.idle()


async def test_a_deputy_takes_back_a_visit_texted_for_the_wrong_household(tmp_path: Path) -> None:
    """A 「訪問済み」 with a mistyped number took a household nobody saw off the door-knock list, and a
    feature phone could not take it back (the page's 取り消す is a button). 「訪問取消 12」 does: her own
    confirmation only (as the page offers), in her scope, never over an answer sent since, audited."""
    async with running_app(tmp_path) as env:
        deputy = await add_staff(env, "deputy-a", Role.DEPUTY, ASSOC_A, phone=DEPUTY)
        await add_staff(env, "deputy-a2", Role.DEPUTY, ASSOC_A, phone="+819088880004")
        await add_staff(env, "deputy-b", Role.DEPUTY, ASSOC_B, phone="+819088880003")
        assert await _text(env, DEPUTY, "訪問取消") == "取り消せる「確認済み」の世帯はありません。\n未回答 残り4世帯"
        before = await env.status("A-003")
        assert (await _text(env, DEPUTY, "訪問済み A-003")).endswith("未回答 残り3世帯")
        said = await _text(env, DEPUTY, "訪問取り消し　Ａ－００３")
        assert said == "世帯番号 A-003の「確認済み」を取り消しました。未回答に戻り、戸別訪問リストに載ります。\n未回答 残り4世帯"
        assert await env.status("A-003") == before
        statuses = [e.status for e in await env.store.replies.history(env.campaign_id, env.hh("A-003").id)]
        assert statuses == [Status.CONFIRMED_IN_PERSON, "undo"]
        [audit] = [e for e in await env.store.audit.entries() if e.action == "undo"]
        assert (audit.actor, audit.staff_id, audit.household_id) == ("deputy-a", deputy.id, env.hh("A-003").id)
        assert audit.detail is not None and audit.detail.startswith("reply ") and audit.detail.endswith(":sms")
        # taken back already: nothing of that number to take back
        assert (await _text(env, DEPUTY, "訪問取消 A-003")).startswith("世帯番号 A-003 は確認済みの世帯にありません。")

        # confirmed, then the household answers itself: its answer stands, no confirmation is left to take back
        await _text(env, DEPUTY, "訪問済み A-002")
        await env.sandbox.fake("sms").reply(next(c.address for c in env.hh("A-002").contacts if c.kind == "mobile"), "1")
        said = await _text(env, DEPUTY, "訪問取消 A-002")
        assert said.startswith("世帯番号 A-002 は確認済みの世帯にありません。")
        assert await env.status("A-002") == Status.SAFE
        # another deputy's confirmation is hers to take back, not this one's (the page offers it to her alone)
        await _text(env, "+819088880004", "訪問済み A-004")
        said = await _text(env, DEPUTY, "訪問取消 A-004")
        assert said.startswith("世帯番号 A-004の「確認済み」はほかの役員が記録したものなので、取り消していません。")
        assert await env.status("A-004") == Status.CONFIRMED_IN_PERSON
        # another association's household is not hers; words beyond the number take nothing back
        assert (await _text(env, "+819088880003", "訪問済み B-001")).startswith("世帯番号 B-001を訪問で確認済みに")
        assert (await _text(env, DEPUTY, "訪問取消 B-001")).startswith("世帯番号 B-001 は確認済みの世帯にありません。")
        await _text(env, DEPUTY, "訪問済み A-001")
        assert (await _text(env, DEPUTY, "訪問取消 A-001 やっぱり")).startswith("取り消していません。")
        assert await env.status("B-001") == Status.CONFIRMED_IN_PERSON
        assert await env.status("A-001") == Status.CONFIRMED_IN_PERSON
        # from a number that is no staff member's: nothing
        said = await _text(env, "+819077770009", "訪問取消 A-001")
        assert said.startswith("この連絡先は役員の連絡先として登録されていないため、取り消せません。")
        assert await env.status("A-001") == Status.CONFIRMED_IN_PERSON
        await env.intake.idle()


async def test_a_residents_correction_from_a_staff_phone_stays_her_households_answer(tmp_path: Path) -> None:
    """Review: 「取消 2」 is how a resident corrects a 1 to 2 (助けが必要). From a phone that is a household's
    and a staff member's contact too, it was read as taking back household 2's confirmation, and her
    call for help was never recorded. The staff words need 訪問: 「取消 2」 is her household's."""
    async with running_app(tmp_path) as env:
        own = next(c.address for c in env.hh("A-001").contacts if c.kind == "mobile")
        await add_staff(env, "head-a", Role.ASSOCIATION_HEAD, ASSOC_A, phone=own)
        await _text(env, own, "訪問済み A-002")
        assert await env.status("A-002") == Status.CONFIRMED_IN_PERSON
        await _text(env, own, "取消 2")
        assert await env.status("A-001") == Status.NEED_HELP
        assert await env.status("A-002") == Status.CONFIRMED_IN_PERSON
        await env.intake.idle()


async def test_taking_back_the_later_of_two_confirmations_says_the_earlier_one_stands(tmp_path: Path) -> None:
    """Confirmed on the page (a phone call), then again by the same deputy: her 「訪問取消」 takes back the
    later one, and the household stays confirmed by the earlier: the answer names the status it has,
    not 「未回答に戻り」."""
    async with running_app(tmp_path) as env:
        deputy = await add_staff(env, "deputy-a", Role.DEPUTY, ASSOC_A, phone=DEPUTY)
        viewer = Viewer(Role.DEPUTY, Scope("association", ASSOC_A), staff_id=deputy.id, login="deputy-a")
        for how in ("phone", "visit"):
            await env.intake.confirm_in_person(viewer, env.campaign_id, env.hh("A-003").id, how)
        said = await _text(env, DEPUTY, "訪問取消 A-003")
        assert said == "世帯番号 A-003の「確認済み」を取り消しました。いまの状態は「担当者が確認」です。\n未回答 残り3世帯"
        assert await env.status("A-003") == Status.CONFIRMED_IN_PERSON
        await env.intake.idle()


async def test_a_retried_undo_text_leaves_the_confirmation_made_since(tmp_path: Path) -> None:
    """Review (named as left): the provider sends a text again when our answer was slow; a retried
    「訪問取消 A-003」 that arrived after the deputy had confirmed A-003 again took the new confirmation
    back. The text's message id keys its undo: the retry takes nothing back."""
    async with running_app(tmp_path) as env:
        await add_staff(env, "deputy-a", Role.DEPUTY, ASSOC_A, phone=DEPUTY)
        sms = env.sandbox.fake("sms")
        await _text(env, DEPUTY, "訪問済み A-003")
        sid = "SM" + "7" * 32
        first = _said((await sms.reply(DEPUTY, "訪問取消 A-003", sid=sid)).body)
        assert first.startswith("世帯番号 A-003の「確認済み」を取り消しました。")
        await _text(env, DEPUTY, "訪問済み A-003")
        # the retry is answered as the text was (the staff member may never have had that answer)
        assert _said((await sms.reply(DEPUTY, "訪問取消 A-003", sid=sid)).body) == first
        assert await env.status("A-003") == Status.CONFIRMED_IN_PERSON
        statuses = [e.status for e in await env.store.replies.history(env.campaign_id, env.hh("A-003").id)]
        assert statuses == [Status.CONFIRMED_IN_PERSON, "undo", Status.CONFIRMED_IN_PERSON]
        # a new text (its own id) takes the new confirmation back
        assert (await _text(env, DEPUTY, "訪問取消 A-003")).startswith("世帯番号 A-003の「確認済み」を取り消しました。")
        await env.intake.idle()


async def test_a_retried_visited_text_confirms_nothing_in_a_campaign_started_since(tmp_path: Path) -> None:
    """Review: a 「訪問済み A-003」 the provider delivered again (Telegram redelivers every unacknowledged
    update after a restart) after a real event had started confirmed A-003 in the event too, nobody
    having seen it there: the key of the first confirmation is the drill's alone. A staff text is
    acted on once: its retry gets the answer it got, and nothing else happens."""
    async with running_app(tmp_path) as env:  # a drill over the city
        await add_staff(env, "deputy-a", Role.DEPUTY, ASSOC_A, phone=DEPUTY)
        sms = env.sandbox.fake("sms")
        sid = "SM" + "3" * 32
        first = _said((await sms.reply(DEPUTY, "訪問済み A-003", sid=sid)).body)
        assert first.startswith("世帯番号 A-003を訪問で確認済みにしました。")
        real = await start_campaign(env, CampaignKind.REAL, scope=(f"association:{ASSOC_A}",), title="地震")
        assert _said((await sms.reply(DEPUTY, "訪問済み A-003", sid=sid)).body) == first
        assert await env.status("A-003", real) != Status.CONFIRMED_IN_PERSON
        assert len([e for e in await env.store.audit.entries() if e.action == "confirm"]) == 1
        # a new text (its own id) is acted on
        said = await _text(env, DEPUTY, "訪問済み A-003")
        assert said.startswith("世帯番号 A-003を訪問で確認済みにしました。")
        assert await env.status("A-003", real) == Status.CONFIRMED_IN_PERSON
        await env.intake.idle()

"""Need help reaches the head and deputies; the help list; in-person confirmation and "handled" with scopes."""

from __future__ import annotations

import json
from pathlib import Path

from replies_fixtures import ASSOC_A, ASSOC_B, Env, add_staff, add_staff_over, running_app

from safetynet.auth import new_token, token_hash
from safetynet.domain import Role, Status
from safetynet.replies.intake import ReplyIntake
from safetynet.web.app import SESSION_COOKIE


async def _api_token(env: Env, role: Role, scope: str) -> dict[str, str]:
    token = new_token()
    await env.store.auth.create_api_token(token_hash(token), role, scope)
    return {"Authorization": f"Bearer {token}"}


async def _staff_city(env: Env) -> str:
    """Head (Telegram, SMS, push) and two deputies of A; the head of B must hear nothing."""
    key = env.senders["webpush"].keys.application_server_key  # type: ignore[attr-defined]
    sub = env.sandbox.fake("webpush").subscribe(key)
    await add_staff(env, "head-a", Role.ASSOCIATION_HEAD, ASSOC_A, telegram="8880001", phone="+819088880001",
                    webpush=json.dumps(sub))
    await add_staff(env, "deputy-a1", Role.DEPUTY, ASSOC_A, telegram="8880002")
    await add_staff(env, "deputy-a2", Role.DEPUTY, ASSOC_A, phone="+819088880003")
    await add_staff(env, "head-b", Role.ASSOCIATION_HEAD, ASSOC_B, telegram="8880009")
    return str(sub["endpoint"]).rsplit("/", 1)[1]


async def test_need_help_reaches_head_and_deputies_with_the_facts(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        sub_id = await _staff_city(env)
        data = {"status": "need_help", "k": "help-0001", "people_safe": "2", "people_injured": "1", "location": "home",
                "note": "足を骨折 <b>至急</b>"}
        async with env.http.post(env.reply_url("A-002"), data=data) as resp:
            assert resp.status == 200 and "すぐに119番へ電話してください" in await resp.text()
        await env.dispatch()
        tg = {r.address: r.text or "" for r in env.staff_messages("telegram")}
        sms = {r.address: r.text or "" for r in env.staff_messages("sms")}
        assert set(tg) == {"8880001", "8880002"} and set(sms) == {"+819088880001", "+819088880003"}
        for text in [*tg.values(), *sms.values()]:
            assert "佐藤 花子" in text and "桜町1-1-2" in text and "1人" in text and "要配慮者あり" in text
            assert "足を骨折 <b>至急</b>" in text and "無事 2人 / けが人 1人" in text and "【訓練】" in text
            assert "配信: 地震 安否確認" in text  # which campaign: the link opens its dashboard
            assert text.endswith(f"/a/{env.hh('A-002').association_id}?campaign={env.campaign_id}")
        push = env.sandbox.state.find("webpush", sub_id)
        assert push is not None and "佐藤 花子" in push.data["payload"]["body"]
        assert push.data["payload"]["token"] == ""  # a staff alert has no answer buttons
        # one alert per opening: the same household answering need help again does not re-alert
        async with env.http.post(env.reply_url("A-002"), data={"status": "need_help", "k": "help-0002"}):
            pass
        await env.dispatch()
        assert len(env.staff_messages("telegram")) == 2
        (row,) = await env.store.replies.help_list(env.campaign_id)
        assert row.name == "佐藤 花子" and row.vulnerable and row.note == "足を骨折 <b>至急</b>"


async def test_a_late_answer_to_a_closed_drill_alerts_with_that_drills_name_and_dashboard(tmp_path: Path) -> None:
    """A closed drill's link still takes answers for a while (when no campaign of the household runs:
    the current one is another group's); the association's dashboard by default shows its current
    campaign, where this household is not on the help list."""
    from replies_fixtures import start_campaign

    async with running_app(tmp_path) as env:
        await _staff_city(env)
        drill = env.campaign_id
        assert await env.store.campaigns.close(drill, env.clock.now())
        # 2班 only: A-002 (1班) is in no running campaign, so its drill's link answers the drill
        current = await start_campaign(env, title="秋の総合防災訓練", scope=[f"group:{ASSOC_A}/2班"])
        await env.clock.advance(600)
        async with env.http.post(env.reply_url("A-002"), data={"status": "need_help", "k": "late-0001"}) as resp:
            assert resp.status == 200  # within the grace period after closing
        await env.dispatch()
        aid = env.hh("A-002").association_id
        link = f"{env.cfg.server.public_url}/a/{aid}?campaign={drill}"
        texts = [r.text or "" for ch in ("telegram", "sms") for r in env.staff_messages(ch)
                 if "【安否確認の開始】" not in (r.text or "")]  # the current drill's start told them first
        assert len(texts) == 4
        for text in texts:
            assert "配信: 地震 安否確認" in text and "秋の総合防災訓練" not in text and link in text
        head_a = await _api_token(env, Role.ASSOCIATION_HEAD, f"association:{ASSOC_A}")
        async with env.http.get(link, headers=head_a) as resp:
            assert resp.status == 200
            page = await resp.text()
        assert f'data-campaign="{drill}"' in page
        assert "佐藤 花子" in page[page.index('id="help-items"'):page.index('data-count="need_help"')]
        async with env.http.get(f"{env.url}/a/{aid}", headers=head_a) as resp:
            page = await resp.text()  # what the old link opened: the current campaign, the help list empty
        assert f'data-campaign="{current}"' in page and "佐藤 花子" not in page[page.index('id="help-items"'):
                                                                               page.index('data-count="need_help"')]


async def test_help_list_until_handled_with_scope(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        await _staff_city(env)
        await env.sandbox.fake("sms").reply("+819011110002", "2")
        await env.dispatch()
        hh = env.hh("A-002").id
        head_b = await _api_token(env, Role.ASSOCIATION_HEAD, f"association:{ASSOC_B}")
        head_a = await _api_token(env, Role.ASSOCIATION_HEAD, f"association:{ASSOC_A}")
        async with env.http.get(f"{env.url}/api/campaigns/{env.campaign_id}/help", headers=head_b) as resp:
            assert (await resp.json())["help"] == []
        async with env.http.get(f"{env.url}/api/campaigns/{env.campaign_id}/help", headers=head_a) as resp:
            (row,) = (await resp.json())["help"]
            assert row["household_id"] == hh and row["handled_at"] is None
        url = f"{env.url}/api/campaigns/{env.campaign_id}/households/{hh}/handled"
        async with env.http.post(url, headers=head_b, json={}) as resp:
            assert resp.status == 404  # out of scope looks like "no such household"
        async with env.http.post(url, headers=head_a, json={}) as resp:
            assert resp.status == 200 and (await resp.json())["already"] is False
        async with env.http.post(url, headers=head_a, json={}) as resp:
            assert (await resp.json())["already"] is True
        assert await env.store.replies.help_list(env.campaign_id) == []
        (done,) = await env.store.replies.help_list(env.campaign_id, include_handled=True)
        assert done.handled_at == env.clock.now() and done.handled_by == "api-token"
        # asking again after being handled puts the household back on the list, and alerts again
        before = len(env.staff_messages("telegram"))
        await env.sandbox.fake("sms").reply("+819011110002", "たすけて")
        await env.dispatch()
        assert len(await env.store.replies.help_list(env.campaign_id)) == 1
        assert len(env.staff_messages("telegram")) == before + 2
        never = env.hh("B-001").id
        async with env.http.post(f"{env.url}/api/campaigns/{env.campaign_id}/households/{never}/handled",
                                 headers=await _api_token(env, Role.CITY_ADMIN, "city"), json={}) as resp:
            assert resp.status == 404  # never asked for help


async def test_in_person_confirmation_in_scope_only(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        hh_b = env.hh("B-001").id
        url = f"{env.url}/api/campaigns/{env.campaign_id}/households/{hh_b}/confirm"
        head_a = await _api_token(env, Role.ASSOCIATION_HEAD, f"association:{ASSOC_A}")
        async with env.http.post(url, headers=head_a, json={"method": "visit"}) as resp:
            assert resp.status == 404
        assert await env.status("B-001") == Status.PENDING
        district = await _api_token(env, Role.DISTRICT_HEAD, "district:桜地区")
        async with env.http.post(url, headers=district, json={"method": "visit"}) as resp:
            assert resp.status == 404  # B is in another district
        head_b = await _api_token(env, Role.ASSOCIATION_HEAD, f"association:{ASSOC_B}")
        async with env.http.post(url, headers=head_b, json={"method": "carrier pigeon"}) as resp:
            assert resp.status == 400
        async with env.http.post(url, headers=head_b, json={"method": "phone", "note": "電話で確認"}) as resp:
            assert resp.status == 200 and (await resp.json())["status"] == "confirmed_in_person"
        admin = await _api_token(env, Role.CITY_ADMIN, "city")
        url_a = f"{env.url}/api/campaigns/{env.campaign_id}/households/{env.hh('A-001').id}/confirm"
        async with env.http.post(url_a, headers=admin, json={"method": "paper"}) as resp:
            assert resp.status == 200
        assert await env.status("B-001") == Status.CONFIRMED_IN_PERSON
        (entry,) = await env.store.replies.history(env.campaign_id, hh_b)
        assert (entry.status, entry.channel, entry.method, entry.note) == ("confirmed_in_person", "staff", "phone",
                                                                           "電話で確認")
        async with env.http.post(f"{env.url}/api/campaigns/{env.campaign_id}/households/999/confirm",
                                 headers=admin, json={"method": "visit"}) as resp:
            assert resp.status == 404
        async with env.http.post(url, json={"method": "visit"}) as resp:
            assert resp.status == 401


async def test_session_posts_need_the_csrf_token(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        head = await add_staff(env, "head-a", Role.ASSOCIATION_HEAD, ASSOC_A)
        cookie, csrf = new_token(), new_token()
        await env.store.auth.create_session(token_hash(cookie), head.id, csrf, 3600)
        url = f"{env.url}/api/campaigns/{env.campaign_id}/households/{env.hh('A-001').id}/confirm"
        cookies = {SESSION_COOKIE: cookie}
        async with env.http.post(url, json={"method": "visit"}, cookies=cookies) as resp:
            assert resp.status == 403
        async with env.http.post(url, data={"method": "visit", "csrf": "wrong"}, cookies=cookies) as resp:
            assert resp.status == 403
        async with env.http.post(url, json={"method": "visit"}, cookies=cookies,
                                 headers={"X-CSRF-Token": csrf}) as resp:
            assert resp.status == 200 and (await resp.json())["by"] == "head-a"
        (entry,) = await env.store.replies.history(env.campaign_id, env.hh("A-001").id)
        assert entry.actor == "head-a"


async def test_alert_lost_to_a_restart_is_sent_at_start(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        await _staff_city(env)
        notifier, env.intake.notifier = env.intake.notifier, None  # the process "dies" before alerting
        await env.sandbox.fake("sms").reply("+819011110002", "2")
        await env.dispatch()
        assert env.staff_messages("telegram") == []
        env.intake.notifier = notifier
        restarted = ReplyIntake(env.store, env.cfg, env.clock, notifier)  # what a restarted server builds
        await restarted.start()
        await restarted.start()  # started twice (server and web app): still one alert each
        await restarted.idle()
        await env.dispatch()
        assert sorted(r.address for r in env.staff_messages("telegram")) == ["8880001", "8880002"]
        assert await env.store.replies.unnotified_help() == []


async def test_ladder_door_knock_step_sends_each_head_their_list(tmp_path: Path) -> None:
    from safetynet.broadcast.ladder import LadderScheduler
    from safetynet.replies.notify import StaffNotifier

    async with running_app(tmp_path) as env:
        await _staff_city(env)
        await env.sandbox.fake("sms").reply("+819011110002", "1")  # A-002 answered: not on the list
        notifier = StaffNotifier(env.store, env.cfg, env.senders, env.clock)
        ladder = LadderScheduler(env.store.campaigns, env.clock, notifier=notifier)
        await env.clock.advance(1800)  # the default ladder's last step: +30 min
        await ladder.tick()
        await env.dispatch()
        texts_a = {r.address: r.text or "" for r in env.staff_messages("telegram") if r.address != "8880009"}
        assert set(texts_a) == {"8880001", "8880002"}
        a_id = env.hh("A-001").association_id
        for text in texts_a.values():
            assert "【戸別訪問リスト】" in text and "未回答 3 世帯" in text and f"/a/{a_id}/doorknock" in text
        (b_text,) = [r.text for r in env.staff_messages("telegram") if r.address == "8880009"]
        assert b_text is not None and "未回答 1 世帯" in b_text


async def test_with_no_head_or_deputy_to_reach_the_district_head_then_a_city_admin_is_told(tmp_path: Path) -> None:
    """QA: in an association with no head or deputy, 「助けが必要」 told the resident 「町会に知らせます」 and
    alerted nobody. The district's heads stand in, and failing them the city's admins, told why."""
    async with running_app(tmp_path) as env:
        await add_staff(env, "deputy-a", Role.DEPUTY, ASSOC_A)  # registered, but with no contact: unreachable
        await add_staff_over(env, "city-1", Role.CITY_ADMIN, "city", telegram="7770001")
        async with env.http.post(env.reply_url("A-002"), data={"status": "need_help", "k": "nohead-1"}) as resp:
            assert resp.status == 200
        await env.dispatch()
        (alert,) = [r.text or "" for r in env.staff_messages("telegram")]
        assert "佐藤 花子" in alert and f"{ASSOC_A}に連絡の届く会長・副会長が登録されていないため" in alert

        # a district head of the household's district comes first (the city's admins hear nothing more)
        await add_staff_over(env, "district-1", Role.DISTRICT_HEAD, "district:桜地区", telegram="7770002")
        async with env.http.post(env.reply_url("A-003"), data={"status": "need_help", "k": "nohead-2"}) as resp:
            assert resp.status == 200
        await env.dispatch()
        sent = [(r.address, r.text or "") for r in env.staff_messages("telegram")]
        assert len(sent) == 2 and sent[1][0] == "7770002" and "Smith John" in sent[1][1]

        # with a head to reach, nobody stands in
        await add_staff(env, "head-a", Role.ASSOCIATION_HEAD, ASSOC_A, telegram="8880001")
        async with env.http.post(env.reply_url("A-004"), data={"status": "need_help", "k": "nohead-3"}) as resp:
            assert resp.status == 200
        await env.dispatch()
        sent = [(r.address, r.text or "") for r in env.staff_messages("telegram")]
        assert len(sent) == 3 and sent[2][0] == "8880001" and "登録されていないため" not in sent[2][1]


async def test_a_door_knock_list_with_no_head_to_reach_goes_to_the_district_head(tmp_path: Path) -> None:
    from safetynet.broadcast.ladder import LadderScheduler
    from safetynet.replies.notify import StaffNotifier

    async with running_app(tmp_path) as env:
        await add_staff(env, "head-a", Role.ASSOCIATION_HEAD, ASSOC_A, telegram="8880001")  # B has nobody
        await add_staff_over(env, "district-u", Role.DISTRICT_HEAD, "district:梅地区", telegram="7770003")
        ladder = LadderScheduler(env.store.campaigns, env.clock,
                                 notifier=StaffNotifier(env.store, env.cfg, env.senders, env.clock))
        await env.clock.advance(1800)
        await ladder.tick()
        await env.dispatch()
        sent = {r.address: r.text or "" for r in env.staff_messages("telegram")}
        assert set(sent) == {"8880001", "7770003"} and "登録されていないため" not in sent["8880001"]
        assert f"【戸別訪問リスト】{ASSOC_B}: 未回答 1 世帯" in sent["7770003"]
        assert f"{ASSOC_B}に連絡の届く会長・副会長が登録されていないため" in sent["7770003"]


async def test_a_real_event_waiting_for_approval_is_told_to_the_other_city_admins(tmp_path: Path) -> None:
    """QA: a real event waiting for its second person at 3 a.m. waited until someone opened /city."""
    from safetynet.broadcast.service import CampaignService, CampaignSpec
    from safetynet.domain import CampaignKind
    from safetynet.domain.campaigns import Actor

    async with running_app(tmp_path) as env:
        first = await add_staff_over(env, "kikikanri", Role.CITY_ADMIN, "city", telegram="7770011")
        await add_staff_over(env, "bousai", Role.CITY_ADMIN, "city", telegram="7770012")
        svc = CampaignService(env.store, env.cfg, env.clock)
        real = await svc.launch(CampaignSpec("地震 安否確認", CampaignKind.REAL, ("city",), {"ja": "無事ですか"}),
                                created_by="kikikanri", by=Actor("kikikanri", first.id))
        await env.dispatch()
        sent = {r.address: r.text or "" for r in env.staff_messages("telegram")}
        assert set(sent) == {"7770012"}  # the other one, not the one who started it
        assert sent["7770012"].startswith("【承認待ち】実災害「地震 安否確認」") and f"/city?campaign={real.id}" in sent["7770012"]


async def test_a_telegram_a_person_pushed_stays_theirs_and_the_approver_is_told_who(tmp_path: Path) -> None:
    """Review: the 【承認待ち】 alert of a real event a pushed telegram started read as the JMA feed's, so
    the approver could take a hand-made telegram for the agency's; and a draft it made, its start lost to a
    restart, was started by the feed's copy as the trigger alone, so its pusher could approve it."""
    import dataclasses

    from safetynet.broadcast.service import CampaignService
    from safetynet.domain.campaigns import Actor
    from safetynet.triggers.port import CampaignRequest

    async with running_app(tmp_path) as env:
        first = await add_staff_over(env, "kikikanri", Role.CITY_ADMIN, "city", telegram="7770011")
        await add_staff_over(env, "bousai", Role.CITY_ADMIN, "city", telegram="7770012")
        svc = CampaignService(env.store, env.cfg, env.clock)
        pushed = CampaignRequest(dedupe_key="trigger:jma:9", kind="real", start=False, title="地震", hazard="earthquake",
                                 scenario="drills/missing.toml", source="jma", reason="震度6弱",
                                 pushed_by=Actor("kikikanri", first.id))
        cid = await svc.create_campaign(pushed)  # a draft: the process stopped before its start
        assert await svc.create_campaign(dataclasses.replace(pushed, start=True, pushed_by=None)) == cid  # the feed's
        c = await svc.get(cid)
        assert (c.state, c.started_by, c.started_by_staff) == ("pending_approval", "trigger", first.id)
        await env.dispatch()
        sent = {r.address: r.text or "" for r in env.staff_messages("telegram")}
        assert set(sent) == {"7770012"}
        assert f"気象庁の地震・津波情報（自動）、{first.display_name} さんが API で送信" in sent["7770012"]


async def test_the_heads_and_deputies_hear_when_a_campaign_starts_sending(tmp_path: Path) -> None:
    """QA (heads' walk): after a real event was approved nobody on the staff heard a word until a help
    alert or the door-knock notice, half an hour on. A drill tells them when it starts, a real event
    when it is approved (not while it waits), each with their dashboard's link; an association with
    nobody to reach is told to whoever stands in for it."""
    from safetynet.broadcast.service import CampaignService, CampaignSpec
    from safetynet.domain import CampaignKind
    from safetynet.domain.campaigns import Actor

    async with running_app(tmp_path) as env:
        await add_staff(env, "head-a", Role.ASSOCIATION_HEAD, ASSOC_A, telegram="8880001")
        await add_staff(env, "deputy-a", Role.DEPUTY, ASSOC_A, telegram="8880002")
        await add_staff_over(env, "district-u", Role.DISTRICT_HEAD, "district:梅地区", telegram="7770003")  # B's stand-in
        first = await add_staff_over(env, "kikikanri", Role.CITY_ADMIN, "city")
        second = await add_staff_over(env, "bousai", Role.CITY_ADMIN, "city")
        svc = CampaignService(env.store, env.cfg, env.clock)
        await svc.close(env.campaign_id)
        drill = await svc.launch(CampaignSpec("夜間訓練", CampaignKind.DRILL, ("city",), {"ja": "訓練です"}),
                                 by=Actor("kikikanri", first.id))
        await env.dispatch()
        sent = {r.address: r.text or "" for r in env.staff_messages("telegram")}
        assert set(sent) == {"8880001", "8880002", "7770003"}
        assert sent["8880001"].startswith("【訓練】【安否確認の開始】「夜間訓練」を送信しました（kikikanri）。")
        assert f"/a/{env.hh('A-001').association_id}?campaign={drill.id}" in sent["8880001"]
        assert f"/city?campaign={drill.id}" in sent["7770003"]  # standing in for B
        await svc.close(drill.id)
        real = await svc.launch(CampaignSpec("地震", CampaignKind.REAL, ("city",), {"ja": "無事ですか"}),
                                by=Actor("kikikanri", first.id))
        await env.dispatch()
        assert len(env.staff_messages("telegram")) == 3  # waiting for approval: nothing went out yet
        await svc.approve(real.id, by=Actor("bousai", second.id))
        await env.dispatch()
        told = [r.text or "" for r in env.staff_messages("telegram")][3:]
        assert len(told) == 3 and all(t.startswith("【安否確認の開始】「地震」を送信しました（bousai）。") for t in told)


async def test_cancelling_a_campaign_that_went_out_tells_its_heads_and_deputies(tmp_path: Path) -> None:
    """A head may be on the way to a door when city hall cancels (a mistaken real event): they hear
    it, once each; an association with nobody to reach is told to whoever stands in for it."""
    from safetynet.broadcast.service import CampaignService, CampaignSpec
    from safetynet.domain import CampaignKind
    from safetynet.domain.campaigns import Actor

    async with running_app(tmp_path) as env:
        await add_staff(env, "head-a", Role.ASSOCIATION_HEAD, ASSOC_A, telegram="8880001")
        await add_staff(env, "deputy-a", Role.DEPUTY, ASSOC_A, telegram="8880002")
        await add_staff_over(env, "district-u", Role.DISTRICT_HEAD, "district:梅地区", telegram="7770003")  # B's stand-in
        bousai = await add_staff_over(env, "bousai", Role.CITY_ADMIN, "city")
        svc = CampaignService(env.store, env.cfg, env.clock)
        await svc.cancel(env.campaign_id, by=Actor("bousai", bousai.id))
        await env.dispatch()
        sent = {r.address: r.text or "" for r in env.staff_messages("telegram")}
        assert set(sent) == {"8880001", "8880002", "7770003"}
        assert sent["8880001"].startswith("【取り消し】「地震 安否確認」は取り消されました（bousai）。未回答の世帯の確認や戸別訪問は不要です。")
        assert f"/a/{env.hh('A-001').association_id}?campaign={env.campaign_id}" in sent["8880001"]
        assert f"/city?campaign={env.campaign_id}" in sent["7770003"]  # standing in for B
        # a draft never went out: cancelling it tells nobody
        draft = await svc.create(CampaignSpec("下書き", CampaignKind.DRILL, ("city",), {"ja": "訓練です"}))
        await svc.cancel(draft.id, by=Actor("bousai"))
        await env.dispatch()
        assert len(env.staff_messages("telegram")) == 3


async def test_a_cancel_from_the_command_line_names_the_city_to_its_heads_and_the_user_in_the_audit_log(
        tmp_path: Path) -> None:
    """QA: without `--as`, heads read 「…は取り消されました（cli:root）」, a server account they cannot
    place; they read the city's staff, and the audit log keeps who exactly."""
    from safetynet.broadcast.service import CampaignService
    from safetynet.domain.campaigns import Actor

    async with running_app(tmp_path) as env:
        await add_staff(env, "head-a", Role.ASSOCIATION_HEAD, ASSOC_A, telegram="8880001")
        svc = CampaignService(env.store, env.cfg, env.clock)
        await svc.cancel(env.campaign_id, by=Actor("cli:root"))
        await env.dispatch()
        (text,) = [r.text or "" for r in env.staff_messages("telegram")]
        assert text.startswith(f"【取り消し】「地震 安否確認」は取り消されました（{env.cfg.city.name}の担当者）。")
        assert "cli" not in text
        assert [(e.what, e.actor) for e in await env.store.audit.entries()
                if e.action == "campaign" and e.what != "start"] == [("cancel", "cli:root"), ("notice", "cli:root")]


async def test_a_cancelled_campaign_is_taken_back_where_its_message_was_read(tmp_path: Path) -> None:
    """A mistaken alert cancelled: every contact it reached hears so, in its household's language,
    once per phone (two households share one), with nothing to answer; statuses stay as they were.
    Without `tell_households` only the heads and deputies are told."""
    from replies_fixtures import start_campaign

    from safetynet.domain.campaigns import NOTICE_DELAY_SECONDS

    async with running_app(tmp_path) as env:
        await env.dispatch()  # step 0: SMS to the phones, Telegram to A-003 (English)
        first_sms = {r.address: r.text or "" for r in env.sandbox.messages("sms")}
        assert set(first_sms) == {"+819011110001", "+819011110002", "+819022220001"}
        statuses = {k: await env.status(k) for k in env.households}
        headers = await _api_token(env, Role.CITY_ADMIN, "city")
        async with env.http.post(f"{env.url}/api/campaigns/{env.campaign_id}/cancel", json={"tell_households": 1},
                                 headers=headers) as resp:
            assert resp.status == 400  # not a yes or a no: nothing cancelled
        async with env.http.post(f"{env.url}/api/campaigns/{env.campaign_id}/cancel", headers=headers) as resp:
            assert resp.status == 200 and (await resp.json())["state"] == "cancelled"
        await env.dispatch()
        assert not [r for r in env.sandbox.messages("sms") if "取り消しました" in (r.text or "")]  # not yet: the
        await env.clock.advance(NOTICE_DELAY_SECONDS)  # deliveries claimed at the cancel settle first
        await env.dispatch()
        # a push notice shown (its service worker posts `seen`) is no sign of life: nobody becomes read
        async with env.http.post(f"{env.reply_url('A-001')}/seen") as resp:
            assert resp.status == 204
        notices = [r for r in env.sandbox.messages("sms") if "取り消しました" in (r.text or "")]
        assert sorted(r.address for r in notices) == ["+819011110001", "+819011110002", "+819022220001"]
        assert all((r.text or "").startswith("【訓練】【") and "「地震 安否確認」は取り消しました。回答の必要はありません。"
                   in (r.text or "") and "http" not in (r.text or "") for r in notices)
        (tg,) = [r for r in env.sandbox.messages("telegram") if "cancelled" in (r.text or "")]
        assert tg.address == "5550003" and "The safety check we sent earlier ('地震 安否確認') has been cancelled" in (tg.text or "")
        assert {k: await env.status(k) for k in env.households} == statuses  # a notice is no answer, no failure

        # a second drill, cancelled without telling the households: nothing more reaches them
        other = await start_campaign(env, title="二回目の訓練")
        sent_before = len(env.sandbox.messages())
        await env.dispatch()
        before = len(env.sandbox.messages())
        assert before > sent_before  # its message went out
        async with env.http.post(f"{env.url}/api/campaigns/{other}/cancel", json={"tell_households": False},
                                 headers=headers) as resp:
            assert resp.status == 200
        await env.clock.advance(NOTICE_DELAY_SECONDS)
        await env.dispatch()
        assert len(env.sandbox.messages()) == before


async def test_a_deputy_added_during_the_event_hears_of_the_calls_for_help_still_open(tmp_path: Path) -> None:
    """Review: a deputy appointed in the night heard of none of the open calls for help: only those asked
    for after her account was made reached her, and the dashboard showed the rest."""
    async with running_app(tmp_path) as env:
        await add_staff(env, "head-a", Role.ASSOCIATION_HEAD, ASSOC_A, telegram="8880001")
        for key in ("A-002", "A-003"):
            async with env.http.post(env.reply_url(key), data={"status": "need_help", "k": f"h-{key}"}) as r:
                assert r.status == 200
        assert await env.store.replies.mark_handled(env.campaign_id, env.hh("A-003").id, None, "head-a")
        await env.dispatch()
        admin = await env.store.auth.add_staff("bousai", "防災課", Role.CITY_ADMIN, "city", None)
        cookie, csrf = new_token(), new_token()
        await env.store.auth.create_session(token_hash(cookie), admin.id, csrf, 3600)
        async with env.http.post(f"{env.url}/admin/staff", cookies={SESSION_COOKIE: cookie}, data={
                "csrf": csrf, "login": "fuku1", "display_name": "副会長", "role": "deputy",
                "scope": f"association:{ASSOC_A}", "password": "", "contact_telegram": "8880007"}) as r:
            assert r.status == 200
        await env.dispatch()
        told = [m.text or "" for m in env.sandbox.messages("telegram") if m.address == "8880007"]
        assert len(told) == 1 and "佐藤 花子" in told[0]  # A-002's, open; not A-003's, handled
        sent = [(e.actor, e.what, e.household_id) for e in await env.store.audit.entries() if e.action == "notify"]
        assert ("fuku1", "help", env.hh("A-002").id) in sent
        # her phone lost and its number replaced: the new one hears of it too, the others not again (the
        # day's reread: the alerts queued for the lost phone were dropped and the new number heard nothing)
        async with env.http.post(f"{env.url}/admin/staff/contacts", cookies={SESSION_COOKIE: cookie}, data={
                "csrf": csrf, "login": "fuku1", "contact_telegram": "8880008"}) as r:
            assert r.status == 200
        await env.dispatch()
        assert [m.address for m in env.sandbox.messages("telegram") if m.address in ("8880007", "8880008")] == [
            "8880007", "8880008"]

"""Staff alerts (need help, door-knock list) carry no resident answer buttons, over the real clients.

A message without a reply token is for a head or deputy: over Telegram no safe / need-help keyboard
(a public https dashboard link gets an "open" button instead), over web push no answer actions (a tap
opens the link). Residents' messages keep theirs. What the sandbox received is what is checked.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from channel_helpers import REPLY_TOKEN, outbound, running_sandbox, sender_of, started
from replies_fixtures import ASSOC_A, Env, add_staff, running_app

from safetynet.channels.base import OutboundMessage
from safetynet.channels.telegram import sender as tg_sender
from safetynet.domain import Role

CHAT = "5550001"
PUBLIC = "https://bousai.example.jp"


def _staff(msg: OutboundMessage, link: str) -> OutboundMessage:
    """What HelpNotifier sends: the dashboard link in place of a reply URL, and no token."""
    return dataclasses.replace(msg, household_id=0, reply_url=link, reply_token="", text=f"【助けが必要】 {link}")


def _buttons(markup: Any) -> list[dict[str, Any]]:
    return [b for row in (markup or {}).get("inline_keyboard", []) for b in row]


async def test_telegram_staff_alert_has_no_answer_keyboard(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path) as (sb, cfg), started(sender_of(cfg, "telegram", "")) as sender:
        resident = outbound("telegram", CHAT, language="en")
        await sender.send(resident)
        await sender.send(_staff(resident, "http://127.0.0.1:8080/a/4"))  # Telegram would refuse this URL
        await sender.send(_staff(resident, f"{PUBLIC}/a/4"))
        home, local, public = sb.messages("telegram")
        assert [b["callback_data"] for b in _buttons(home.data["reply_markup"])] == [
            f"safe:{REPLY_TOKEN}", f"need_help:{REPLY_TOKEN}",
        ]
        assert local.data["reply_markup"] is None
        assert _buttons(public.data["reply_markup"]) == [{"text": "Open", "url": f"{PUBLIC}/a/4"}]
        for rec in (local, public):
            assert rec.data["link_preview_options"] == {"is_disabled": True}


def test_link_button_only_for_a_public_https_host() -> None:
    assert tg_sender.link_keyboard(f"{PUBLIC}/a/1", "ja") is not None
    for url in ("http://bousai.example.jp/a/1", "https://127.0.0.1/a/1", "https://localhost/a/1",
                "https://[2001:db8::1]/a/1", ""):
        assert tg_sender.link_keyboard(url, "ja") is None, url


async def test_webpush_staff_alert_has_no_answer_actions(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path) as (sb, cfg):
        sender = sender_of(cfg, "webpush")
        async with started(sender):
            sub = json.dumps(sb.fake("webpush").subscribe(sender.keys.application_server_key))
            resident = outbound("webpush", sub)
            await sender.send(resident)
            await sender.send(_staff(resident, f"{PUBLIC}/a/4"))
        home, staff = (r.data["payload"] for r in sb.messages("webpush"))
        assert [a["action"] for a in home["actions"]] == ["safe", "need_help"] and home["token"] == REPLY_TOKEN
        assert "actions" not in staff and "pending" not in staff and not staff["token"] and staff["url"] == f"{PUBLIC}/a/4"


async def _staff_of_a(env: Env) -> str:
    key = env.senders["webpush"].keys.application_server_key  # type: ignore[attr-defined]
    sub = env.sandbox.fake("webpush").subscribe(key)
    await add_staff(env, "head-a", Role.ASSOCIATION_HEAD, ASSOC_A, telegram="8880001", webpush=json.dumps(sub))
    await add_staff(env, "deputy-a1", Role.DEPUTY, ASSOC_A, telegram="8880002")
    return str(sub["endpoint"]).rsplit("/", 1)[1]


async def test_need_help_alert_to_staff_carries_the_dashboard_not_the_answers(tmp_path: Path) -> None:
    async with running_app(tmp_path, SAFETYNET_SERVER_PUBLIC_URL=PUBLIC) as env:
        sub_id = await _staff_of_a(env)
        await env.send_alert("A-002", "telegram", "7770002")  # the resident's own alert
        async with env.http.post(env.reply_url("A-002"), data={"status": "need_help", "k": "help-0001"}) as r:
            assert r.status == 200
        await env.dispatch()
        dashboard = f"{PUBLIC}/a/{env.hh('A-002').association_id}?campaign={env.campaign_id}"
        by_chat = {r.address: r for r in env.sandbox.messages("telegram")}
        assert {"7770002", "8880001", "8880002"} <= set(by_chat)
        assert {r.address for r in env.staff_messages("telegram")} == {"8880001", "8880002"}
        resident_buttons = _buttons(by_chat["7770002"].data["reply_markup"])
        assert {b["callback_data"].split(":")[0] for b in resident_buttons} == {"safe", "need_help"}
        for chat in ("8880001", "8880002"):
            assert _buttons(by_chat[chat].data["reply_markup"]) == [{"text": "開く", "url": dashboard}]
        push = env.sandbox.state.find("webpush", sub_id)
        assert push is not None and "actions" not in push.data["payload"]
        assert push.data["payload"]["url"] == dashboard


async def test_staff_alert_on_a_local_server_has_no_buttons_at_all(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:  # public_url on loopback: no link button Telegram would refuse
        await _staff_of_a(env)
        async with env.http.post(env.reply_url("A-002"), data={"status": "need_help", "k": "help-0001"}) as r:
            assert r.status == 200
        await env.dispatch()
        staff = env.staff_messages("telegram")
        assert len(staff) == 2 and all(r.data["reply_markup"] is None for r in staff)

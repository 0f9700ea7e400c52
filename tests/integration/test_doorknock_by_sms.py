"""A head or deputy whose alerts come by SMS gets the door-knock list's household numbers, by 班.

QA (a head and her deputies walking the door-knock list): a deputy with only a feature phone got the
ladder's last step by SMS, 「未回答 6 世帯」 and a link to a page her phone cannot open: she knew how many
households, not which. The texts go through the sandbox's SMS over loopback (the real twilio client),
the other channels through their own fakes; both stores.
"""

from __future__ import annotations

import re
from pathlib import Path

from replies_fixtures import ASSOC_A, Env, add_staff, running_app, start_campaign
from roster_helpers import household

from safetynet.broadcast.ladder import LadderScheduler
from safetynet.channels.sms.segments import MAX_SEGMENTS, fit_sms, segment_count
from safetynet.domain import Role
from safetynet.domain.roster import HouseholdRecord
from safetynet.replies.notify import StaffNotifier

DEPUTY = "+819088880002"
HEAD_TELEGRAM = "8880001"
DEPUTY_LINE = "U" + "d2" * 16
DEPUTY_EMAIL = "deputy3@example.jp"
TOP = "【訓練】【戸別訪問リスト】桜町一丁目町会: 未回答 {n} 世帯。訪問して確認してください。"


def _hh(group: str, key: str, address: str, phone: str = "", consent: str = "yes") -> HouseholdRecord:
    return household("桜地区", ASSOC_A, group, key, f"山田{key}", address, 2, False, "ja", phone=phone,
                     consent=consent)


async def _city(env: Env, records: list[HouseholdRecord]) -> None:
    await env.store.roster.import_households(records)
    env.campaign_id = await start_campaign(env)


async def _door_knock_step(env: Env) -> str:
    """The ladder's last step (+30 min on the default ladder), its alerts sent; the list's link."""
    ladder = LadderScheduler(env.store.campaigns, env.clock,
                             notifier=StaffNotifier(env.store, env.cfg, env.senders, env.clock))
    await env.clock.advance(1800)
    await ladder.tick()
    await env.dispatch()
    [a] = [a for a in await env.store.roster.list_associations() if a.name == ASSOC_A]
    return f"{env.cfg.server.public_url}/a/{a.id}/doorknock?campaign={env.campaign_id}"


async def test_an_sms_deputy_gets_the_numbers_by_group_and_the_other_channels_the_link(tmp_path: Path) -> None:
    async with running_app(tmp_path, seeded=False) as env:
        await _city(env, [
            _hh("1班", "12", "桜町1-12"), _hh("1班", "3", "桜町1-3"), _hh("10班", "5", "桜町10-5"),
            _hh("", "30", "桜町3-1"), _hh("1班", "7", "桜町1-7"),
            _hh("2班", "21", "桜町2-1", consent="no"),  # withheld on the page: its number shows anyway
            _hh("1班", "8", "桜町1-8", phone="+819011110008"),  # answers 無事: not on the list
        ])
        await add_staff(env, "deputy-a", Role.DEPUTY, ASSOC_A, phone=DEPUTY)
        await add_staff(env, "head-a", Role.ASSOCIATION_HEAD, ASSOC_A, telegram=HEAD_TELEGRAM)
        await add_staff(env, "deputy-a2", Role.DEPUTY, ASSOC_A, line=DEPUTY_LINE)
        await add_staff(env, "deputy-a3", Role.DEPUTY, ASSOC_A, email=DEPUTY_EMAIL)
        await env.sandbox.fake("sms").reply("+819011110008", "1")
        await env.intake.idle()
        link = await _door_knock_step(env)

        # walking order, as the door-knock page: 1班 by address (1-3 before 1-12), 2班 before 10班, 班なし last
        [sms] = [r.text for r in env.staff_messages("sms")]
        assert sms == (f"{TOP.format(n=6)}\n会えたら「訪問済み 3」のように返信\n"
                       f"1班: 3、7、12／2班: 21／10班: 5／班なし: 30\n{link}")
        assert "山田" not in sms and "1-12" not in sms  # numbers only: no names or addresses by SMS
        said = [*(r.text for r in env.staff_messages("telegram")), *(r.text for r in env.staff_messages("line")),
                *(r.text for r in env.staff_messages("email"))]
        assert len(said) == 3
        # the other channels keep the count and the link, word for word (a mail ends its last line)
        assert [(text or "").rstrip("\n") for text in said] == [f"{TOP.format(n=6)}\n{link}"] * 3


async def test_a_long_list_by_sms_is_cut_with_how_many_more(tmp_path: Path) -> None:
    async with running_app(tmp_path, seeded=False) as env:
        # 120 households in 6 班 of 20, numbered 1..120 in walking order
        await _city(env, [_hh(f"{g}班", str((g - 1) * 20 + i), f"桜町{g}-{i}") for g in range(6, 0, -1)
                          for i in range(20, 0, -1)])
        await add_staff(env, "deputy-a", Role.DEPUTY, ASSOC_A, phone=DEPUTY)
        link = await _door_knock_step(env)

        [sms] = [r.text for r in env.staff_messages("sms")]
        assert sms is not None and segment_count(sms) <= MAX_SEGMENTS and fit_sms(sms, link)[0] == sms
        top, reply, listed, more = sms.split("\n")
        assert top == TOP.format(n=120) and reply == "会えたら「訪問済み 1」のように返信"
        assert listed.startswith("1班: 1、2、3、")
        shown = [int(n) for part in listed.split("／") for n in part.split(": ")[1].split("、")]
        assert shown == list(range(1, len(shown) + 1)) and 20 < len(shown) < 120  # the first of the walk
        m = re.fullmatch(r"ほか(\d+)世帯はページで(: .*)?", more)
        assert m is not None and int(m[1]) == 120 - len(shown)
        assert m[2] in (None, f": {link}")

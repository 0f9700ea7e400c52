"""The city overview names the associations whose need-help alerts would reach no one, at all times (QA: a
city where one association had a head and the admin had no contact: need_help from every other association
queued nothing, and no page said so), and, folded, those whose alerts only staff standing in would get.
The page asks the notifier's own rule: what it says is what `HelpNotifier` then does."""

from __future__ import annotations

import re
from pathlib import Path

from dashboard_fixtures import (
    ASSOC_A,
    ASSOC_A2,
    ASSOC_B,
    STAFF,
    World,
    client,
    index_households,
    login,
    password_hash,
    records,
    start_campaign,
    world,
)

from safetynet.clock import FakeClock
from safetynet.replies.notify import HelpNotifier, NotifyReport
from safetynet.web.city_pages import STAFF_TTL_SECONDS


def nobody(html: str) -> str:
    """The warning of associations no alert reaches ('' when there is none)."""
    m = re.search(r'<section class="help reach-nobody".*?</section>', html, re.S)
    return m.group(0) if m else ""


def leaning(html: str) -> str:
    """The folded list of associations only standing-in staff would hear of ('' when there is none)."""
    m = re.search(r'<details class="reach-standing-in".*?</details>', html, re.S)
    return m.group(0) if m else ""


async def city(w: World, who: str, lang: str = "ja") -> str:
    async with client() as http:
        await login(http, w, who)
        async with http.get(f"{w.url}/city?lang={lang}") as r:
            assert r.status == 200
            return await r.text()


async def staff_id(w: World, login_name: str) -> int:
    found = await w.store.auth.staff_by_login(login_name)
    assert found is not None
    return found[0].id


async def ask_help(w: World, key: str, campaign_id: int) -> NotifyReport:
    """A need-help answer and the alert the real notifier queues for it."""
    await w.answer(key, "need_help", campaign_id)
    notifier = HelpNotifier(w.store, w.cfg, w.cfg.channels.enabled(), w.clock)
    return await notifier.notify(campaign_id, w.hh(key).id)


async def later(w: World) -> None:
    assert isinstance(w.clock, FakeClock)
    await w.clock.advance(STAFF_TTL_SECONDS)


async def test_quiet_times_name_the_associations_no_help_alert_reaches(tmp_path: Path) -> None:
    # no campaign at all: the roster and the staff, none of whom has a contact
    async with world(tmp_path, seeded=False) as w:
        await w.store.roster.import_households(records())
        await index_households(w)
        for name, role, scope in STAFF:
            await w.store.auth.add_staff(name, name.upper(), role, scope, password_hash(name))
        a, a2, b = (w.assoc_ids[n] for n in (ASSOC_A, ASSOC_A2, ASSOC_B))
        html = await city(w, "admin")
        assert 'data-campaign="' not in html  # quiet: no campaign to show
        block = nobody(html)
        assert 'data-reach-nobody="3"' in block and "「助けが必要」の知らせが誰にも届かない町会: 3" in block
        for aid, name in ((a, ASSOC_A), (a2, ASSOC_A2), (b, ASSOC_B)):
            assert f'<a href="/a/{aid}" data-reach-assoc="{aid}">{name}</a>' in block
        assert 'href="/admin"' in block and leaning(html) == ""
        # the district head: their district's associations only, and no staff page to go to
        block = nobody(await city(w, "dhead"))
        assert 'data-reach-nobody="2"' in block and ASSOC_B not in block and 'href="/admin"' not in block
        # an association's head: not theirs to see
        html = await city(w, "head_a")
        assert nobody(html) == "" and leaning(html) == ""
        english = nobody(await city(w, "admin", "en"))
        assert "Associations whose need-help alerts reach no one: 3" in english and "Register staff contacts" in english


async def test_the_warning_says_what_the_notifier_does(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        a, a2, b = (w.assoc_ids[n] for n in (ASSOC_A, ASSOC_A2, ASSOC_B))
        running = w.campaign_id
        assert 'data-reach-nobody="3"' in nobody(await city(w, "admin"))  # during a campaign as well
        assert await ask_help(w, "B-001", running) == NotifyReport(0, 0)  # and indeed: no alert queued

        # QA's city: A's head has a phone, nobody else has a contact
        await w.store.auth.set_staff_contacts(await staff_id(w, "head_a"), {"mobile": "+819077770001"})
        await later(w)  # the staff read is shared for a few seconds
        html = await city(w, "admin")
        block = nobody(html)
        assert 'data-reach-nobody="2"' in block and f'data-reach-assoc="{a}"' not in block
        assert f'data-reach-assoc="{a2}"' in block and f'data-reach-assoc="{b}"' in block
        assert leaning(html) == ""  # A is told through its own head
        assert (await ask_help(w, "A-001", running)).queued == 1
        assert await ask_help(w, "A2-001", running) == NotifyReport(0, 0)

        # the district head of 桜地区 gets a phone: A2 leans on them, B (梅地区) still reaches nobody
        await w.store.auth.set_staff_contacts(await staff_id(w, "dhead"), {"mobile": "+819077770002"})
        await later(w)
        html = await city(w, "admin")
        assert 'data-reach-nobody="1"' in nobody(html) and f'data-reach-assoc="{b}"' in nobody(html)
        folded = leaning(html)
        assert 'data-reach-standing-in="1"' in folded and f'<a href="/a/{a2}" data-reach-assoc="{a2}">' in folded
        assert "地区長・市の管理者が代わりに受け取る町会: 1" in folded
        assert html.index("reach-nobody") < html.index("reach-standing-in") < html.index('id="curve"')
        assert (await ask_help(w, "A2-002", running)).recipients == 1  # the district head, standing in
        assert await ask_help(w, "B-002", running) == NotifyReport(0, 0)
        dhead = await city(w, "dhead")
        assert nobody(dhead) == "" and f'data-reach-assoc="{a2}"' in leaning(dhead)  # B is not theirs

        # the city's admin gets a contact: every association reaches someone, B through the admin
        await w.store.auth.set_staff_contacts(await staff_id(w, "admin"), {"telegram": "777000111"})
        await later(w)
        html = await city(w, "admin")
        assert nobody(html) == "" and 'data-reach-standing-in="2"' in leaning(html)
        assert (await ask_help(w, "B-001", await start_campaign(w, title="二回目"))).recipients == 1

        # A's head leaves: A is left to its district's head
        await w.store.auth.remove_staff("head_a")
        await later(w)
        assert f'data-reach-assoc="{a}"' in leaning(await city(w, "admin"))

"""The contact check on staff pages: the console's button (city admins only, one person), and the
check's figures beside the coverage of the association dashboard and the city overview."""

from __future__ import annotations

import re
from pathlib import Path

from dashboard_fixtures import ASSOC_A, SECRET, client, login, world

from safetynet.domain import CampaignKind, CampaignState
from safetynet.replies.tokens import check_token, token_hash
from safetynet.web.check_console import TALLY_STALE_SECONDS, TALLY_TTL_SECONDS


def _row(html: str, kind: str) -> dict[str, int]:
    m = re.search(rf'<tr data-kind="{kind}">(.*?)</tr>', html)
    assert m, kind
    return {k: int(v.replace(",", "")) for k, v in re.findall(r'<td data-k="(\w+)">([\d,]+)</td>', m.group(1))}


async def test_console_check_and_its_result_on_the_dashboards(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http, client() as head:
        csrf = await login(http, w, "admin")
        async with http.get(f"{w.url}/city") as r:
            page = await r.text()
        assert 'action="/city/campaigns/check"' in page
        assert _row(page, "mobile") == {"confirmed": 0, "unconfirmed": 0, "dead": 0, "unchecked": 8, "reachable": 8}
        await login(head, w, "head_a")
        async with head.get(f"{w.url}/a/{w.assoc_ids[ASSOC_A]}") as r:
            assert _row(await r.text(), "mobile")["unchecked"] == 3  # before the check

        # it goes out at once to every contact in scope: not without the box ticked (QA: one click sent it)
        assert 'name="really" value="1" required> 選んだ範囲のすべての連絡先に、すぐ送ります' in page
        async with http.post(f"{w.url}/city/campaigns/check", data={"csrf": csrf, "scope": f"association:{ASSOC_A}"},
                             allow_redirects=False) as r:
            assert r.status == 400 and "取り消せません" in await r.text()
        assert await w.store.dashboard.latest_campaign_for(None) == await w.store.dashboard.campaign(w.campaign_id)
        async with http.post(f"{w.url}/city/campaigns/check", data={"csrf": csrf, "scope": f"association:{ASSOC_A}", "really": "1"},
                             allow_redirects=False) as r:
            assert r.status == 303, await r.text()
            cid = int(r.headers["Location"].rsplit("=", 1)[1])
        c = await w.store.campaigns.get(cid)
        assert c is not None and c.kind == CampaignKind.CHECK and c.state == CampaignState.RUNNING  # one person
        # named what it is, never 訓練 (QA2), in its badge and in the campaign picker
        async with http.get(f"{w.url}/city?campaign={cid}") as r:
            shown = await r.text()
        assert '<span class="badge k-check">連絡先確認</span>' in shown and "(連絡先確認, 実施中)" in shown
        assert 'class="badge k-drill"' not in shown.split('class="campaign"')[1].split("</p>")[0]

        contacts = {}
        for key in ("A-001", "A-004"):
            h = await w.store.roster.get_household(w.hh(key).id)
            assert h is not None
            contacts[key] = next(ct for ct in h.contacts if ct.kind == "mobile")
        assert await w.store.replies.confirm_check(token_hash(check_token(SECRET, cid, contacts["A-001"].id)),
                                                   w.clock.now())
        assert await w.store.roster.mark_contact_dead(contacts["A-004"].id, "invalid_number")  # a bounce
        assert await w.store.campaigns.close(cid, w.clock.now())  # its silence counts once it is closed

        # 桜町一丁目's mobiles: A-001 confirmed, A-004 dead, A-005 asked and silent: one household reachable
        # (the dashboard reads its association's tally fresh: no time has passed since the last load)
        async with head.get(f"{w.url}/a/{w.assoc_ids[ASSOC_A]}") as r:
            dash = await r.text()
        assert r.status == 200
        assert _row(dash, "mobile") == {"confirmed": 1, "unconfirmed": 1, "dead": 1, "unchecked": 0, "reachable": 1}
        assert _row(dash, "landline")["unchecked"] == 1  # a landline is not asked (no link to tap)
        assert 'class="contact-check"' in dash and "連絡先確認の結果" in dash

        # the city: the other associations' five mobiles were not in this check (the overview read its
        # tallies before the answers: they are cached 5 s, then served stale while read again)
        await w.clock.advance(TALLY_TTL_SECONDS + TALLY_STALE_SECONDS + 0.1)
        async with http.get(f"{w.url}/city") as r:
            city = await r.text()
        assert _row(city, "mobile") == {"confirmed": 1, "unconfirmed": 1, "dead": 1, "unchecked": 5, "reachable": 6}

        # a head has no check button, and may not start one
        async with head.get(f"{w.url}/city") as r:
            assert 'action="/city/campaigns/check"' not in await r.text()

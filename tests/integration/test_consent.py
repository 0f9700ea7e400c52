"""Consent (同意, DESIGN §9): the roster column, the disclosure rule, and the need-help alerts to heads."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from replies_fixtures import ASSOC_A, Env, add_staff, records, running_app, start_campaign
from roster_helpers import EN, JA, csv_bytes, row

from safetynet.auth import new_token, token_hash
from safetynet.domain import CampaignKind, Role
from safetynet.domain.consent import Consent, Disclosure, default_consent, scope_covers, withhold_history
from safetynet.domain.replies import HelpItem, HelpRow, HistoryEntry, Status
from safetynet.domain.roster import HouseholdLine
from safetynet.replies.notify import help_text
from safetynet.replies.tokens import reply_url
from safetynet.roster.csvio import header_row, parse_bytes, record_cells

# -- the rule -----------------------------------------------------------------------------------


def line(consent: str, group: str = "1班") -> HouseholdLine:
    return HouseholdLine(7, 1, group, "A-7", "佐藤 花子", "桜町1-1", 2, True, "pending", None, "+81311110002", True,
                         consent)


def test_a_no_household_is_shown_only_inside_a_running_real_event() -> None:
    heads = Disclosure(False)
    assert heads.lines([line("yes"), line("ordinance")], "桜地区", "桜町") == [line("yes"), line("ordinance")]
    (hidden,) = heads.lines([line("no")], "桜地区", "桜町")
    assert hidden.withheld and (hidden.household_key, hidden.group, hidden.status) == ("A-7", "1班", "pending")
    assert (hidden.name, hidden.address, hidden.landline, hidden.members, hidden.vulnerable) == ("", "", "", 0, False)
    assert Disclosure.everything().lines([line("no")], "桜地区", "桜町") == [line("no")]  # city admins
    for scope, shown in (("city", True), ("district:桜地区", True), ("association:桜町", True),
                         ("group:桜町/1班", True), ("group:桜町/2班", False), ("association:梅町", False),
                         ("district:梅地区", False)):
        got = Disclosure(False, frozenset({scope})).lines([line("no")], "桜地区", "桜町")
        assert (not got[0].withheld) is shown, scope


def test_a_withheld_help_card_keeps_its_number_group_and_answer_but_no_phone() -> None:
    item = HelpItem(7, 1, "1班", "佐藤 花子", "桜町1-1", 2, True, "台所", "home", 1, 0.0, "A-7", "no",
                    status="safe", status_at=5.0, landline="+81311110002", mobile="+819011110002")
    (hidden,) = Disclosure(False).help_items([item], "桜地区", "桜町")
    assert hidden.withheld and (hidden.household_key, hidden.group, hidden.status, hidden.status_at) == (
        "A-7", "1班", "safe", 5.0)
    assert (hidden.name, hidden.address, hidden.note, hidden.landline, hidden.mobile) == ("", "", "", "", "")
    assert Disclosure(False, frozenset({"city"})).help_items([item], "桜地区", "桜町") == [item]  # a real event


def test_scope_items_reach_their_households() -> None:
    assert scope_covers("city", "d", "a", "g")
    assert scope_covers("group:a/g", "d", "a", "g") and not scope_covers("group:a/h", "d", "a", "g")
    assert not scope_covers("group:b/g", "d", "a", "g") and not scope_covers("nonsense", "d", "a", "g")


def test_a_withheld_history_keeps_the_answers_but_not_what_was_written() -> None:
    e = HistoryEntry("need_help", "web", 1.0, 2, 1, "shelter", "台所にいます", None, None, id=3)
    (got,) = withhold_history([e])
    assert (got.status, got.channel, got.at, got.id) == ("need_help", "web", 1.0, 3)
    assert (got.note, got.location, got.people_safe, got.people_injured) == (None, None, None, None)


def test_the_alert_of_a_withheld_household_names_its_number_alone() -> None:
    row = HelpRow(1, 7, 1, "桜町", "桜地区", "1班", "佐藤 花子", "桜町1-1", 2, True, "ja", Status.NEED_HELP, 0.0,
                  None, None, "台所にいます", 1, "home", household_key="A-7", consent="no")
    hidden = Disclosure(False).help_row(row)
    for lang in ("ja", "en"):
        text = help_text(hidden, lang, drill=True, follow_up=False, link="https://x/a/1", campaign="地震訓練")
        assert "A-7" in text and "1班" in text and "https://x/a/1" in text
        assert "佐藤" not in text and "桜町1-1" not in text and "台所" not in text
        assert "地震訓練" in text  # which campaign, withheld details or not
    shown = help_text(Disclosure(False, frozenset({"city"})).help_row(row), "ja", drill=False, follow_up=False,
                      link="https://x/a/1", campaign="地震訓練")
    assert "佐藤 花子" in shown and "台所にいます" in shown


# -- the roster column ----------------------------------------------------------------------------


@pytest.mark.parametrize(("cell", "vulnerable", "expected"), [
    ("", "", "yes"), ("", "1", "no"), ("yes", "1", "yes"), ("同意", "", "yes"), ("○", "1", "yes"),
    ("no", "", "no"), ("不同意", "", "no"), ("ｎｏ", "", "no"), ("ordinance", "1", "ordinance"),
    ("条例", "1", "ordinance"), ("条例による提供", "", "ordinance"),
])
def test_consent_cells_are_read_in_either_language(cell: str, vulnerable: str, expected: str) -> None:
    result = parse_bytes(csv_bytes(EN, [row(consent=cell, vulnerable=vulnerable)]))
    assert result.ok, result.errors
    assert result.records[0].consent == expected


def test_an_unknown_consent_is_refused_at_its_row_and_column() -> None:
    result = parse_bytes(csv_bytes(JA, [row(), row(household="2", consent="たぶん")]))
    assert [str(e) for e in result.errors] == [
        "row 3, column 同意: 'たぶん' is not a consent (use yes/no/ordinance, 同意/不同意/条例, or leave empty:"
        " a registered household whose consent an earlier file stated keeps it; otherwise 同意 for an ordinary"
        " household, 不同意 for a 要配慮 one)"]
    assert result.records == []


def test_vulnerable_households_without_a_consent_are_counted_in_a_warning() -> None:
    rows = [row(household="1", vulnerable="1"), row(household="2", vulnerable="1", consent="同意"),
            row(household="3", vulnerable="1"), row(household="4")]
    result = parse_bytes(csv_bytes(EN, rows))
    assert [r.consent for r in result.records] == ["no", "yes", "no", "yes"]
    assert any(str(w).startswith("2 households marked vulnerable (要配慮) have an empty consent (同意) cell: each is"
                                 " read as no (不同意)") for w in result.warnings)
    # an empty cell states nothing (the import keeps a consent recorded); a cell that says so, something
    assert [r.consent_stated for r in result.records] == [False, True, False, False]
    assert not parse_bytes(csv_bytes(EN, [row()])).warnings


def test_the_export_writes_consent_back_as_it_reads() -> None:
    recs = [dataclasses.replace(r, consent=c) for r, c in zip(records(), Consent, strict=False)]
    for lang in ("ja", "en"):
        assert header_row(lang)[-1] == ("同意" if lang == "ja" else "consent")
        data = csv_bytes(header_row(lang), [record_cells(r, lang) for r in recs])
        assert [r.consent for r in parse_bytes(data).records] == ["yes", "no", "ordinance"]


def test_default_consent_follows_the_vulnerable_column() -> None:
    assert (default_consent(False), default_consent(True)) == (Consent.YES, Consent.NO)


# -- staff alerts end to end ----------------------------------------------------------------------


def _alerts(env: Env) -> list[str]:
    """The head's Telegram messages but the start notices (a real event's start tells its heads too)."""
    return [r.text or "" for r in env.staff_messages("telegram") if "【安否確認の開始】" not in (r.text or "")]


async def test_need_help_alerts_to_heads_follow_consent(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        await env.store.roster.import_households(
            [dataclasses.replace(r, consent="no") if r.household_key == "A-002" else r for r in records()])
        await add_staff(env, "head-a", Role.ASSOCIATION_HEAD, ASSOC_A, telegram="8880001")

        async def alert_after(key: str, note: str) -> str:
            async with env.http.post(env.reply_url(key), data={"status": "need_help", "note": note}) as r:
                assert r.status == 200
            await env.dispatch()
            return _alerts(env)[-1]

        drill = await alert_after("A-002", "二階にいます")
        assert "A-002" in drill and "佐藤" not in drill and "桜町1-1-2" not in drill and "二階" not in drill
        assert "山田 太郎" in await alert_after("A-001", "無事ではない")  # consented: as before
        real = await start_campaign(env, CampaignKind.REAL, scope=[f"association:{ASSOC_A}"])
        during = await alert_after("A-002", "足をけがしました")  # the drill's answer, a real event running
        assert "佐藤 花子" in during and "桜町1-1-2" in during and "足をけがしました" in during

        # QA: asking the real event for help just after it closed (its link still takes answers) told the
        # resident 「町会に知らせます」 while the head got the number alone, on the alert and the card
        assert await env.store.campaigns.close(real, env.clock.now())
        async with env.http.post(reply_url(env.url, env.token("A-002", real)),
                                 data={"status": "need_help", "note": "余震で家が傾いた"}) as r:
            assert r.status == 200
        await env.dispatch()
        after = _alerts(env)[-1]
        assert "佐藤 花子" in after and "桜町1-1-2" in after and "余震で家が傾いた" in after
        head = {"Authorization": f"Bearer {await _head_token(env)}"}
        aid = env.hh("A-002").association_id
        async with env.http.get(f"{env.url}/a/{aid}?campaign={real}", headers=head) as r:
            page = await r.text()
        card = page[page.index('id="help-items"'):page.index('data-count="need_help"')]
        assert "佐藤 花子" in card and "余震で家が傾いた" in card
        async with env.http.get(f"{env.url}/a/{aid}?campaign={env.campaign_id}", headers=head) as r:
            drill_page = await r.text()  # the drill's card of the same household: the rule as before
        assert "佐藤 花子" not in drill_page[drill_page.index('id="help-items"'):drill_page.index('data-count="need_help"')]


async def _head_token(env: Env) -> str:
    token = new_token()
    await env.store.auth.create_api_token(token_hash(token), Role.ASSOCIATION_HEAD, f"association:{ASSOC_A}",
                                          label="head")
    return token

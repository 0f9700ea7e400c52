"""Enrolment by a confirmation link (ENROL_CONFIRM_LINK, what email will use), on a channel of the
sandbox: the link goes to the typed address over the channel itself, only the page's POST confirms,
a link works once, and a link for one channel confirms nothing on another."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from replies_fixtures import enrolment_code, running_app

from safetynet import i18n
from safetynet.channels import registry
from safetynet.channels.spec import ENROL_CONFIRM_LINK, Enrolment
from safetynet.domain.phones import to_e164
from safetynet.replies.enrol import ChannelRefused, EnrolledHousehold, confirm_link
from safetynet.replies.enrol import Enrolment as Enrolling
from safetynet.web.enrol_views import confirm_link_page

# The SMS channel as if it confirmed addresses by a link (as email will), with words of its own: a
# channel's words are catalog keys its spec names (the catalogs get them for the test only).
LINKED = dataclasses.replace(
    registry.spec("sms"),
    enrolment=Enrolment(ENROL_CONFIRM_LINK, "mobile", parse=to_e164,
                        words={"title": "enrol.sms.title", "message": "test.linked.message",
                               "confirm": "test.linked.confirm"}),
)
WORDS = {"test.linked.message": "登録の確認: {link}", "test.linked.confirm": "この番号で受け取る"}


@pytest.fixture(autouse=True)
def linked_words(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, text in WORDS.items():
        monkeypatch.setitem(i18n._TEXTS["ja"], key, text)


async def test_a_link_sent_over_the_channel_confirms_the_address_once(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        code = await enrolment_code(env, "B-001")
        enrol = Enrolling(env.store, env.cfg, env.clock, env.senders, specs=[LINKED])
        await enrol.start_confirm("sms", code, "090-5555-0009")
        (sent,) = env.sandbox.messages("sms")
        assert sent.address == "+819055550009" and sent.text and sent.text.startswith("登録の確認: ")
        link = re.search(r"https?://\S+", sent.text)
        assert link and link.group(0).startswith(f"{env.cfg.server.public_url}/join/{code}/sms/confirm?t=")
        secret = parse_qs(urlsplit(link.group(0)).query)["t"][0]
        household = await env.store.roster.get_household(env.hh("B-001").id)
        assert household is not None and "+819055550009" not in {c.address for c in household.contacts}
        contact = await enrol.confirm("sms", code, secret)
        assert (contact.kind, contact.address, contact.source) == ("mobile", "+819055550009", "enrolment")
        with pytest.raises(ChannelRefused) as again:
            await enrol.confirm("sms", code, secret)
        assert again.value.role == "wrong"


async def test_a_link_of_one_channel_confirms_nothing_on_another(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        code = await enrolment_code(env, "B-001")
        linked = Enrolling(env.store, env.cfg, env.clock, env.senders, specs=[LINKED])
        await linked.start_confirm("sms", code, "090-5555-0010")
        (sent,) = env.sandbox.messages("sms")
        secret = parse_qs(urlsplit(re.search(r"https?://\S+", sent.text or "").group(0)).query)["t"][0]  # type: ignore[union-attr]
        other = dataclasses.replace(LINKED, name="othermail")
        with pytest.raises(ChannelRefused):
            await Enrolling(env.store, env.cfg, env.clock, env.senders, specs=[other]).confirm("othermail", code, secret)


def test_the_link_page_confirms_only_by_its_button() -> None:
    page = confirm_link_page("K7QM-4XPA-93TF-R2DN", "ja", EnrolledHousehold(1, "桜町", "山田", "ja"), LINKED, "s3cr3t")
    assert 'method="post" action="/join/K7QM-4XPA-93TF-R2DN/sms/confirm"' in page
    assert 'name="confirm_code" value="s3cr3t"' in page and "この番号で受け取る" in page
    url = confirm_link("https://safety.example.jp/", "K7QM-4XPA-93TF-R2DN", "sms", "a/b")
    assert url == "https://safety.example.jp/join/K7QM-4XPA-93TF-R2DN/sms/confirm?t=a%2Fb"

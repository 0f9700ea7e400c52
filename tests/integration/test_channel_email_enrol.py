"""Enrolment by email on /join/{code}: a confirmation mail through aiosmtplib to the sandbox's SMTP
server, its link opened (nothing changes), its button pressed (the address becomes the household's
contact), a link working once and not after a day."""

from __future__ import annotations

import re
from email import message_from_string, policy
from pathlib import Path

from replies_fixtures import enrolment_code, running_app

from safetynet.i18n import t


def _link(text: str | None) -> str:
    m = re.search(r"https?://\S+/confirm\?t=\S+", text or "")
    assert m, text
    return m.group(0)


async def test_an_address_is_added_only_when_its_confirmation_link_is_used(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        code = await enrolment_code(env, "B-001")
        async with env.http.get(f"{env.url}/join/{code}") as resp:
            page = await resp.text()
            assert resp.status == 200 and t("ja", "enrol.email.title") in page and 'type="email"' in page
        async with env.http.post(f"{env.url}/join/{code}/email", data={"address": " Taro.Y@DOCOMO.ne.jp "}) as resp:
            assert resp.status == 200 and t("ja", "enrol.email.sent") in await resp.text()
        (mail,) = env.sandbox.messages("email")
        assert mail.address == "Taro.Y@docomo.ne.jp"
        assert mail.data["subject"] == t("ja", "enrol.email.subject")
        raw = message_from_string(mail.data["raw"], policy=policy.default)
        assert raw["Subject"] == t("ja", "enrol.email.subject") and "X-SafetyNet-Drill" not in raw
        link = _link(mail.text)
        assert link.startswith(f"{env.cfg.server.public_url}/join/{code}/email/confirm?t=")
        async with env.http.get(link) as resp:  # a mail scanner opening the link changes nothing
            assert resp.status == 200 and t("ja", "enrol.email.confirm") in await resp.text()
        household = await env.store.roster.get_household(env.hh("B-001").id)
        assert household is not None and "Taro.Y@docomo.ne.jp" not in {c.address for c in household.contacts}
        secret = link.partition("?t=")[2]
        async with env.http.post(f"{env.url}/join/{code}/email/confirm", data={"confirm_code": secret}) as resp:
            assert resp.status == 200 and t("ja", "enrol.email.done") in await resp.text()
        household = await env.store.roster.get_household(env.hh("B-001").id)
        assert household is not None
        assert ("email", "Taro.Y@docomo.ne.jp", "enrolment") in {(c.kind, c.address, c.source) for c in household.contacts}
        async with env.http.post(f"{env.url}/join/{code}/email/confirm", data={"confirm_code": secret}) as resp:
            assert resp.status == 400 and t("ja", "enrol.email.wrong") in await resp.text()  # a link works once


async def test_a_link_expires_after_a_day_and_bad_addresses_are_refused(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        code = await enrolment_code(env, "B-001")
        async with env.http.post(f"{env.url}/join/{code}/email", data={"address": "not an address"}) as resp:
            assert resp.status == 400 and t("ja", "enrol.email.bad_address") in await resp.text()
        assert env.sandbox.messages("email") == []
        async with env.http.post(f"{env.url}/join/{code}/email", data={"address": "hanako@ezweb.ne.jp"}) as resp:
            assert resp.status == 200
        secret = _link(env.sandbox.messages("email")[0].text).partition("?t=")[2]
        await env.clock.advance(24 * 3600 + 1)
        async with env.http.post(f"{env.url}/join/{code}/email/confirm", data={"confirm_code": secret}) as resp:
            assert resp.status == 400
        household = await env.store.roster.get_household(env.hh("B-001").id)
        assert household is not None and all(c.kind != "email" for c in household.contacts)


async def test_an_unknown_mailbox_is_told_on_the_page(tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        env.sandbox.fake("email").answer(r"^nobody@", "550 5.1.1 User unknown")
        code = await enrolment_code(env, "B-001")
        async with env.http.post(f"{env.url}/join/{code}/email", data={"address": "nobody@docomo.ne.jp"}) as resp:
            assert resp.status == 400 and t("ja", "enrol.email.bad_address") in await resp.text()


async def test_a_relay_that_fails_is_not_blamed_on_the_address(tmp_path: Path) -> None:
    """Review: a mail server that refused for a while (451), or one refusing our own sender, was
    answered "check the email address" to a resident who had typed it right."""
    async with running_app(tmp_path) as env:
        env.sandbox.fake("email").answer(r"^busy@", "451 4.3.0 Try again later")
        env.sandbox.fake("email").answer(r"^relay@", "554 5.7.1 Relaying denied")
        code = await enrolment_code(env, "B-001")
        for address in ("busy@docomo.ne.jp", "relay@docomo.ne.jp"):
            async with env.http.post(f"{env.url}/join/{code}/email", data={"address": address}) as resp:
                page = await resp.text()
                assert resp.status == 400 and t("ja", "enrol.not_sent") in page, address
                assert t("ja", "enrol.email.bad_address") not in page


def _section(page: str) -> str:
    m = re.search(r'<section class="step" id="email">.*?</section>', page, re.S)
    assert m, page
    return m.group(0)


async def test_the_page_names_the_sender_a_phone_must_allow_before_and_after_sending(tmp_path: Path) -> None:
    """指定受信: a feature phone's carrier mail takes only the senders its owner listed; the confirmation
    mail itself is blocked unless the page says which one (the configured From address, and its domain)."""
    sender = "anpi@bousai.sakura.lg.jp"
    async with running_app(tmp_path, SAFETYNET_CHANNELS_EMAIL_FROM_ADDRESS=sender) as env:
        code = await enrolment_code(env, "B-001")
        allow = t("ja", "enrol.email.allow", domain="bousai.sakura.lg.jp", sender=sender)
        assert "「bousai.sakura.lg.jp」（差出人 anpi@bousai.sakura.lg.jp）" in allow
        async with env.http.get(f"{env.url}/join/{code}") as resp:
            section = _section(await resp.text())
        assert allow in section and section.index(allow) < section.index("<form")  # read before sending
        async with env.http.get(f"{env.url}/join/{code}", params={"lang": "en"}) as resp:
            assert t("en", "enrol.email.allow", domain="bousai.sakura.lg.jp", sender=sender) in await resp.text()
        async with env.http.post(f"{env.url}/join/{code}/email", data={"address": "taro@docomo.ne.jp"}) as resp:
            page = await resp.text()
        notice = re.search(r'<p class="notice" role="status">(.*?)</p>', page, re.S)
        assert notice and notice.group(1) == t("ja", "enrol.email.sent") + allow  # Japanese sentences join without a space
        assert "safetynet@example.jp" not in page
        (mail,) = env.sandbox.messages("email")
        assert mail.data["from"] == sender  # the address the page names is the one the mail comes from


async def test_the_default_sender_is_named_and_without_email_no_sender_is(tmp_path: Path) -> None:
    (tmp_path / "on").mkdir()
    (tmp_path / "off").mkdir()
    async with running_app(tmp_path / "on") as env:
        code = await enrolment_code(env, "B-001")
        async with env.http.get(f"{env.url}/join/{code}", params={"lang": "vi"}) as resp:
            section = _section(await resp.text())
        assert t("vi", "enrol.email.allow", domain="example.jp", sender="safetynet@example.jp") in section
    async with running_app(tmp_path / "off", SAFETYNET_CHANNELS_EMAIL_ENABLED="false") as env:
        code = await enrolment_code(env, "B-001")
        async with env.http.get(f"{env.url}/join/{code}") as resp:
            page = await resp.text()
        assert resp.status == 200 and 'id="email"' not in page and "example.jp" not in page

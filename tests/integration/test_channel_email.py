"""Email through the real aiosmtplib against the sandbox's aiosmtpd server: success, 4xx, 5xx (dead
contact), timeouts, idle-closed connections, Japanese subjects, drill marking; the address rules."""

from __future__ import annotations

import dataclasses
import re
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from channel_helpers import PUBLIC_URL, REPLY_TOKEN, outbound, running_sandbox, sender_of, started

from safetynet.channels import registry
from safetynet.channels.base import PermanentSendError, RetryableSendError
from safetynet.channels.email import mail
from safetynet.channels.email.contacts import mask_email, parse_email
from safetynet.channels.email.resident import EmailResident, reply_url_in
from safetynet.channels.email.settings import EmailSettings
from safetynet.i18n import t

REPLY_URL = f"{PUBLIC_URL}/r/{REPLY_TOKEN}"


def email_msg(address: str, *, drill: bool = True, title: str = "【訓練】安否確認：地震が発生しました",
              language: str = "ja", text: str | None = None, delivery_id: int = 1):  # type: ignore[no-untyped-def]
    body = text if text is not None else f"回答はこちら: {REPLY_URL}\n\n震度5強の地震がありました。無事ですか？"
    m = outbound("email", address, text=body, drill=drill, language=language, delivery_id=delivery_id)
    return dataclasses.replace(m, title=title)


# -- addresses (pure) --------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "stored"), [
    ("Taro.Yamada@DoCoMo.ne.jp", "Taro.Yamada@docomo.ne.jp"),
    ("  ｔａｒｏ＠ｅｚｗｅｂ．ｎｅ．ｊｐ ", "taro@ezweb.ne.jp"),  # typed on a Japanese keyboard
    ("taro..yamada.@docomo.ne.jp", "taro..yamada.@docomo.ne.jp"),  # old carrier addresses break RFC 5322
    ("mailto:hanako@i.softbank.jp", "hanako@i.softbank.jp"),
    ("<x+tag@au.com>", "x+tag@au.com"),
])
def test_parse_email_stores_a_lower_case_domain(typed: str, stored: str) -> None:
    assert parse_email(typed) == stored


@pytest.mark.parametrize(("typed", "why"), [
    ("", "empty"), ("taro", "not an email address"), ("taro@", "no valid domain"),
    ("taro@docomo", "no valid domain"), ("ta ro@docomo.ne.jp", "space"), ("太郎@docomo.ne.jp", "characters"),
    ("a@b.c@d.jp", "characters"), ("x" * 65 + "@docomo.ne.jp", "too long"),
])
def test_parse_email_says_what_is_wrong(typed: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_email(typed)


def test_mask_shows_the_carrier_not_the_name() -> None:
    assert mask_email("taro.yamada@docomo.ne.jp") == "t…@docomo.ne.jp"


def test_the_spec_is_registered_with_its_column_kind_and_catalog_words() -> None:
    spec = registry.spec("email")
    assert spec.free and "email" in registry.free()
    assert registry.kind("email").normalise("A@X.JP") == "A@x.jp"
    col = next(c for c in registry.roster_columns() if c.kind == "email")
    assert (col.key, col.ja) == ("email", "メール")
    for lang in ("ja", "ja-easy", "en"):
        assert t(lang, spec.label_key) and t(lang, "contact.kind.email")
        assert "{link}" not in t(lang, "enrol.email.message", link="L") and "L" in t(lang, "enrol.email.message", link="L")


def test_domain_table_keys_are_lower_case_and_checked() -> None:
    s = EmailSettings(domain_per_second={"DoCoMo.ne.jp": 5})
    assert s.pace_of("docomo.ne.jp") == 5.0 and s.pace_of("gmail.com") == 0.0
    assert any("domain_per_second" in p for p in EmailSettings(domain_per_second={"a.jp": 0}).problems())
    assert any("from_address" in p for p in EmailSettings(from_address="nobody").problems())
    assert EmailSettings(host="127.0.0.1").talks_to_sandbox() and not EmailSettings(host="smtp.city.jp").talks_to_sandbox()


# -- the mail (pure) ---------------------------------------------------------------------------


def test_japanese_subject_round_trips_through_mime_encoded_words() -> None:
    built = mail.build(email_msg("taro@docomo.ne.jp"), "safety@city.example.jp")
    raw = built.as_bytes()
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii() and b"=?utf-8?b?" in head  # RFC 2047 words, nothing 8-bit in the header
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    back = message_from_bytes(raw, policy=policy.default)
    assert back["Subject"] == "【訓練】安否確認：地震が発生しました"
    body = back.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert body.replace("\r\n", "\n").startswith(f"回答はこちら: {REPLY_URL}\n\n")
    assert back["Content-Transfer-Encoding"] == "base64" and back.get_content_charset() == "utf-8"


@pytest.mark.parametrize(("language", "title", "subject"), [
    ("ja", "安否確認", "【訓練】安否確認"),  # a title without the mark gets it
    ("ja", "【訓練】安否確認", "【訓練】安否確認"),  # never twice
    ("en", "Safety check", "[DRILL] Safety check"),
])
def test_a_drill_subject_is_marked_once(language: str, title: str, subject: str) -> None:
    assert mail.subject_of(email_msg("a@b.jp", title=title, language=language)) == subject
    assert mail.subject_of(email_msg("a@b.jp", title="安否確認", drill=False)) == "安否確認"


def test_body_lines_are_short_and_the_link_is_never_cut() -> None:
    long_url = f"{PUBLIC_URL}/r/{REPLY_TOKEN}"
    text = f"回答はこちら: {long_url}\n\n" + "地震がありました。" * 40 + f" 詳しくは {long_url}?lang=ja&x=1 を見てください"
    body = mail.body_of(email_msg("a@b.jp", text=text))
    lines = body.splitlines()
    assert lines[0] == f"回答はこちら: {long_url}"
    assert all(len(ln) <= mail.MAX_LINE or ln.startswith("http") for ln in lines)
    assert f"{long_url}?lang=ja&x=1" in lines
    huge = mail.body_of(email_msg("a@b.jp", text="あ" * 5000 + f"\n{long_url}"))
    assert len(huge) <= mail.MAX_BODY + 2 and long_url in huge


def test_japanese_lines_fold_after_punctuation_not_inside_a_word() -> None:
    sentence = "このメールに心当たりがない場合は、何もせずにこのメールを破棄してください。"  # 37 characters
    lines = mail.body_of(email_msg("a@b.jp", text=sentence * 3)).splitlines()
    assert all(ln.endswith(("、", "。")) for ln in lines[:-1]), lines  # never 「くだ／さい」
    assert "".join(lines) == sentence * 3 and all(len(ln) <= mail.MAX_LINE for ln in lines)
    quoted = mail.body_of(email_msg("a@b.jp", text="あ" * 59 + "。」と書いてありました。" + "い" * 30)).splitlines()
    assert quoted[0] == "あ" * 59 + "。」" and quoted[1].startswith("と")  # 」 hangs one over rather than start a line
    english = mail.body_of(email_msg("a@b.jp", text="If you did not ask for this mail, just delete it. " * 3))
    assert all(not ln.endswith(("delet", "jus")) for ln in english.splitlines())  # spaces still win in English


# -- through aiosmtplib and the sandbox's SMTP server -------------------------------------------


async def test_send_delivers_a_mail_the_resident_reads_and_answers(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path) as (sb, cfg):
        async with started(sender_of(cfg, "email")) as sender:
            result = await sender.send(email_msg("Taro..Y.@docomo.ne.jp"))
            await sender.send(email_msg("hanako@ezweb.ne.jp", delivery_id=2))
            assert sender.connections_made == 1  # the connection is reused
        await sb.wait_for(2)
        rec = sb.messages("email")[0]
        assert rec.address == "Taro..Y.@docomo.ne.jp" and rec.provider_id == result.provider_id
        assert rec.data["subject"] == "【訓練】安否確認：地震が発生しました"
        assert rec.data["from"] == cfg.channels.get("email").from_address
        assert reply_url_in(rec.text) == REPLY_URL
        token, extras = EmailResident().read(rec.text, rec.data)
        assert token == REPLY_TOKEN and extras["reply_url"] == REPLY_URL
        assert "X-SafetyNet-Drill: yes" in rec.data["raw"]


async def test_unknown_user_is_permanent_and_the_contact_dead(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path) as (sb, cfg):
        sb.fake("email").answer(r"^nouser@", "550 5.1.1 <nouser@docomo.ne.jp>: User unknown")
        async with started(sender_of(cfg, "email")) as sender:
            with pytest.raises(PermanentSendError) as e:
                await sender.send(email_msg("nouser@docomo.ne.jp"))
            assert (e.value.reason, e.value.contact_dead, e.value.outcome_unknown) == ("no_such_address", True, False)
            assert "nouser" not in e.value.provider_answer and "550" in e.value.provider_answer
            await sender.send(email_msg("ok@docomo.ne.jp", delivery_id=2))  # the connection carries on
            assert sender.connections_made == 1
        assert [r.address for r in sb.messages("email")] == ["ok@docomo.ne.jp"]


@pytest.mark.parametrize(("reply", "reason"), [
    ("554 5.7.1 <someone@docomo.ne.jp>: Relay access denied", "configuration"),  # the relay refuses us
    ("530 Authentication required", "configuration"),
    ("552 5.2.2 Mailbox full", "bad_request"),  # this mail fails; the address stays
    ("550 Requested action not taken", "bad_request"),  # no status to say the address is gone
    ("550 5.1.0 <noreply@city.example.lg.jp>: Sender address rejected: User unknown", "configuration"),  # ours
    ("550 5.7.1 Message rejected as spam", "bad_request"),  # one carrier's filter: this mail alone
])
async def test_a_refusal_that_is_not_the_address_s_leaves_the_contact_working(tmp_path: Path, reply: str,
                                                                              reason: str) -> None:
    """Review: every 5xx to RCPT marked the contact dead, so a failover host the relay did not trust
    (554 5.7.1 for every recipient) killed every email contact of the city for good, and a full
    mailbox (552 5.2.2, common on a feature phone) killed the resident's address."""
    async with running_sandbox(tmp_path) as (sb, cfg):
        sb.fake("email").answer(r"^someone@", reply)
        async with started(sender_of(cfg, "email")) as sender:
            with pytest.raises(PermanentSendError) as e:
                await sender.send(email_msg("someone@docomo.ne.jp"))
            assert (e.value.reason, e.value.contact_dead) == (reason, False)


async def test_sandbox_dead_addresses_are_unknown_users(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path, dead={"gone@au.com"}) as (_sb, cfg):
        async with started(sender_of(cfg, "email")) as sender:
            with pytest.raises(PermanentSendError) as e:
                await sender.send(email_msg("gone@au.com"))
            assert e.value.contact_dead


async def test_temporary_refusal_is_retryable_and_not_sent(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path) as (sb, cfg):
        sb.fake("email").answer(r"busy@", "450 4.2.1 Mailbox busy, try later")
        async with started(sender_of(cfg, "email")) as sender:
            with pytest.raises(RetryableSendError) as e:
                await sender.send(email_msg("busy@softbank.ne.jp"))
            assert (e.value.contact_dead, e.value.outcome_unknown) == (False, False)
            sb.fake("email").rules.clear()
            await sender.send(email_msg("busy@softbank.ne.jp"))  # the retry goes through
        assert len(sb.messages("email")) == 1


async def test_injected_server_errors_are_temporary(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path, fail_5xx=1.0) as (_sb, cfg):
        async with started(sender_of(cfg, "email")) as sender:
            with pytest.raises(RetryableSendError) as e:
                await sender.send(email_msg("a@docomo.ne.jp"))
            assert e.value.reason == "server_error" and not e.value.contact_dead


async def test_timeout_during_data_leaves_the_outcome_unknown(tmp_path: Path) -> None:
    env = {"SAFETYNET_CHANNELS_EMAIL_TIMEOUT_SECONDS": "0.3"}
    async with running_sandbox(tmp_path, env=env) as (sb, cfg):
        fake = sb.fake("email")
        fake.stall = re.compile(r"^slow@")
        async with started(sender_of(cfg, "email")) as sender:
            with pytest.raises(RetryableSendError) as e:
                await sender.send(email_msg("slow@docomo.ne.jp"))
            assert (e.value.reason, e.value.outcome_unknown) == ("timeout", True)
            fake.reset()  # the server answers late: it did take the mail (hence "unknown", never resent inline)
            await sb.wait_for(1)
            await sender.send(email_msg("fast@docomo.ne.jp", delivery_id=2))  # a fresh connection
            assert sender.connections_made == 2


async def test_a_server_that_is_down_is_a_network_error_before_anything_left(tmp_path: Path) -> None:
    env = {"SAFETYNET_CHANNELS_EMAIL_PORT": "9"}  # discard port: nothing listens
    async with running_sandbox(tmp_path, env=env) as (_sb, cfg):
        async with started(sender_of(cfg, "email")) as sender:
            with pytest.raises(RetryableSendError) as e:
                await sender.send(email_msg("a@docomo.ne.jp"))
            assert e.value.reason == "network" and not e.value.outcome_unknown


async def test_an_idle_connection_closed_by_the_server_is_reopened(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path) as (sb, cfg):
        fake = sb.fake("email")
        async with started(sender_of(cfg, "email")) as sender:
            await sender.send(email_msg("a@docomo.ne.jp"))
            # the server drops every connection it holds (its idle timeout): the client learns it on next use
            await fake.drop_connections()
            await sender.send(email_msg("b@docomo.ne.jp", delivery_id=2))
            assert sender.connections_made == 2
        assert [r.address for r in sb.messages("email")] == ["a@docomo.ne.jp", "b@docomo.ne.jp"]


async def test_login_failure_is_a_configuration_error(tmp_path: Path) -> None:
    env = {"SAFETYNET_SMTP_USERNAME": "city", "SAFETYNET_SMTP_PASSWORD": "not-the-password-123"}
    async with running_sandbox(tmp_path, env=env) as (sb, cfg):
        async with started(sender_of(cfg, "email")) as sender:
            with pytest.raises(PermanentSendError) as e:  # 535: the relay refuses the login
                await sender.send(email_msg("a@docomo.ne.jp"))
            assert e.value.reason == "configuration" and "535" in e.value.provider_answer
            assert "not-the-password-123" not in e.value.provider_answer
        assert sb.stats["channels"]["email"].get("auth_failed", 0) >= 1 and sb.messages("email") == []


async def test_the_sandbox_login_is_used_while_the_channel_talks_to_the_sandbox(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with running_sandbox(tmp_path) as (sb, cfg):
        assert cfg.secrets.get("smtp_username") == "sandbox"
        async with started(sender_of(cfg, "email")) as sender:
            await sender.send(email_msg("a@docomo.ne.jp"))
        assert sb.stats["channels"]["email"].get("auth_ok") == 1
    # aiosmtpd warns about its own deprecated attribute after each login: not printed above the demo
    assert not [r for r in caplog.records if "login_data" in r.getMessage()]


# -- through the dispatcher: a campaign's households by email, the dead mailbox falls back -----------


async def test_a_drill_reaches_mailboxes_and_an_unknown_user_falls_back_to_sms(tmp_path: Path) -> None:
    from roster_helpers import household
    from test_broadcast_sandbox import SPEC, dispatch, world

    from safetynet.broadcast.service import CampaignService
    from safetynet.clock import SystemClock

    clock = SystemClock()
    async with world(tmp_path, clock) as (sb, cfg, store):
        records = [household("北地区", "桜町町会", "1班", f"k{i}", f"世帯{i}", phone=f"+8190{i:08d}") for i in range(3)]
        await store.roster.import_households(records)
        ids = {t.household_key: t.household_id for t in await store.roster.code_targets(only_without_code=False)}
        await store.roster.add_contact(ids["k0"], "email", "taro@docomo.ne.jp")
        await store.roster.add_contact(ids["k1"], "email", "nouser@ezweb.ne.jp")
        sb.fake("email").answer(r"^nouser@", "550 5.1.1 <nouser@ezweb.ne.jp>: Recipient address rejected")
        svc = CampaignService(store, cfg, clock)
        c = await svc.launch(SPEC)
        await dispatch(store, cfg, clock)
        got = sorted((r.channel, r.address) for r in sb.messages())
        # step 0: mail is free and goes first; the unknown mailbox falls back to SMS, as does the household without mail
        assert got == [("email", "taro@docomo.ne.jp"), ("sms", "+819000000001"), ("sms", "+819000000002")]
        mail = next(r for r in sb.messages("email"))
        assert mail.data["subject"].startswith("【訓練】") and reply_url_in(mail.text)
        doc = await svc.stats(c.id)
        assert doc["status"]["notified"] == 3
        household1 = await store.roster.get_household(ids["k1"])
        assert household1 is not None
        assert [ct.working for ct in household1.contacts if ct.kind == "email"] == [False]


def test_the_roster_column_takes_mail_and_names_the_row_and_column_of_a_bad_one() -> None:
    from roster_helpers import EN, JA, csv_bytes, row

    from safetynet.roster.csvio import parse_bytes

    good = parse_bytes(csv_bytes(JA, [row(email="Hanako@EZweb.ne.jp"), row(household="2")]))
    assert good.ok and good.records[0].contact("email") == "Hanako@ezweb.ne.jp" and good.records[1].contact("email") == ""
    bad = parse_bytes(csv_bytes(EN, [row(), row(household="2", email="hanako@")]))
    assert not bad.ok and bad.records == []
    (issue,) = bad.errors
    assert (issue.row, issue.column) == (3, "email") and "no valid domain" in issue.message


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (its own CA) and its key, as files."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sandbox relay")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "relay.pem", tmp_path / "relay.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


async def test_starttls_encrypts_the_session_and_an_untrusted_relay_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ssl

    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    async with running_sandbox(tmp_path, env={"SAFETYNET_CHANNELS_EMAIL_STARTTLS": "true"}) as (sb, cfg):
        sb.fake("email").tls_context = server_ctx
        async with started(sender_of(cfg, "email")) as sender:  # the relay's certificate is not trusted
            with pytest.raises(PermanentSendError) as e:
                await sender.send(email_msg("a@docomo.ne.jp"))
            assert e.value.reason == "configuration"
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # now it is (OpenSSL's default verify paths)
        async with started(sender_of(cfg, "email")) as sender:
            await sender.send(email_msg("b@docomo.ne.jp"))
        (mail,) = sb.messages("email")
        assert mail.address == "b@docomo.ne.jp" and mail.data["tls"] is True

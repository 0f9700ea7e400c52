"""Email over SMTP (aiosmtplib): alerts to any mailbox, carrier mail of feature phones included,
answered through the reply link; the roster's email/メール column; enrolment by a confirmation
link. Light: aiosmtplib, aiosmtpd and the email package load with the sender and the fake."""

from __future__ import annotations

from safetynet.channels.email.contacts import EMAIL, EMAIL_COLUMN, parse_email
from safetynet.channels.email.login import SECRETS
from safetynet.channels.email.settings import EmailSettings
from safetynet.channels.spec import ENROL_CONFIRM_LINK, MESSAGE_LINK_FIRST, ChannelSpec, Enrolment

NAME = "email"

SPEC = ChannelSpec(
    name=NAME,
    settings=EmailSettings,
    sender="safetynet.channels.email.sender:EmailSender",
    sends_to=(EMAIL.name,),
    free=True,
    kinds=(EMAIL,),
    roster_columns=(EMAIL_COLUMN,),
    secrets=SECRETS,
    sandbox="safetynet.channels.email.sandbox:EmailFake",
    resident="safetynet.channels.email.resident:EmailResident",
    enrolment=Enrolment(ENROL_CONFIRM_LINK, EMAIL.name, parse=parse_email, input_type="email"),
    letter_steps=("email",),
    message=MESSAGE_LINK_FIRST,
    pacing="safetynet.channels.email.pacing:by_domain",
)

"""SMS over Twilio: the mobile contact kind and the roster's phone/携帯電話 column, keyword answers
and enrolment by a code sent over SMS. Light: the sender, webhooks and fake load lazily."""

from __future__ import annotations

from safetynet.channels import twilio
from safetynet.channels.sms.contacts import MOBILE, PHONE_COLUMN, parse_enrol_phone
from safetynet.channels.sms.settings import SmsSettings
from safetynet.channels.spec import ENROL_CONFIRM_CODE, MESSAGE_KEYWORDS, ChannelSpec, Enrolment

NAME = "sms"

SPEC = ChannelSpec(
    name=NAME,
    settings=SmsSettings,
    sender="safetynet.channels.sms.sender:SmsSender",
    sends_to=(MOBILE.name,),
    free=False,
    kinds=(MOBILE,),
    roster_columns=(PHONE_COLUMN,),
    secrets=twilio.SECRETS,
    webhooks="safetynet.channels.sms.webhook:routes",
    sandbox="safetynet.channels.sms.sandbox:SmsFake",
    resident="safetynet.channels.sms.resident:SmsResident",
    enrolment=Enrolment(
        ENROL_CONFIRM_CODE, MOBILE.name, parse=parse_enrol_phone, input_type="tel",
        # the generic roles' texts under the SMS words the catalogs use
        words={"address": "enrol.sms.phone", "send": "enrol.sms.send_code", "sent": "enrol.sms.code_sent",
               "wrong": "enrol.sms.wrong_code", "bad_address": "enrol.sms.bad_phone",
               "message": "enrol.sms.code_message"},
    ),
    letter_steps=("phone",),
    message=MESSAGE_KEYWORDS,
    estimate="safetynet.channels.sms.segments:estimate",
    ladder_after_seconds=600,
)

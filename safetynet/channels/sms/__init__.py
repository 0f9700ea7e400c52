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
        words={"title": "enrol_sms_title", "address": "enrol_phone", "send": "enrol_send_code",
               "sent": "enrol_code_sent", "code": "enrol_code", "confirm": "enrol_confirm",
               "done": "enrol_phone_done", "wrong": "enrol_wrong_code", "bad_address": "enrol_bad_phone",
               "too_many": "enrol_too_many", "message": "enrol_sms_code"},
    ),
    message=MESSAGE_KEYWORDS,
    estimate="safetynet.channels.sms.segments:estimate",
    ladder_after_seconds=600,
    texts={"ja": {"channel_sms": "SMS"}, "en": {"channel_sms": "SMS"}},
)

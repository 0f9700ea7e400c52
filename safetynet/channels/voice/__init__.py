"""Voice calls over Twilio: a keypad safety check (1 safe, 2 need help) for landlines and feature
phones. The landline contact kind and the roster's landline/固定電話 column; it also calls mobiles."""

from __future__ import annotations

from safetynet.channels import twilio
from safetynet.channels.spec import MESSAGE_SPOKEN, ChannelSpec
from safetynet.channels.voice.contacts import LANDLINE, LANDLINE_COLUMN
from safetynet.channels.voice.settings import VoiceSettings

NAME = "voice"

SPEC = ChannelSpec(
    name=NAME,
    settings=VoiceSettings,
    sender="safetynet.channels.voice.sender:VoiceSender",
    # a mobile takes an SMS first (the ladder's order); a call reaches it too
    sends_to=("mobile", LANDLINE.name),
    free=False,
    kinds=(LANDLINE,),
    roster_columns=(LANDLINE_COLUMN,),
    secrets=twilio.SECRETS,
    webhooks="safetynet.channels.voice.webhook:routes",
    sandbox="safetynet.channels.voice.sandbox:VoiceFake",
    resident="safetynet.channels.voice.resident:VoiceResident",
    letter_steps=("landline",),  # continues the phone step
    message=MESSAGE_SPOKEN,
    estimate="safetynet.channels.voice.settings:estimate",
    ladder_after_seconds=1200,
    # a keypad question read to a head makes no sense: staff alerts are texts
    staff_alerts=False,
)

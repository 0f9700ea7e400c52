"""LINE: an official account's bot that multicasts alerts with answer buttons (postbacks), links a
LINE user by an enrolment code sent as a message, and the roster's line/LINE column (user ids).
Light: line-bot-sdk (about 2 s at import) loads only when the sender starts."""

from __future__ import annotations

from safetynet.channels.base import SecretSpec
from safetynet.channels.line.contacts import LINE, LINE_COLUMN
from safetynet.channels.line.settings import LineSettings
from safetynet.channels.spec import ENROL_MESSAGE_CODE, MESSAGE_SHARED, ChannelSpec, Enrolment

NAME = "line"
ACCESS_TOKEN = SecretSpec("line_channel_access_token", "SAFETYNET_LINE_CHANNEL_ACCESS_TOKEN",
                          sandbox="sandbox-line-channel-access-token")
CHANNEL_SECRET = SecretSpec("line_channel_secret", "SAFETYNET_LINE_CHANNEL_SECRET",
                            sandbox="sandbox-line-channel-secret")

SPEC = ChannelSpec(
    name=NAME,
    settings=LineSettings,
    sender="safetynet.channels.line.sender:LineSender",
    sends_to=(LINE.name,),
    free=True,
    kinds=(LINE,),
    roster_columns=(LINE_COLUMN,),
    secrets=(ACCESS_TOKEN, CHANNEL_SECRET),
    webhooks="safetynet.channels.line.webhook:routes",
    sandbox="safetynet.channels.line.sandbox:LineFake",
    resident="safetynet.channels.line.resident:LineResident",
    enrolment=Enrolment(ENROL_MESSAGE_CODE, LINE.name, page="safetynet.channels.line.enrol:page"),
    # One text for every household of a campaign and language: the postback buttons answer.
    message=MESSAGE_SHARED,
    letter_steps=("line",),
)

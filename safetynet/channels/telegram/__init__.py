"""Telegram: a bot that sends alerts with answer buttons, links a chat by `/start CODE`, and the
roster's telegram/テレグラム column (numeric chat ids). Light: python-telegram-bot loads lazily."""

from __future__ import annotations

from safetynet.channels.base import SecretSpec
from safetynet.channels.spec import ENROL_MESSAGE_CODE, ChannelSpec, Enrolment
from safetynet.channels.telegram.contacts import TELEGRAM, TELEGRAM_COLUMN
from safetynet.channels.telegram.settings import TelegramSettings

NAME = "telegram"
BOT_TOKEN = SecretSpec("telegram_bot_token", "SAFETYNET_TELEGRAM_BOT_TOKEN", sandbox="123456:sandbox-bot-token")

SPEC = ChannelSpec(
    name=NAME,
    settings=TelegramSettings,
    sender="safetynet.channels.telegram.sender:TelegramSender",
    sends_to=(TELEGRAM.name,),
    free=True,
    kinds=(TELEGRAM,),
    roster_columns=(TELEGRAM_COLUMN,),
    secrets=(BOT_TOKEN,),
    webhooks="safetynet.channels.telegram.webhook:routes",
    sandbox="safetynet.channels.telegram.sandbox:TelegramFake",
    resident="safetynet.channels.telegram.resident:TelegramResident",
    enrolment=Enrolment(ENROL_MESSAGE_CODE, TELEGRAM.name, page="safetynet.channels.telegram.enrol:page"),
    letter_steps=("telegram",),
)

"""A simulated resident pressing an answer button: a callback query delivered by Telegram to the
app's webhook with the secret-token header."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any

from safetynet.channels.fakes import ResidentKeys, ResidentRequest, SimulatedResident
from safetynet.channels.sms.resident import token_in_text
from safetynet.channels.telegram.updates import SECRET_HEADER, callback_data, webhook_secret, webhook_url

TOKEN_LENGTH = 22


def _button_token(data: Mapping[str, Any]) -> str | None:
    markup = data.get("reply_markup") or {}
    rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
    for row in rows:
        for button in row:
            _, sep, token = str(button.get("callback_data", "")).partition(":")
            if sep and len(token) == TOKEN_LENGTH:
                return token
    return None


class TelegramResident(SimulatedResident):
    channel = "telegram"
    keeps_text = True

    def read(self, text: str | None, data: Mapping[str, Any]) -> tuple[str | None, dict[str, str]]:
        return _button_token(data) or token_in_text(text), {}

    def answer(self, message: Any, status: str, location: str | None, keys: ResidentKeys) -> ResidentRequest:
        chat_id = int(message.address)
        _, _, message_id = message.provider_id.partition(":")
        update_id = (message.household_key % 1_000_000_000) * 16 + message.seq % 16
        update = {"update_id": update_id, "callback_query": {
            "id": secrets.token_hex(8),
            "from": {"id": chat_id, "is_bot": False, "first_name": "Resident", "language_code": "ja"},
            "message": {"message_id": int(message_id or 0), "date": int(message.received_at),
                        "chat": {"id": chat_id, "type": "private"}, "text": message.text},
            "chat_instance": str(chat_id), "data": callback_data(status, message.token)}}
        secret = webhook_secret(keys.secret_key) if keys.secret_key else ""
        body = json.dumps(update, ensure_ascii=False, separators=(",", ":")).encode()
        return ResidentRequest(webhook_url(keys.public_url), body,
                               {"Content-Type": "application/json", SECRET_HEADER: secret})

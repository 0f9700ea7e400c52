"""Telegram updates, callback data and the webhook secret (pure: no Bot, no network).

A button's callback data is `answer:token`; `/start CODE` links a chat (enrolment); any other text a
person types is a `TelegramText` (keywords, a note, the letter's code: as an SMS or a LINE text). The webhook's
secret token is derived from the app's secret key, so the app and the sandbox agree without
another secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from safetynet.auth import same_secret
from safetynet.channels import labels

# Telegram refuses callback data over 64 bytes; "need_help:" + a 22-char token is 32.
MAX_CALLBACK_BYTES = 64
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
WEBHOOK_PATH = "/hooks/telegram"


def callback_data(answer: str, reply_token: str) -> str:
    data = f"{answer}:{reply_token}"
    if answer not in labels.ANSWERS or len(data.encode()) > MAX_CALLBACK_BYTES:
        raise ValueError("callback data must be safe|need_help and fit 64 bytes")
    return data


def parse_callback_data(data: str) -> tuple[str, str] | None:
    """(answer, reply_token) from a button's data, or None when it is not ours."""
    answer, sep, token = data.partition(":")
    if not sep or answer not in labels.ANSWERS or not token:
        return None
    return answer, token


def webhook_secret(secret_key: str) -> str:
    """The secret_token given to setWebhook: HMAC-SHA256(secret_key, "safetynet/telegram-webhook/v1"),
    base64url without padding (43 chars of [A-Za-z0-9_-], as Telegram requires).

    Derived, so the app and the sandbox agree without storing another secret; rotating the
    app's secret key rotates it (call setWebhook again).
    """
    if not secret_key:
        raise ValueError("secret_key is empty: run `safetynet init` or set SAFETYNET_SECRET_KEY")
    mac = hmac.new(secret_key.encode(), b"safetynet/telegram-webhook/v1", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def webhook_url(public_url: str) -> str:
    return f"{public_url.rstrip('/')}{WEBHOOK_PATH}"


def verify_secret(header_value: str | None, expected: str) -> bool:
    if not header_value or not expected:
        return False
    return same_secret(header_value, expected)


@dataclass(frozen=True, slots=True)
class TelegramCallback:
    query_id: str
    chat_id: int
    message_id: int | None
    data: str
    message_text: str = ""


@dataclass(frozen=True, slots=True)
class TelegramStart:
    chat_id: int
    code: str
    # a one-to-one chat with a person: the only kind a household's contact may be (`private_chat`)
    private: bool = True


@dataclass(frozen=True, slots=True)
class TelegramText:
    """A message typed into the chat ("2", "助けて 母が家具の下敷き", the letter's code): read as an SMS
    or a LINE text is. `key` is unique to the message (chat and message id: Telegram numbers messages
    per chat), so a redelivered update is taken once."""
    chat_id: int
    key: str
    text: str
    private: bool = True
    # when it was sent, as Telegram says (its `date` is whole seconds: the end of that second); None if unsaid
    sent_at: float | None = None


# A private chat's id is its user's id: positive, and Telegram promises at most 52 significant bits.
# Groups and channels have negative ids (-100…); an id past that bound is no chat Telegram makes.
MAX_USER_ID = 2**52


def private_chat(chat: dict[str, Any]) -> bool:
    """Whether `chat` is a person's own chat with the bot (its declared type, when given, says so)."""
    chat_id = _int(chat.get("id"))
    return chat_id is not None and 0 < chat_id < MAX_USER_ID and chat.get("type", "private") == "private"


def answer_in_response(query_id: str, text: str) -> str:
    """The webhook's response body that answers a button press: Telegram runs the Bot API method
    a webhook's response names ("Making requests when getting updates"), so the press is answered
    without a request of our own. Its outcome is not reported back, which suits this call: it only
    stops the button's spinner and shows a short line."""
    return json.dumps({"method": "answerCallbackQuery", "callback_query_id": query_id, "text": text},
                      ensure_ascii=False)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_update(data: Any) -> TelegramCallback | TelegramStart | TelegramText | None:
    """A button press, a `/start CODE` or a typed text; None for anything else (another bot command,
    a photo, an edit, malformed JSON shapes)."""
    if not isinstance(data, dict):
        return None
    cq = data.get("callback_query")
    if isinstance(cq, dict):
        msg, sender = _dict(cq.get("message")), _dict(cq.get("from"))
        chat = _dict(msg.get("chat"))
        chat_id = _int(chat.get("id")) or _int(sender.get("id"))
        qid, cdata = cq.get("id"), cq.get("data")
        if chat_id is None or not isinstance(qid, str) or not isinstance(cdata, str):
            return None
        text = msg.get("text")
        text = text if isinstance(text, str) else ""
        return TelegramCallback(qid, chat_id, _int(msg.get("message_id")), cdata, text)
    message = _dict(data.get("message"))
    body = message.get("text")
    if isinstance(body, str):
        chat = _dict(message.get("chat"))
        chat_id = _int(chat.get("id"))
        parts = body.strip().split(maxsplit=1)
        # "/start CODE", or "/start@OurBot CODE" in a group
        if chat_id is None or not parts:
            return None
        if len(parts) == 2 and parts[0].split("@", 1)[0] == "/start":
            return TelegramStart(chat_id, parts[1].strip(), private_chat(chat))
        if parts[0].startswith("/"):
            return None  # a bot command ("/start" alone, "/help"): no answer, no note
        message_id = _int(message.get("message_id"))
        update_id = _int(data.get("update_id"))
        if message_id is None and update_id is None:
            return None  # nothing to tell a redelivery from a new message
        key = f"{chat_id}:{message_id}" if message_id is not None else f"u{update_id}"
        date = _int(message.get("date"))
        return TelegramText(chat_id, key, body, private_chat(chat), date + 1.0 if date is not None and date > 0 else None)
    return None

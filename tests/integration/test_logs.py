from __future__ import annotations

import io
import json
import logging

import structlog

from safetynet.logs import configure_logging, mask_phone, mask_text


def test_mask_phone_keeps_only_last_four_digits() -> None:
    assert mask_phone("+819012345678") == "********5678"
    assert mask_phone("12") == "***"


def test_mask_text_hides_phones_bot_tokens_and_link_secrets() -> None:
    text = "to +819012345678 via 123456:ABCdefGHIjklMNOpqr link https://x/r/AbCdEfGhIjKlMnOpQrStUv ok"
    masked = mask_text(text)
    assert "819012345678" not in masked and "5678" in masked
    assert "ABCdefGHIjklMNOpqr" not in masked
    assert "AbCdEfGhIjKlMnOpQrStUv" not in masked


def test_json_log_lines_mask_personal_data_and_secrets() -> None:
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    try:
        log = structlog.get_logger("test")
        log.info("delivery_sent", phone="+819012345678", name="山田太郎", token="secret-token-value",
                 campaign_id=7, detail="sent to 090-1234-5678")
        logging.getLogger("aiohttp.server").warning("failed for +81 3 1234 5678")
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
    finally:
        configure_logging("warning", "json", stream=io.StringIO())
    first = lines[0]
    assert first["event"] == "delivery_sent"
    assert first["campaign_id"] == 7
    assert first["phone"].endswith("5678") and "9012" not in first["phone"]
    assert first["name"] != "山田太郎" and first["name"].startswith("山")
    assert first["token"] == "<redacted>"
    assert "1234-5678" not in first["detail"]
    assert "1234 5678" not in out.getvalue()
    assert first["level"] == "info" and "timestamp" in first

from __future__ import annotations

import io
import json
import logging

import structlog

from safetynet.logs import configure_logging, mask_address, mask_phone, mask_text


def test_mask_phone_keeps_only_last_four_digits() -> None:
    assert mask_phone("+819012345678") == "********5678"
    assert mask_phone("12") == "***"


def test_mask_text_hides_phones_bot_tokens_and_link_secrets() -> None:
    text = "to +819012345678 via 123456:ABCdefGHIjklMNOpqr link https://x/r/AbCdEfGhIjKlMnOpQrStUv ok"
    masked = mask_text(text)
    assert "819012345678" not in masked and "5678" in masked
    assert "ABCdefGHIjklMNOpqr" not in masked
    assert "AbCdEfGhIjKlMnOpQrStUv" not in masked


def test_mask_text_hides_emails_and_numbers_written_the_japanese_way() -> None:
    """QA (privacy walk): a mail server's refusal quoting the address, a number followed or preceded by
    Japanese text, and a number typed in full-width digits all went into the log whole."""
    refused = mask_text("550 5.1.1 <sakura0004@docomo.ne.jp>: Recipient address rejected")
    assert "sakura0004" not in refused and "@docomo.ne.jp" in refused  # the carrier stays for the operator
    for text, digits in [("080-1234-5678に連絡", "080-1234"), ("電話090ー1234ー5678です", "090ー1234"),
                         ("０９０－１２３４－５６７８", "０９０－１２３４"), ("＋81 90 1234 5678", "90 1234")]:
        masked = mask_text(text)
        assert digits not in masked and masked.count("*") >= 6, masked
    assert mask_address("sakura0004@docomo.ne.jp") == "s＊＊＊@docomo.ne.jp"
    assert mask_address("+819012345678") == "********5678"


def test_json_log_lines_mask_personal_data_and_secrets() -> None:
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    try:
        log = structlog.get_logger("test")
        log.info("delivery_sent", phone="+819012345678", name="山田太郎", token="secret-token-value",
                 campaign_id=7, detail="sent to 090-1234-5678", to="sakura0004@docomo.ne.jp")
        logging.getLogger("aiohttp.server").warning("failed for +81 3 1234 5678")
        try:  # review: an exception's message was rendered after the masking, in clear
            raise ValueError("no such recipient 090-1234-5678 <yamada@docomo.ne.jp>")
        except ValueError:
            log.exception("delivery_internal_error")
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
    finally:
        configure_logging("warning", "json", stream=io.StringIO())
    first = lines[0]
    assert "1234-5678" not in json.dumps(lines[2]["exception"]) and "5678" in json.dumps(lines[2]["exception"])
    assert "yamada@docomo.ne.jp" not in out.getvalue()
    assert first["event"] == "delivery_sent"
    assert first["campaign_id"] == 7
    assert first["phone"].endswith("5678") and "9012" not in first["phone"]
    assert first["name"] != "山田太郎" and first["name"].startswith("山")
    assert first["token"] == "<redacted>"
    assert first["to"] == "s＊＊＊@docomo.ne.jp"  # an email under a phone's key: masked as an email
    assert "1234-5678" not in first["detail"]
    assert "1234 5678" not in out.getvalue()
    assert first["level"] == "info" and "timestamp" in first


def test_console_log_lines_mask_an_exceptions_message_and_show_no_locals() -> None:
    """Review: the console renderer printed the exception as raised (and, with rich installed, every
    frame's locals); only the JSON lines were masked."""
    out = io.StringIO()
    configure_logging("info", "console", stream=out)
    try:
        log = structlog.get_logger("test")
        household_name = "山田太郎"  # a local the traceback must not show
        try:
            raise ValueError(f"no such recipient 090-1234-5678 <yamada@docomo.ne.jp> for {household_name[:0]}")
        except ValueError:
            log.exception("delivery_internal_error")
        logging.getLogger("aiohttp.server").exception("failed", exc_info=ValueError("call +81 3 1234 5678"))
    finally:
        configure_logging("warning", "json", stream=io.StringIO())
    text = out.getvalue()
    assert "delivery_internal_error" in text and "ValueError" in text and "Traceback" in text
    assert "1234-5678" not in text and "yamada@docomo.ne.jp" not in text and "1234 5678" not in text
    assert "山田太郎" not in text

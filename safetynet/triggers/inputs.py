"""One entry for any trigger document (JMA telegram or CAP alert), for replay and the watched folder."""

from __future__ import annotations

from safetynet.domain.triggers import TriggerRules
from safetynet.triggers.cap import CAP_NS, CapAlert, cap_from_root
from safetynet.triggers.jma import JmaTelegram, jma_from_root
from safetynet.triggers.xmlsafe import parse_xml, split_tag

Telegram = JmaTelegram | CapAlert


def parse_telegram(body: bytes, rules: TriggerRules | None = None) -> Telegram:
    """A JMA telegram or a CAP alert, told apart by the root's namespace; TriggerInputError otherwise."""
    root = parse_xml(body, "telegram")
    if split_tag(root.tag)[0] == CAP_NS:
        return cap_from_root(root, rules)
    return jma_from_root(root, rules)


def sort_key(t: Telegram) -> tuple[float, float]:
    """Report time first; JMA's Control/DateTime (seconds) orders telegrams of the same minute."""
    if isinstance(t, CapAlert):
        return (t.sent, t.sent)
    return (t.report_time, t.message_time)

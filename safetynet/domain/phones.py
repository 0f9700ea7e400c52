"""Japanese phone numbers: any written form to E.164, and what kind of line it is.

Pure functions. Numbering facts (MIC numbering plan) behind the rules:
- a national number starts with the trunk prefix 0; in E.164 it is +81 without that 0;
- mobile 070/080/090 (and 060, opened for mobile in 2023) have 11 digits;
- 050 (IP phone) has 11 digits; 020 is for pagers and machines (M2M);
- 0120 (free dial), 0570 (navi dial), 0180, 0990 have 10 digits; 0800 (free dial) has 11;
- every other number starting 0[1-9] with a non-zero second digit is a fixed line of 10 digits;
- 0X0 prefixes not listed above (010 is the international prefix, 030, 040) are not numbers.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

COUNTRY_CODE = "81"


class PhoneError(ValueError):
    """Text that cannot be a Japanese phone number; the message says why, fit to show a user, in
    English. `code` and `values` say it again for a catalog (`roster.problem.phone_<code>`): the
    roster's checks name the cell's problem in the terminal's language."""

    def __init__(self, message: str, code: str = "", **values: object) -> None:
        super().__init__(message)
        self.code = code
        self.values = values


class PhoneKind(StrEnum):
    MOBILE = "mobile"  # 060/070/080/090: SMS and voice
    LANDLINE = "landline"  # fixed line with an area code: voice only
    IP = "ip"  # 050: voice; SMS mostly not
    SERVICE = "service"  # free dial, navi dial and other service numbers: no household behind them
    M2M = "m2m"  # 020: pagers and machines


@dataclass(frozen=True)
class PhoneNumber:
    e164: str  # "+819012345678"
    kind: PhoneKind

    @property
    def national(self) -> str:
        """The digits as dialled inside Japan: "09012345678"."""
        return "0" + self.e164[len(COUNTRY_CODE) + 1 :]


# Separators people put between digit groups (after NFKC, which already folds full-width forms).
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―−ー－.()/]")
_DIGITS = re.compile(r"\+?\d+")
# (national prefix, digit count, kind); longest prefix wins, so 0800 is checked before 080.
_PREFIXES: tuple[tuple[str, int, PhoneKind], ...] = (
    ("0120", 10, PhoneKind.SERVICE),
    ("0800", 11, PhoneKind.SERVICE),
    ("0570", 10, PhoneKind.SERVICE),
    ("0180", 10, PhoneKind.SERVICE),
    ("0990", 10, PhoneKind.SERVICE),
    ("090", 11, PhoneKind.MOBILE),
    ("080", 11, PhoneKind.MOBILE),
    ("070", 11, PhoneKind.MOBILE),
    ("060", 11, PhoneKind.MOBILE),
    ("050", 11, PhoneKind.IP),
    ("020", 11, PhoneKind.M2M),
)
_KIND_WORDS = {
    PhoneKind.MOBILE: "a mobile number",
    PhoneKind.LANDLINE: "a landline number",
    PhoneKind.IP: "an 050 IP-phone number",
    PhoneKind.SERVICE: "a service number",
    PhoneKind.M2M: "an 020 pager/M2M number",
}


def kind_words(kind: PhoneKind) -> str:
    return _KIND_WORDS[kind]


def _strip(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text)
    compact = _SEPARATORS.sub("", folded)
    if not compact:
        raise PhoneError("is empty", "empty")
    if not _DIGITS.fullmatch(compact):
        bad = next((ch for ch in compact if not (ch.isdigit() or ch == "+")), None)
        if bad is None:  # digits and plus signs only: a + alone, twice, or after a digit
            raise PhoneError(f"{text.strip()!r} is not a phone number (a + comes only before the digits)", "plus",
                             text=text.strip())
        raise PhoneError(f"{text.strip()!r} is not a phone number (it contains {bad!r})", "character",
                         text=text.strip(), character=bad)
    return compact


def _to_national(compact: str, original: str) -> str:
    """Digits in national form (leading 0), from national, +81, 81…, 0081… or 01081… forms."""
    international: str | None = None
    if compact.startswith("+"):
        international = compact[1:]
    elif compact.startswith("0081"):
        international = compact[2:]
    elif compact.startswith("01081"):
        international = compact[3:]
    elif compact.startswith(COUNTRY_CODE):
        # a national number never starts with 8, so leading 81 can only be the country code
        international = compact
    if international is None:
        if not compact.startswith("0"):
            raise PhoneError(f"{original.strip()!r} must start with 0 or +81", "no_zero", text=original.strip())
        return compact
    if not international.startswith(COUNTRY_CODE):
        raise PhoneError(f"{original.strip()!r} is not a Japanese number (country code +81 expected)", "foreign",
                         text=original.strip())
    rest = international[len(COUNTRY_CODE) :]
    # "+81 (0)90 …": the trunk 0 is sometimes written after the country code
    return rest if rest.startswith("0") else "0" + rest


_BY_PREFIX4 = {p: (n, k) for p, n, k in _PREFIXES if len(p) == 4}
_BY_PREFIX3 = {p: (n, k) for p, n, k in _PREFIXES if len(p) == 3}


def _classify(national: str, original: str) -> PhoneKind:
    found = _BY_PREFIX4.get(national[:4]) or _BY_PREFIX3.get(national[:3])
    if found:
        length, kind = found
        if len(national) != length:
            prefix = national[:4] if national[:4] in _BY_PREFIX4 else national[:3]
            _length_error(national, length, f"{kind_words(kind)} ({prefix}…)", original)
        return kind
    if national.startswith("00"):
        raise PhoneError(f"{original.strip()!r} starts with 00, which is not a Japanese number", "zero_zero",
                         text=original.strip())
    if len(national) >= 3 and national[2] == "0":
        # 0X0 is never an area code: 010 is the international call prefix, 030/040 are unassigned
        raise PhoneError(
            f"{original.strip()!r} starts with {national[:3]}, which is not a Japanese number prefix", "prefix",
            text=original.strip(), prefix=national[:3],
        )
    if len(national) != 10:
        _length_error(national, 10, kind_words(PhoneKind.LANDLINE), original)
    return PhoneKind.LANDLINE


def _length_error(national: str, length: int, which: str, original: str) -> None:
    how = "too short" if len(national) < length else "too long"
    raise PhoneError(
        f"{original.strip()!r} is {how}: {which} has {length} digits, this one has {len(national)}",
        "too_short" if len(national) < length else "too_long",
        text=original.strip(), length=length, digits=len(national),
    )


# The usual way numbers are written ("090-1234-5678", "0312345678"): skips the general path.
# ASCII digits only: `\d` takes full-width ones too, which must go through NFKC.
_PLAIN = re.compile(r"0[0-9]{9,10}|0[0-9]{1,4}-[0-9]{1,4}-[0-9]{3,4}")


def classify_phone(text: str) -> tuple[str, PhoneKind]:
    """Any written Japanese number → (E.164, kind); raises `PhoneError` with the reason.
    The same as `parse_phone` without building an object (roster files hold 200k numbers)."""
    if _PLAIN.fullmatch(text):
        national = text.replace("-", "")
    else:
        national = _to_national(_strip(text), text)
    return "+81" + national[1:], _classify(national, text)


def parse_phone(text: str) -> PhoneNumber:
    """Any written Japanese number → `PhoneNumber`; raises `PhoneError` with the reason."""
    e164, kind = classify_phone(text)
    return PhoneNumber(e164=e164, kind=kind)


def to_e164(text: str) -> str:
    return parse_phone(text).e164


# Two-digit area codes; other fixed lines are grouped 3-3-4. The grouping is only cosmetic:
# the digits are what matter, and they always round-trip.
_TWO_DIGIT_AREAS = ("03", "04", "06")


def format_national(e164: str) -> str:
    """E.164 → the usual hyphenated national form ("090-1234-5678", "03-1234-5678")."""
    n = parse_phone(e164).national
    if n.startswith(("0120", "0570", "0180", "0990", "0800")):
        return f"{n[:4]}-{n[4:7]}-{n[7:]}"
    if len(n) == 11:
        return f"{n[:3]}-{n[3:7]}-{n[7:]}"
    if n.startswith(_TWO_DIGIT_AREAS):
        return f"{n[:2]}-{n[2:6]}-{n[6:]}"
    return f"{n[:3]}-{n[3:6]}-{n[6:]}"


def mask_phone(e164: str) -> str:
    """What a page shows of a number: its last four digits."""
    digits = "".join(ch for ch in e164 if ch.isdigit())
    return "…" + digits[-4:]


# -- roster cells (携帯電話, 固定電話) --------------------------------------------

# "090-1234-5678" / "09012345678", the form nearly every roster uses (0800 is free dial, not mobile)
_PLAIN_MOBILE = re.compile(r"(?:0[679]0-?[0-9]|080-?[1-9])[0-9]{3}-?[0-9]{4}")


def parse_mobile(text: str, landline_column: str = "landline") -> str:
    """A number that can take SMS → E.164; PhoneError (a ValueError) with a message fit to show."""
    if _PLAIN_MOBILE.fullmatch(text):
        return "+81" + text.replace("-", "")[1:]
    e164, kind = classify_phone(text)
    if kind is PhoneKind.MOBILE:
        return e164
    if kind is PhoneKind.LANDLINE or kind is PhoneKind.IP:
        raise PhoneError(
            f"{text.strip()!r} is {kind_words(kind)}, which cannot receive SMS: put it in column {landline_column}",
            f"no_sms_{kind}", text=text.strip(), column=landline_column,
        )
    raise PhoneError(f"{text.strip()!r} is {kind_words(kind)}, not a household phone", f"not_household_{kind}",
                     text=text.strip())


def parse_landline(text: str, mobile_column: str = "phone") -> str:
    """A voice-only number (fixed line or 050 IP phone) → E.164."""
    e164, kind = classify_phone(text)
    if kind is PhoneKind.LANDLINE or kind is PhoneKind.IP:
        return e164
    if kind is PhoneKind.MOBILE:
        raise PhoneError(f"{text.strip()!r} is a mobile number: put it in column {mobile_column}", "is_mobile",
                         text=text.strip(), column=mobile_column)
    raise PhoneError(f"{text.strip()!r} is {kind_words(kind)}, not a household phone", f"not_household_{kind}",
                     text=text.strip())

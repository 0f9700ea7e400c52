"""Cell values of a roster file: each parser takes the cell text and returns the stored value
or raises `ValueProblem` with a message fit to show next to the row and column.

Pure functions; they also give the text the exporter writes back, so a round trip is stable.
"""

from __future__ import annotations

import re
import unicodedata


class ValueProblem(ValueError):
    """A cell that cannot be read; the message says what is wrong."""


def fold(text: str) -> str:
    """Full-width to half-width (NFKC), trimmed: the form keys and codes are compared in."""
    return unicodedata.normalize("NFKC", text).strip()


# -- vulnerable (要配慮) -------------------------------------------------------

_YES = frozenset({"1", "yes", "y", "true", "はい", "○", "◯", "〇", "有", "あり", "要", "✓", "✔"})
_NO = frozenset({"", "0", "no", "n", "false", "いいえ", "×", "✕", "✖", "無", "なし", "-"})


def parse_vulnerable(text: str) -> bool:
    v = fold(text).casefold()
    if v in _YES:
        return True
    if v in _NO:
        return False
    raise ValueProblem(
        f"{text.strip()!r} is not yes or no (use 1/0, yes/no, はい/いいえ, ○/×, 有/無 or leave empty)"
    )


# -- consent (同意) ------------------------------------------------------------

# Words a city's file may use; the roster stores domain.consent.Consent values. Empty stays "" here:
# what it means depends on the row's 要配慮 column (domain.consent.default_consent).
_CONSENT_WORDS = {
    **dict.fromkeys(("yes", "y", "1", "同意", "同意あり", "あり", "有", "はい", "○", "◯", "〇"), "yes"),
    **dict.fromkeys(("no", "n", "0", "不同意", "同意なし", "なし", "無", "いいえ", "×", "✕"), "no"),
    **dict.fromkeys(("ordinance", "条例", "条例による提供", "条例提供", "条例による"), "ordinance"),
}
CONSENT_WORDS_JA = {"yes": "同意", "no": "不同意", "ordinance": "条例"}


def parse_consent(text: str) -> str:
    v = fold(text).casefold()
    if not v:
        return ""
    if v in _CONSENT_WORDS:
        return _CONSENT_WORDS[v]
    raise ValueProblem(
        f"{text.strip()!r} is not a consent (use yes/no/ordinance, 同意/不同意/条例, or leave empty: "
        "同意 for an ordinary household, 不同意 for a 要配慮 one)"
    )


# -- language (言語) -----------------------------------------------------------

EASY_JAPANESE = "ja-easy"
_LANGUAGE_ALIASES = {
    "jp": "ja",
    "日本語": "ja",
    "にほんご": "ja",
    "japanese": "ja",
    "やさしい日本語": EASY_JAPANESE,
    "やさしいにほんご": EASY_JAPANESE,
    "易しい日本語": EASY_JAPANESE,
    "優しい日本語": EASY_JAPANESE,
    "easyjapanese": EASY_JAPANESE,
    "英語": "en",
    "english": "en",
    "中国語": "zh",
    "chinese": "zh",
    "中文": "zh",
    "韓国語": "ko",
    "韓国・朝鮮語": "ko",
    "korean": "ko",
    "한국어": "ko",
    "ベトナム語": "vi",
    "vietnamese": "vi",
    "tiếngviệt": "vi",
    "ポルトガル語": "pt",
    "portuguese": "pt",
    "português": "pt",
    "スペイン語": "es",
    "spanish": "es",
    "タガログ語": "tl",
    "フィリピノ語": "fil",
    "ネパール語": "ne",
    "インドネシア語": "id",
    "タイ語": "th",
    "ミャンマー語": "my",
}
# Well-formed BCP 47 (RFC 5646 syntax, without the grandfathered tags); registry validity is not checked.
_BCP47 = re.compile(
    r"(?:[a-z]{2,3}(?:-[a-z]{3}){0,3})"  # language, extlang
    r"(?:-[a-z]{4})?"  # script
    r"(?:-(?:[a-z]{2}|\d{3}))?"  # region
    r"(?:-(?:[a-z\d]{5,8}|\d[a-z\d]{3}))*"  # variants
    r"(?:-[a-wyz\d](?:-[a-z\d]{2,8})+)*"  # extensions
    r"(?:-x(?:-[a-z\d]{1,8})+)?"  # private use
)


def _canonical_case(tag: str) -> str:
    """RFC 5646 §2.1.1 casing: language lower, script Title, region upper."""
    parts = tag.split("-")
    out = [parts[0]]
    singleton = False
    for p in parts[1:]:
        if len(p) == 1:
            singleton = True
        if singleton:
            out.append(p)
        elif len(p) == 4 and p.isalpha():
            out.append(p.title())
        elif len(p) == 2 and p.isalpha():
            out.append(p.upper())
        else:
            out.append(p)
    return "-".join(out)


def parse_language(text: str, default: str = "ja") -> str:
    raw = fold(text)
    if not raw:
        return default
    low = raw.casefold().replace("_", "-")
    alias = _LANGUAGE_ALIASES.get(low.replace(" ", ""))
    if alias:
        return alias
    if low == EASY_JAPANESE:
        return EASY_JAPANESE
    if _BCP47.fullmatch(low):
        return _canonical_case(low)
    raise ValueProblem(
        f"{raw!r} is not a language code (use ja, ja-easy for やさしい日本語, en, zh, ko, vi, pt "
        "or another BCP 47 tag such as pt-BR)"
    )


# -- members (人数) ------------------------------------------------------------

MAX_MEMBERS = 999  # a care home registered as one household stays far below this


def parse_members(text: str) -> int:
    v = fold(text).removesuffix("人").removesuffix("名").strip()
    if not v:
        return 1
    if not v.isdigit() or not v.isascii():
        raise ValueProblem(f"{text.strip()!r} is not a whole number of people")
    n = int(v)
    if not 1 <= n <= MAX_MEMBERS:
        raise ValueProblem(f"{n} is out of range: a household has 1 to {MAX_MEMBERS} members")
    return n



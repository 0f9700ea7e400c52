"""Cell values of a roster file: each parser takes the cell text and returns the stored value
or raises `ValueProblem`, which says what is wrong in any catalog language (shown next to the row
and column).

Pure functions; they also give the text the exporter writes back, so a round trip is stable.
"""

from __future__ import annotations

import re
import unicodedata

from safetynet.i18n import t


class ValueProblem(ValueError):
    """A cell that cannot be read: a catalog text (`roster.problem.*`) and its values.

    `str()` is the English text (logs, tests); `text(lang)` is the text in `lang`.
    """

    def __init__(self, key: str, /, **values: object) -> None:
        self.key = key
        self.values = values
        super().__init__(t("en", key, **values))

    def text(self, lang: str) -> str:
        return t(lang, self.key, **self.values)


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
    raise ValueProblem("roster.problem.not_yes_no", value=text.strip())


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
    raise ValueProblem("roster.problem.not_consent", value=text.strip())


# -- language (言語) -----------------------------------------------------------

EASY_JAPANESE = "ja-easy"
_LANGUAGE_ALIASES = {
    "jp": "ja",
    # country codes often written for the language (QA2: "vn" passed the check and meant Japanese)
    "vn": "vi",
    "cn": "zh",
    "kr": "ko",
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
    raise ValueProblem("roster.problem.not_language", value=raw)


# -- members (人数) ------------------------------------------------------------

MAX_MEMBERS = 999  # a care home registered as one household stays far below this


def parse_members(text: str) -> int:
    v = fold(text).removesuffix("人").removesuffix("名").strip()
    if not v:
        return 1
    if not v.isdigit() or not v.isascii():
        raise ValueProblem("roster.problem.not_members", value=text.strip())
    n = int(v)
    if not 1 <= n <= MAX_MEMBERS:
        raise ValueProblem("roster.problem.members_range", n=n, max=MAX_MEMBERS)
    return n



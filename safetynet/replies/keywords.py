"""SMS keywords (DESIGN.md §4) to an answer. Pure.

`1`, `無事`, `ぶじ`, `safe`, `ok` → safe, and `大丈夫` / `だいじょうぶ` alone (the やさしい日本語 page's
safe button says だいじょうぶ; inside a sentence the word is as often about someone else, "私は大丈夫
だけど母が動けない", or a question, so with other words it is no answer); `2`, `助けて`, `たすけて`, `help`, `sos` → need help.
Full- and half-width forms are folded (NFKC), katakana is read as hiragana, case is ignored, and
text around a keyword is tolerated ("1 無事です"). When a message holds both kinds of keyword
("2人とも無事") or a negated "safe" ("無事じゃない", "not ok"), the answer is None: guessing
"safe" for someone who may be in trouble is the one mistake this must never make, so such texts
are kept as a note and answered with the keyword help.
"""

from __future__ import annotations

import re
import unicodedata

from safetynet.domain import Status

# Katakana (ァ..ヶ) to hiragana: the same words are written either way ("ブジ", "タスケテ").
_KATA_TO_HIRA = {cp: cp - 0x60 for cp in range(0x30A1, 0x30F7)}

# ASCII keywords need word edges ("unsafe", "okay" or "10" are not keywords).
_SAFE_ASCII = re.compile(r"(?<![a-z0-9])(?:1|safe|ok)(?![a-z0-9])")
_HELP_ASCII = re.compile(r"(?<![a-z0-9])(?:2|help|sos)(?![a-z0-9])")
# Japanese has no spaces: the words are found inside the text.
_SAFE_WORDS_JA = r"無事|ぶじ"
_DAIJOUBU_WORDS = r"大丈夫|だいじょうぶ|だいじょーぶ|だいじょぶ"
_SAFE_JA = re.compile(_SAFE_WORDS_JA)
_DAIJOUBU = re.compile(_DAIJOUBU_WORDS)
_HELP_JA = re.compile(r"助けて|たすけて|助けが必要|たすけがひつよう")
# "Safe" negated right after the word: not an answer of safe.
_NEGATED_JA = re.compile(rf"(?:{_SAFE_WORDS_JA}|{_DAIJOUBU_WORDS})\s*(?:(?:じゃあ?|では|でわ)\s*(?:な|ありません)|でな[いく])")
# "Safe" asked, not told: 「大丈夫？」「無事ですか」「大丈夫かな」 (the sender may be asking about someone).
_ASKED_JA = re.compile(rf"(?:{_SAFE_WORDS_JA}|{_DAIJOUBU_WORDS})\s*(?:です|でしょう|でした)?\s*(?:か|\?)")
_NEGATED_EN = re.compile(r"(?<![a-z])(?:not|isn't|isnt|aren't|arent|am not|no longer)\s+(?:safe|ok)(?![a-z])")


def normalise(text: str) -> str:
    """NFKC (full width → half width), lower case, katakana → hiragana."""
    return unicodedata.normalize("NFKC", text).lower().translate(_KATA_TO_HIRA)


def parse_keyword(text: str) -> Status | None:
    """SAFE, NEED_HELP, or None when the text is not a clear answer."""
    t = normalise(text)
    if _NEGATED_JA.search(t) or _NEGATED_EN.search(t) or _ASKED_JA.search(t):
        return None
    safe = bool(_SAFE_ASCII.search(t) or _SAFE_JA.search(t))
    if not safe and _DAIJOUBU.search(t):
        if _says_more(t):
            return None  # 大丈夫 within a sentence: maybe someone else's, maybe a question
        safe = True
    help_ = bool(_HELP_ASCII.search(t) or _HELP_JA.search(t))
    if safe == help_:
        return None  # neither, or both
    return Status.SAFE if safe else Status.NEED_HELP


_FILLER = re.compile(r"[\s\.,!?。、!?・ー〜~]+|です|でした|だよ|だ")


def has_words_beyond_keyword(text: str) -> bool:
    """True when the text says more than the keyword ("2 足をけがしました"): worth keeping as a note."""
    return _says_more(normalise(text))


def _says_more(t: str) -> bool:
    for pattern in (_SAFE_ASCII, _HELP_ASCII, _SAFE_JA, _DAIJOUBU, _HELP_JA):
        t = pattern.sub(" ", t)
    return bool(_FILLER.sub("", t))

"""SMS keywords (DESIGN.md §4) to an answer. Pure.

`1`, `無事`, `ぶじ`, `safe`, `ok` → safe, and `大丈夫` / `だいじょうぶ` alone (the やさしい日本語 page's
safe button says だいじょうぶ; inside a sentence the word is as often about someone else, "私は大丈夫
だけど母が動けない", or a question); `2`, `助けて`, `たすけて`, `help`, `sos` → need help.
Full- and half-width forms are folded (NFKC), katakana is read as hiragana, case is ignored, and
text around a keyword is tolerated ("1 無事です").

Guessing "safe" for someone who may be in trouble is the one mistake this must never make; a text
that tells of trouble and is taken for no answer is the next worst (QA: 「大丈夫じゃない、足をけがした」
was kept as a note no head saw, the household left "not answered"). So words of trouble (けが,
動けない, 閉じ込められた, 救急, injured, trapped…; not "けがはない") and a negated "safe" (無事じゃない,
not ok) are need help, whatever else the text says, and the head reads the text with the request.
A text with both kinds of keyword and no trouble ("2人とも無事"), or a question ("大丈夫？"), is
no answer: kept as a note and answered with the keyword help.

A text that only asks to stop the messages (`STOP`, `ストップ`, `配信停止`, `解除してください`…:
`asks_to_stop`) is no answer either; the intake keeps it as a note and tells the resident how stopping works.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence

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
# Trouble that is itself a "cannot" (動けません, 出られない, 意識がない, can't move): always trouble,
# whatever negation is in it. After `normalise`: katakana as hiragana, so ケガ is けが.
_CANNOT_JA = re.compile(
    r"(?:(?:動|うご)け|(?:出|で)られ|(?:歩|ある)け|立て|起きられ|(?:逃|に)げられ|連絡(?:が)?取れ|連絡(?:が)?つか)"
    r"(?:な|ません|ず)|意識が(?:な|ありません)|息が(?:できな|できません|くるし|苦し)")
# Trouble told as a thing (けが, 倒れ, 火事…): trouble unless a denial follows it within the same
# phrase (「けがもなく」「火災なし」「救助は不要」「倒れていません」「痛くない」).
_TROUBLE_JA = re.compile(
    r"けが|怪我|負傷|痛い|痛く|痛め|痛み|倒れ|たおれ|閉じ込め|とじこめ|下敷き|したじき|挟ま|はさま|埋ま|生き埋め"
    r"|救急|きゅうきゅう|救助|きゅうじょ|出血|骨折|苦しい|くるしい|火事|火災|燃えて|浸水|流され|孤立|困って|困る"
    r"|こまって|危ない|危なく|あぶない|あぶなく|具合が悪|ぐあいがわる")
_DENIED_AFTER = re.compile(r"[^。、,.!?！？\n]{0,8}?(?:ない|なく|なし|無し|無く|ません|ず|不要|いらない)")
_CANNOT_EN = re.compile(r"(?<![a-z])(?:can't|cannot|can not|unable to)\s+(?:move|get out|walk|breathe|stand)(?![a-z])"
                        r"|(?<![a-z])unconscious(?![a-z])")
_TROUBLE_EN = re.compile(
    r"(?<![a-z])(?:injur\w*|hurt|trapped|bleeding|ambulance|fire|fell|fallen|flood\w*|collapsed)(?![a-z])")
_DENIED_BEFORE_EN = re.compile(r"(?<![a-z])(?:no|not|nobody|nobody's|none|nothing|isn't|aren't|wasn't|without|never)"
                               r"(?:\s+\w+){0,3}\s*$")


def _told(found: re.Pattern[str], text: str, denied: Callable[[str, re.Match[str]], bool]) -> bool:
    return any(not denied(text, m) for m in found.finditer(text))


def _denied_ja(text: str, m: re.Match[str]) -> bool:
    return _DENIED_AFTER.match(text, m.end()) is not None


def _denied_en(text: str, m: re.Match[str]) -> bool:
    return _DENIED_BEFORE_EN.search(text[: m.start()]) is not None


# Typographic apostrophes (an iPhone types ’): "isn’t safe" must read as "isn't safe".
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


def normalise(text: str) -> str:
    """NFKC (full width → half width), lower case, katakana → hiragana, typographic apostrophes plain."""
    return unicodedata.normalize("NFKC", text).lower().translate(_KATA_TO_HIRA).translate(_QUOTES)


def tells_of_trouble(text: str) -> bool:
    """True when the text tells of trouble: an injury, someone who cannot move or get out, a fire…
    (not when it denies one: "けがはありません", "nobody hurt"); or says it is not safe."""
    t = normalise(text)
    if _NEGATED_JA.search(t) or _NEGATED_EN.search(t) or _CANNOT_JA.search(t) or _CANNOT_EN.search(t):
        return True
    return _told(_TROUBLE_JA, t, _denied_ja) or _told(_TROUBLE_EN, t, _denied_en)


def parse_keyword(text: str) -> Status | None:
    """SAFE, NEED_HELP, or None when the text is not a clear answer."""
    if tells_of_trouble(text):
        return Status.NEED_HELP
    t = normalise(text)
    if _ASKED_JA.search(t):
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


# Asking to stop the messages, and nothing else: Twilio's opt-out words and what a Japanese resident
# types. Matched against the whole text (filler and politeness taken off): "stop" inside a sentence
# ("can't stop the bleeding") is no request to stop.
_STOP_WHAT = r"(?:配信|はいしん|通知|つうち|連絡|れんらく|めーる|sms|登録|とうろく)(?:の|を|は)?"
_STOP = re.compile(
    r"(?:stop|stopall|unsubscribe|cancel|end|quit|optout"
    # ストップ (ｽﾄｯﾌﾟ) reads すとっぷ after `normalise`, as every katakana word here
    rf"|(?:{_STOP_WHAT})?(?:停止|ていし|解除|かいじょ|中止|ちゅうし|すとっぷ)"
    # "不要" or "やめて" alone may be about help (「いらない」) or a shelter (「とめて」): only with what to stop
    rf"|{_STOP_WHAT}(?:不要|ふよう|いらない|やめて|止めて|とめて)"
    r"|(?:もう)?(?:送らないで|おくらないで|送ってこないで|おくってこないで))"
    r"(?:して|してください|してほしい|を?お願いします|を?おねがいします|を?希望します|を?きぼうします|ください)?")
_STOP_FILLER = re.compile(r"[\s\.,!?。、!?・〜~「」]+")


def asks_to_stop(text: str) -> bool:
    """True when the text asks to stop the messages and says nothing else (`STOP`, `配信停止`,
    `解除してください`, `もう送らないで`); never for a text that is an answer (check `parse_keyword` first)."""
    return _STOP.fullmatch(_STOP_FILLER.sub("", normalise(text))) is not None


# -- staff: 対応済み by a text ------------------------------------------------------------------------
#
# A head or deputy on a feature phone marks a help request handled by texting back to the alert:
# 「対応済み 12」 (the household number the alert gives; 「対応済み」 alone marks nothing, even with one
# request open: the one open then may not be the one she saw to). Only the words of marking at the
# start or after the number count, then the number and, to tell one number of two associations apart,
# the association's name: a text that merely holds 済み (「1 避難済み」「1 済み」, a resident's words) or the
# words inside a sentence (「まだ対応済みにしないで」) is no staff text at all (review: a head who is a
# resident too had her 「1 避難済み」 taken for a 対応済み and her 無事 never recorded). Words after the
# number that are not its association's name make it no mark, and the staff member is told the form:
# marking the wrong household off the list is worse than asking once more.
_HANDLED_WORDS = r"対応済み?|対応ずみ|対応すみ|たいおう[ずす]み|対応しました|たいおうしました|done|handled"
# A household number as typed: 12, 012, A-002, 12番, 世帯番号12, No.12, #12 (a digit in it).
_NUMBER = r"(?:(?:世帯番号|番号|no\.?|#)\s*)?(?=[a-z0-9\-]*[0-9])[a-z0-9][a-z0-9\-]*番?"
_ENDING = r"(?:です|でした|ました|しました|にしました|にします|お願いします)?"
_SEPS = r"[\s,、。・:：()（）「」『』!！?？]"


def _anchored(words: str) -> re.Pattern[str]:
    """「WORDS」, 「WORDS 12 (name)」 or 「12 WORDS (name)」, and nothing else around them."""
    # (matched against the text with the separators around it taken off: `_staff_words`)
    return re.compile(
        rf"(?P<n1>{_NUMBER}){_SEPS}*(?:{words}){_ENDING}(?:{_SEPS}+(?P<t1>.+))?"
        rf"|(?:{words}){_ENDING}(?:{_SEPS}*(?P<n2>{_NUMBER})(?:{_SEPS}*(?P<t2>.+))?)?",
        re.IGNORECASE | re.DOTALL)


_HANDLED = _anchored(_HANDLED_WORDS)
# `_SEPS` as characters, to take off around a text (str.strip: a regex of them at the end is quadratic)
_SEP_CHARS = " \t\r\n\v\f,、。・:：()（）「」『』!！?？"
# Said around the words and the number: endings, punctuation, 番 after a number, 世帯番号 or No. before it.
_HANDLED_FILLER = re.compile(r"です|でした|ました|しました|にしました|にします|お願いします|[\s\.,。、!！?？・「」『』:：()（）]+")
_HANDLED_SEP = re.compile(r"[\s,、。・:：()（）「」『』!！?？]+")
_NUMBER_AROUND = re.compile(r"^(?:世帯番号|番号|no\.?|#)|番$", re.IGNORECASE)
_A_NUMBER = re.compile(_NUMBER, re.IGNORECASE)


def staff_handled(text: str) -> tuple[str, ...] | None:
    """A staff member's text marking a help request handled: the words it names the request by (the
    household number, then what follows it: an association's name), full width folded and katakana as
    hiragana (case kept: they are said back), in order; () for 「対応済み」 alone (which names none);
    None when the text is not 「対応済み」 with a number (or alone). Which request the words name is the
    caller's to find (`same_household_number`, `names_association`)."""
    return _staff_words(text, _HANDLED)


def _staff_words(text: str, said: re.Pattern[str]) -> tuple[str, ...] | None:
    """The number and the words after it of a staff member's text of `said` (`staff_handled`);
    None when the text is not that form."""
    t = unicodedata.normalize("NFKC", text).translate(_KATA_TO_HIRA)
    m = said.fullmatch(t.strip(_SEP_CHARS))
    if m is None:
        return None
    number = m.group("n1") or m.group("n2")
    if number is None:
        return ()
    words = [_NUMBER_AROUND.sub("", number.strip())]
    for part in _HANDLED_SEP.split(m.group("t1") or m.group("t2") or ""):
        part = _NUMBER_AROUND.sub("", part)
        if part and _HANDLED_FILLER.fullmatch(part) is None:
            words.append(part)
    return tuple(words)


def household_answer_in(words: Sequence[str]) -> Status | None:
    """The household's answer (`parse_keyword`) in a staff text's words (`staff_handled`,
    `staff_visited`) other than its household numbers: 「確認済み 1 無事」 from a phone that is a
    household's too is the household's 無事; 「対応済み 1」 (the form the alert asks for) is none."""
    rest = [w for w in words if not is_household_number(w)]
    return parse_keyword(" ".join(rest)) if rest else None


def is_household_number(typed: str) -> bool:
    """Whether `typed` (a word of `staff_handled`) is typed as a household number (12, A-002), not a
    name: 「対応済み 12 13」 names two."""
    return _A_NUMBER.fullmatch(normalise(typed)) is not None


def same_household_number(typed: str, key: str) -> bool:
    """Whether `typed` (a word of `staff_handled`) names the household numbered `key` (as the roster
    has it): full width or not, either case, and 012 for 12 where both are numbers."""
    typed, key = normalise(typed).strip(), normalise(key).strip()
    return typed == key or (typed.isdigit() and key.isdigit() and int(typed) == int(key))


def names_association(typed: str, association: str) -> bool:
    """Whether `typed` (a word of `staff_handled`) holds the association's name."""
    return normalise(association) in normalise(typed)


# -- staff: 訪問済み by a text ------------------------------------------------------------------------
#
# A head or deputy on a feature phone walking the door-knock list (its numbers came by SMS) confirms a
# household she saw by texting back 「訪問済み 12」 or 「確認済み 12」: the page's 訪問で確認. The same
# form as 対応済み (`staff_handled`), and the same care: the words, the number and an association's
# name only (a resident's 「家族全員確認済みです」 is no staff text); anything else after the number and
# nothing is recorded.
_VISITED = _anchored(r"訪問済み?|訪問ずみ|訪問すみ|ほうもん[ずす]み|確認済み?|確認ずみ|確認すみ|かくにん[ずす]み|visited")


def staff_visited(text: str) -> tuple[str, ...] | None:
    """A staff member's text confirming a household in person: the words it names the household by
    (as `staff_handled`'s); () for 「訪問済み」 alone; None when the text is not 「訪問済み」 or 「確認済み」
    with a number (or alone)."""
    return _staff_words(text, _VISITED)


# A 「訪問済み」 sent for the wrong household (a digit mistyped walking in the dark) takes that household
# off the door-knock list: nobody would knock there again. The page has 取り消す; a feature phone texts
# 「訪問取消 12」 (訪問取り消し…): the same form and care as 訪問済み. 訪問 is part of it: a resident corrects
# her own answer with 「取消 2」 (review: from a phone that is a household's and a staff member's too, that
# took back household 2's confirmation and dropped her 助けが必要).
_VISIT_UNDONE = _anchored(r"(?:訪問|ほうもん)(?:取り?消し?|とりけし)|undo")


def staff_visit_undone(text: str) -> tuple[str, ...] | None:
    """A staff member's text taking back an in-person confirmation: the words it names the household
    by (as `staff_handled`'s); () for 「訪問取消」 alone; None when the text is not 「訪問取消」 with a
    number (or alone)."""
    return _staff_words(text, _VISIT_UNDONE)

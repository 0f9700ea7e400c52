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
A digit with a counter is a number, not a key (「2人とも無事」 is safe, 「たすけて 1階にいます」 a call for
help); a call for help in words beside a bare `1` is need help. A text with both kinds of keyword and no
trouble ("1 or 2", "無事 2"), or a question ("大丈夫？", "ok?"), is no answer: kept as a note and answered
with the keyword help.

Chinese, Korean, Vietnamese and Portuguese households answer in their words too: the catalogs' buttons
and SMS hint (平安无事/需要帮助, 平安/求助; 무사합니다/도움이 필요합니다, 무사/도움; Tôi an toàn/Tôi cần giúp đỡ,
an toàn/cần giúp; Estou bem/Preciso de ajuda, seguro/ajuda) and what people say (救命, 살려주세요, cứu,
socorro…), Vietnamese and Portuguese with or without their accents ("an toan", "nao estou bem"). The same
rules hold: their words of trouble (受伤, 다쳤어요, bị thương, ferido…; not 没有人受伤, 안 다쳤어요, không ai bị
thương, ninguém ferido) and a negated "safe" (不安全, 안 괜찮아요, không an toàn, não estou bem) are need help;
a question (平安吗, 괜찮아요?, an toàn không?, tudo bem?) is no answer; a call for help that is denied
(不需要帮助, 도움은 필요 없어요, không cần giúp, não preciso de ajuda) is none. Their "safe" counts only alone,
as 大丈夫 does ("Estou bem", 「我们全家都平安」, "저희 가족은 모두 무사합니다"): their words of trouble are far
fewer than the Japanese ones, so "我平安，但是妈妈…" is kept as a note rather than read as safe.

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

# ASCII keywords need word edges ("unsafe", "okay" or "10" are not keywords), and a digit with a counter
# after it is a number, not the key: 「1人暮らし」「1階にいます」「2人とも無事」 (review: 「たすけて 1階にいます」
# was both keys, so no answer, and 「1人で避難できない」 read as safe).
# (not 番: 「2番」 is the key named as a choice)
_COUNTER = r"(?!\s?(?:人|名|階|歳|才|丁目|班|日|時|分|秒|回|件|つ|か所|ヶ所|箇所|号|棟|軒|匹|台|本|度|世帯|家族))"
_SAFE_WORD_ASCII = re.compile(r"(?<![a-z0-9])(?:safe|ok)(?![a-z0-9])")
_HELP_WORD_ASCII = re.compile(r"(?<![a-z0-9])(?:help|sos)(?![a-z0-9])")
_KEY_TWO = re.compile(rf"(?<![a-z0-9])2(?![a-z0-9]){_COUNTER}")
_SAFE_ASCII = re.compile(rf"(?<![a-z0-9])(?:1{_COUNTER}|safe|ok)(?![a-z0-9])")
_HELP_ASCII = re.compile(rf"(?<![a-z0-9])(?:2{_COUNTER}|help|sos)(?![a-z0-9])")
# Japanese has no spaces: the words are found inside the text.
_SAFE_WORDS_JA = r"無事|ぶじ"
_DAIJOUBU_WORDS = r"大丈夫|だいじょうぶ|だいじょーぶ|だいじょぶ"
# 無事 as a thing still looked for, not told: 「無事が確認できません」「無事を確認中」「無事かわからない」: no "safe"
# (review: they read as safe, and the household left the door-knock list). A check done is told:
# 「家族全員の無事を確認しました」「無事確認できました」 are safe (the day's reread).
# A check that failed (「…が確認できません」); a check not known (「…がわからない」): one rule for "no safe"
# here and for trouble (`_CANNOT_JA`).
_CHECK_FAILED_JA = r"(?:確認|かくにん|確か)(?:が|は)?\s*(?:でき|とれ|取れ|め(?:られ)?)(?:な|ません|ず|ていな|ていません)"
_NOT_KNOWN_JA = r"わから|分から|不明"
_SAFE_JA = re.compile(rf"(?:{_SAFE_WORDS_JA})(?!\s*(?:が|は|を|も)?\s*(?:(?:確認|かくにん)(?:中|ちゅう|して(?:い|る)|しよう)"
                      rf"|{_CHECK_FAILED_JA}|{_NOT_KNOWN_JA}))")
_DAIJOUBU = re.compile(_DAIJOUBU_WORDS)
_HELP_JA = re.compile(r"助けて|たすけて|助けが必要|たすけがひつよう|へるぷ")  # ヘルプ, read as hiragana
# "Safe" negated right after the word: not an answer of safe. (安全 is a "safe" alone: `_SAFE_ZH`.)
# The IME writes ない as 無い (「無事では無い」), and people write it as they speak (じゃねー, ございません,
# とは言えない, なわけない): each read as safe or as nothing (review).
_NEGATED_JA = re.compile(
    rf"(?:{_SAFE_WORDS_JA}|{_DAIJOUBU_WORDS}|安全)\s*(?:(?:じゃあ?|では|でわ)\s*(?:な|無|ありません|ございません|ね[えぇー])"
    r"|でな[いく]|で無[いく]|とは\s*(?:言|い)え(?:な|ません|ず)|な(?:ん[かて])?わけ(?:が|は)?\s*(?:な|無))")
# "Safe" asked, not told: 「大丈夫？」「無事ですか」「大丈夫かな」 (the sender may be asking about someone).
_ASKED_JA = re.compile(rf"(?:{_SAFE_WORDS_JA}|{_DAIJOUBU_WORDS}|安全)\s*(?:です|でしょう|でした)?\s*(?:か|\?)")
# "Safe" asked in English: "ok?", "is mom safe?" (review: read as safe).
_ASKED_EN = re.compile(r"(?<![a-z])(?:safe|ok)\s*\?")
_NEGATED_EN = re.compile(r"(?<![a-z])(?:not|isn't|isnt|aren't|arent|am not|no longer)\s+(?:safe|ok)(?![a-z])")
# Trouble that is itself a "cannot" (動けません, 出られない, 意識がない, can't move): always trouble,
# whatever negation is in it. After `normalise`: katakana as hiragana, so ケガ is けが.
_CANNOT_JA = re.compile(
    r"(?:(?:動|うご)け|(?:出|で)られ|(?:歩|ある)け|立て|起きられ|(?:逃|に)げられ|(?:連絡|れんらく)(?:が)?\s*(?:取|と)れ"
    r"|(?:連絡|れんらく)(?:が)?\s*つか|(?:避難|ひなん)(?:が|も)?\s*でき|(?:見|み)つから)"
    r"(?:な|ません|ず)|意識が(?:な|ありません)|息が(?:できな|できません|くるし|苦し)"
    # someone not confirmed safe (「母の無事が確認できません」「安否がわからない」): a door to knock on
    rf"|(?:無事|ぶじ|安否|あんぴ|居場所|いばしょ)(?:が|は|も)?\s*{_CHECK_FAILED_JA}"
    rf"|(?:安否|あんぴ|居場所|いばしょ)(?:が|は|も)?\s*(?:{_NOT_KNOWN_JA})")
# Trouble told as a thing (けが, 倒れ, 火事…): trouble unless a denial follows it within the same
# phrase (「けがもなく」「火災なし」「救助は不要」「倒れていません」「痛くない」).
_TROUBLE_JA = re.compile(
    r"けが|怪我|負傷|痛い|痛く|痛め|痛み|倒れ|たおれ|閉じ込め|とじこめ|下敷き|したじき|挟ま|はさま|埋ま|生き埋め"
    r"|救急|きゅうきゅう|救助|きゅうじょ|出血|骨折|苦しい|くるしい|火事|火災|燃えて|浸水|流され|孤立|困って|困る"
    r"|こまって|危ない|危なく|あぶない|あぶなく|具合が悪|ぐあいがわる|行方不明|ゆくえふめい|倒壊|とうかい"
    r"|がす(?:漏|も)れ")
_DENIED_AFTER = re.compile(r"[^。、,.!?！？\n]{0,8}?(?:ない|なく|なし|無し|無く|ません|ず|不要|いらない)")
_CANNOT_EN = re.compile(r"(?<![a-z])(?:can't|cannot|can not|unable to)\s+(?:move|get out|walk|breathe|stand)(?![a-z])"
                        r"|(?<![a-z])unconscious(?![a-z])")
_TROUBLE_EN = re.compile(
    r"(?<![a-z])(?:injur\w*|hurt|trapped|bleeding|ambulance|fire|fell|fallen|flood\w*|collapsed)(?![a-z])")
_DENIED_BEFORE_EN = re.compile(r"(?<![a-z])(?:no|not|nobody|nobody's|none|nothing|isn't|aren't|wasn't|without|never)"
                               r"(?:\s+\w+){0,3}\s*$")

# -- zh, ko, vi, pt ----------------------------------------------------------------------------------
#
# Matched after `_folded`: Vietnamese and Portuguese without their accents ("cứu" and "cuu" alike), so
# the Latin words are written without them. Latin words need word edges ("ajudante" is no "ajuda");
# Chinese is found inside the text, as Japanese; Korean by its stems (무사합니다, 괜찮아요).


def _latin(words: str) -> str:
    return rf"(?<![a-z0-9])(?:{words})(?![a-z0-9])"


# "Safe", counted only alone (`parse_keyword`): with nothing but filler (`_FILLER_OTHER`) around it.
_SAFE_ZH = r"平安|安全|没事|沒事|无事|安好|无恙|無恙|没问题|沒問題|很好|都好"
_SAFE_KO = r"(?:무사|안전)(?:합니다|해요|하다|해|함)?|괜찮(?:습니다|아요|아|다|음)?"
_SAFE_VI_WORDS = r"an toan|binh an|khong sao"
_SAFE_PT_WORDS = r"bem|segur[oa]s?|a salvo|salv[oa]s?"
# ổn ("fine") is "on" without its accent: only after who is fine ("toi on", "ca nha deu on") or as "on ca"
_SAFE_VI_ON = (r"(?:toi|tui|minh|em|chung toi|chung em|ca nha|gia dinh(?: toi| em| minh)?|moi nguoi|tat ca|moi thu)"
               r"(?:\s+(?:deu|van|rat|dang|that|hoan toan))*\s+on|on\s+(?:ca|het|roi)")
_SAFE_OTHER = re.compile(rf"{_SAFE_ZH}|{_SAFE_KO}|{_latin(f'{_SAFE_VI_WORDS}|{_SAFE_VI_ON}|{_SAFE_PT_WORDS}')}")
# Said around an answer: who ("我们全家", "저희 가족은 모두", "ca nha", "eu e a familia"), "all", "now",
# "already", "thanks", politeness. No "but", no one else (妈妈, mẹ tôi, minha mãe): then it says more.
_FILLER_OTHER = re.compile(
    r"我们|我們|我家|全家人?|一家人?|家人|家里人|家裡人|大家|一切|已经|已經|现在|現在|目前|谢谢|謝謝|感谢|感謝"
    r"|请放心|請放心|放心|非常|[我都也很了的是啊呀哦喔嗯]"
    r"|(?<![가-힣])(?:저|전|제|저희|우리|나|난|가족|식구|집|모두|다들|전부|다|지금|현재|네|예)(?:들)?(?:은|는|이|가|도)?(?![가-힣])"
    r"|(?<![가-힣])(?:감사합니다|고맙습니다|감사해요|고마워요)(?![가-힣])"
    + "|" + _latin(
        r"toi|tui|minh|em|anh|chi|chung toi|chung em|gia dinh|ca nha|nha toi|moi nguoi|tat ca|deu|van|rat|dang"
        r"|da|roi|a|nhe|nha|vang|xin|cam on|ban|hien tai|bay gio|o nha|that|hoan toan|het|ca"
        r"|eu|nos|estou|to|tou|estamos|tamos|tamo|esta|ta|estao|todos|todas|tudo|todo mundo|aqui|em casa|familia"
        r"|minha familia|o|e|sim|muito|agora|ja|gracas a deus|obrigad[oa]s?|valeu|ficamos|fiquei"))
# "Safe" asked, not told: 平安吗, 没事吧, 괜찮아요?, 무사합니까, an toàn không?, tudo bem? (as `_ASKED_JA`).
_ASKED_OTHER = re.compile(
    rf"(?:{_SAFE_ZH})\s*了?\s*(?:吗|嗎|么|麼|吧|\?)"
    r"|(?:무사|안전|괜찮)[가-힣]{0,5}?(?:\?|까|니(?![가-힣])|[나가]요)"
    + "|" + _latin(rf"(?:{_SAFE_VI_WORDS})(?:\s+(?:khong|chua|chu|ko|hong|ha))?\s*\?|(?:{_SAFE_VI_WORDS})\s+(?:khong|chua|ko|hong)\s*$")
    + "|" + _latin(rf"(?:{_SAFE_PT_WORDS})\s*\?"))
# "Safe" negated: need help, as 無事じゃない (`tells_of_trouble`). 安不安全 and 好不好 ask; 不好意思 is "sorry".
_NEGATED_OTHER = re.compile(
    r"(?<![安平好])不(?:太|是很|是|很|怎么|怎麼|够|夠)?(?:安全|平安|好)(?!意思)"
    r"|(?<![가-힣])안\s*(?:괜찮|안전|무사)|(?:괜찮|안전하|무사하)지\s*(?:가|는|도|만)?\s*(?:않|못)|불안전"
    + "|" + _latin(r"(?:khong|chua|chang|ko|k|hong|hok|kg)\s+(?:(?:duoc|con|that|he|may|qua|thuc su|hoan toan)\s+)?"
                   r"(?:an toan|on|binh an)")
    + "|" + _latin(r"(?:nao|nem|n)\s+(?:[a-z-]+\s+){0,2}?(?:bem|segur[oa]s?|a salvo|salv[oa]s?)"
                   r"|(?:estou|estamos|to|tou|ta|esta|estao|tamo|tamos|muito|passando)\s+(?:muito\s+)?mal|nada\s+bem"))

# Calls for help, told anywhere in the text, unless denied (`_HELP_OTHER`): 不需要帮助, 도움은 필요 없어요,
# không cần giúp, não preciso de ajuda; thanks for help (도와주셔서 감사, cảm ơn sự giúp đỡ, obrigado pela
# ajuda) is none either.
_HELP_ZH = re.compile(r"救命|救救|救我|求救|求助|求援|需要(?:帮助|幫助|帮忙|幫忙|救援)|帮帮|幫幫|快来人|快來人")
_HELP_KO = re.compile(r"(?:도와|살려|구해)\s*(?:주세요|주십시오|줘요|줘|주|줄)|구조|도움(?!말)(?:(?:이|을|이\s*좀)?\s*필요(?:합니다|해요|해|함)?)?")
# (cứu, not nghiên cứu "research")
_HELP_VI = re.compile(_latin(r"(?<!nghien )cuu|can\s+(?:duoc\s+)?(?:giup|tro giup|ho tro|cuu)(?:\s+do)?"
                             r"|giup\s+(?:toi|tui|voi|do|em|minh|chung toi|gium|dum)|tro giup"))
_HELP_PT = re.compile(_latin(r"(?:(?:eu\s+|nos\s+)?(?:preciso|precisamos|precisa|precisam|necessito)\s+de\s+)?(?:ajuda|socorro|resgate)"
                             r"|socorr(?:o|am|e)|ajud(?:a|e|em)(?:-(?:me|nos))?|(?:me|nos)\s+ajud(?:a|e|em|ar)"
                             r"|pode(?:m|ria)?\s+(?:me\s+|nos\s+)?ajudar|acud(?:a|am)"))
_HELP_DENIED_BEFORE_ZH = re.compile(r"(?:不|不用|不必|没有?|沒有?|无需|無需|毋需|别|別)\s*$")
_HELP_DENIED_AFTER_KO = re.compile(
    r"\s*(?:은|는|이|가|도|을|를)?\s*(?:필요)?\s*(?:가\s*)?(?:없|않|하지\s*(?:는\s*)?않|안\s*(?:필요|해)|괜찮)"
    r"|(?:셔서|어서|서|에|을|를)?\s*(?:주셔서\s*)?(?:감사|고마|고맙)")
_HELP_DENIED_BEFORE_VI = re.compile(_latin(r"khong|chua|chang|ko|k|hong|khoi|cam on(?:\s+(?:su|da|vi|ve))?") + r"\s+$")
_HELP_DENIED_BEFORE_PT = re.compile(_latin(r"(?:nao|nem|n|sem)(?:\s+(?:precis[a-z]*|necessit[a-z]*|mais|de|da|do|nenhuma))*"
                                           r"|(?:obrigad[oa]s?|agradeco|valeu|grat[oa])(?:\s+[a-z]+){0,2}") + r"\s+$")

# Trouble that is itself a "cannot" (动不了, 움직일 수 없어요, không thở được, não consigo sair): always trouble.
_CANNOT_OTHER = re.compile(
    r"(?:动|動)不了|走不了|走不(?:动|動)|出不(?:去|来|來)|站不起(?:来|來)|起不(?:来|來)|喘不(?:过|過)气|喘不過氣|呼吸困难"
    r"|(?:无法|無法|不能)(?:动|動|移动|移動|走|出去|呼吸|站)"
    r"|움직일\s*수\s*(?:가\s*)?없|못\s*움직|움직이지\s*못|(?:나갈|걸을|일어날)\s*수\s*(?:가\s*)?없|못\s*(?:나가|걷|일어나)"
    r"|숨(?:을|이)?\s*(?:못\s*쉬|쉴\s*수\s*없|안\s*쉬어|막)|의식(?:이)?\s*없"
    + "|" + _latin(r"(?:khong|ko|k|hok)\s+(?:the\s+)?(?:di chuyen|cu dong|nhuc nhich|dung day|thoat ra|ra ngoai)(?:\s+duoc)?"
                   r"|(?:khong|ko|k|hok)\s+(?:di|ra|dung|tho|cu dong|dung day|nhuc nhich)\s+duoc|kho tho")
    + "|" + _latin(r"(?:nao|n)\s+(?:consigo|conseguimos|consegue|conseguem|consegui|posso|podemos|pode)\s+(?:me\s+|se\s+|nos\s+)?"
                   r"(?:mexer|mover|andar|sair|respirar|levantar)|falta de ar|(?:nao|n)\s+(?:esta|estou|ta)\s+respirando"))
# Trouble told as a thing, unless denied: before it in zh, vi and pt (没有人受伤, không ai bị thương, ninguém
# ferido), after it in Korean (다치지 않았어요, 부상자는 없습니다; or 안 다쳤어요). Words the Japanese list has
# (骨折, 出血, 救助, 火災) are left to it: its denial comes after them (「出血なし」).
_TROUBLE_ZH = re.compile(r"受伤|伤了|伤到|傷到|被困|困住|困在|被压|被壓|压住|壓住|埋住|被埋|流血|着火|著火|起火|失火|火灾"
                         r"|救护车|救護車|急救|昏迷|晕倒|暈倒|昏倒|淹水|被淹|倒塌|塌了")
_TROUBLE_KO = re.compile(r"다쳤|다쳐|다친|다치|부상|갇혔|갇혀|갇힌|깔렸|깔려|매몰|피가\s*(?:나|멈추지)|피를\s*흘|출혈|골절|뼈가\s*부러"
                         r"|불이\s*났|불났|불이\s*나|화재|구급차|쓰러졌|쓰러져|쓰러진|기절|침수|물에\s*잠|무너졌|무너져")
_TROUBLE_VI = re.compile(_latin(
    r"bi thuong|bi dau|gay\s+(?:chan|tay|xuong)|mac ket|bi ket|ket\s+(?:lai|trong)|bi kep|bi de|bi vui|chay mau|mat mau"
    r"|chay nha|nha\s+(?:bi\s+)?chay|bi chay|hoa hoan|cap cuu|bat tinh|ngat xiu|hon me|bi ngap|ngap nuoc"
    r"|nha\s+(?:bi\s+)?sap|bi sap|sap do"))
_TROUBLE_PT = re.compile(_latin(
    r"ferid[oa]s?|machucad[oa]s?|machuquei|machucou|machucaram|soterrad[oa]s?|pres[oa]s?|sangrando|sangue|fogo|incendio"
    r"|ambulancia|desmai(?:ou|ei|ad[oa]s?)|inconsciente|fratur[a-z]*|alagad[oa]s?|alagou|alagamento|inundad[oa]s?|inundou"
    r"|inundacao|enchente|desab(?:ou|aram|ad[oa]s?)|bombeiros?"
    r"|quebr(?:ei|ou)\s+(?:a|o|meu|minha)\s+(?:perna|braco|pe|bacia|costela|quadril)"
    r"|(?:perna|braco|pe|bacia|costela|quadril)\s+quebrad[oa]"))
_TROUBLE_DENIED_BEFORE_ZH = re.compile(r"(?:没有?|沒有?|无|無|未|不|不用|不需要|无需|無需)(?:人|人员|人員|被|叫)?\s*$")
_TROUBLE_DENIED_AFTER_KO = re.compile(
    r"지\s*(?:는|도|가)?\s*않|\s*(?:자|사람|데|곳|분|인)?(?:은|는|이|가|도)?\s*(?:아무도\s*|하나도\s*|전혀\s*)?없"
    r"|(?:은|는|가|이)?\s*아(?:니|님|냐)")
_TROUBLE_DENIED_BEFORE_KO = re.compile(r"(?<![가-힣])안\s*$")
_TROUBLE_DENIED_BEFORE_VI = re.compile(
    _latin(r"khong|chua|chang|ko|k|hong") + r"(?:\s+(?:ai|co|co ai|bi|con|nguoi nao))*\s+$")
_TROUBLE_DENIED_BEFORE_PT = re.compile(_latin(r"nao|nem|ninguem|nenhum|nenhuma|sem|nada|n") + r"(?:\s+[a-z-]+){0,3}\s*$")


def _told(found: re.Pattern[str], text: str, denied: Callable[[str, re.Match[str]], bool]) -> bool:
    return any(not denied(text, m) for m in found.finditer(text))


def _denied_ja(text: str, m: re.Match[str]) -> bool:
    return _DENIED_AFTER.match(text, m.end()) is not None


def _denied_en(text: str, m: re.Match[str]) -> bool:
    return _DENIED_BEFORE_EN.search(text[: m.start()]) is not None


# How far before a word its denial is looked for (a few words): a long text stays linear.
_DENIAL_REACH = 40


def _denied_before(before: re.Pattern[str]) -> Callable[[str, re.Match[str]], bool]:
    return lambda text, m: before.search(text, max(0, m.start() - _DENIAL_REACH), m.start()) is not None


def _denied_after(after: re.Pattern[str]) -> Callable[[str, re.Match[str]], bool]:
    return lambda text, m: after.match(text, m.end()) is not None


# The Chinese trouble words Japanese writes too: only these are denied after them as Japanese denies (in
# Chinese 不要 after one is "don't": 「妈妈受伤了不要挂电话」 is a call for help; the last hour's review).
_TROUBLE_SHARED_JA = frozenset({"流血", "失火", "急救", "起火", "昏倒", "倒塌", "着火", "昏迷"})


def _denied_zh(text: str, m: re.Match[str]) -> bool:
    """Before it (没有人受伤), or after it as Japanese denies: some of its words are Japanese too (流血,
    失火, 急救, 起火, 昏倒, 倒塌), and 「失火なし」「流血もありません」 denied them after (review: 「無事です
    浸水なし 失火なし」 became a call for help)."""
    return _TROUBLE_DENIED_BEFORE_ZH.search(text, max(0, m.start() - _DENIAL_REACH), m.start()) is not None \
        or (m.group() in _TROUBLE_SHARED_JA and _denied_ja(text, m))


def _denied_ko(text: str, m: re.Match[str]) -> bool:
    return (_TROUBLE_DENIED_AFTER_KO.match(text, m.end()) is not None
            or _TROUBLE_DENIED_BEFORE_KO.search(text, max(0, m.start() - _DENIAL_REACH), m.start()) is not None)


# Trouble told as a thing, each with how it is denied.
_TROUBLE: tuple[tuple[re.Pattern[str], Callable[[str, re.Match[str]], bool]], ...] = (
    (_TROUBLE_JA, _denied_ja), (_TROUBLE_EN, _denied_en), (_TROUBLE_ZH, _denied_zh),
    (_TROUBLE_KO, _denied_ko), (_TROUBLE_VI, _denied_before(_TROUBLE_DENIED_BEFORE_VI)),
    (_TROUBLE_PT, _denied_before(_TROUBLE_DENIED_BEFORE_PT)))
# Calls for help in zh, ko, vi, pt, each with how it is denied.
_HELP_OTHER: tuple[tuple[re.Pattern[str], Callable[[str, re.Match[str]], bool]], ...] = (
    (_HELP_ZH, _denied_before(_HELP_DENIED_BEFORE_ZH)), (_HELP_KO, _denied_after(_HELP_DENIED_AFTER_KO)),
    (_HELP_VI, _denied_before(_HELP_DENIED_BEFORE_VI)), (_HELP_PT, _denied_before(_HELP_DENIED_BEFORE_PT)))


# Typographic apostrophes (an iPhone types ’): "isn’t safe" must read as "isn't safe".
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


def normalise(text: str) -> str:
    """NFKC (full width → half width), lower case, katakana → hiragana, typographic apostrophes plain."""
    return unicodedata.normalize("NFKC", text).lower().translate(_KATA_TO_HIRA).translate(_QUOTES)


# Latin accents taken off (the combining marks U+0300..U+036F, and đ): a Vietnamese or Portuguese text
# typed without them reads as with them ("khong an toan", "nao estou bem"). Kana's dakuten (U+3099) is no
# such mark (が stays が), and Hangul decomposes and composes back as it was.
_ACCENTS: dict[int, str | None] = {**dict.fromkeys(range(0x0300, 0x0370)), ord("đ"): "d"}


# Runs of white space, one space to the keywords: several patterns hold `\s*` after `\s*` (the Korean
# denials), and on a run of spaces each tried every split of it: 「도움」 and 1,600 spaces, an SMS, held the
# event loop for seconds, a 5,000-character LINE text for minutes (review, the day's changes at scale).
_SPACES = re.compile(r"\s+")


def _one_space(m: re.Match[str]) -> str:
    """A run of white space as one character: a line break if it holds one (a denial on the next line
    is no denial of this one: 「母がけが\n家は問題なし」; the last hour's review), else a space."""
    return "\n" if "\n" in m.group() else " "


def _folded(text: str) -> str:
    """`normalise`, white space runs as one space, then Latin accents off: what the answer keywords are
    matched against."""
    t = _SPACES.sub(_one_space, normalise(text))
    return t if t.isascii() else unicodedata.normalize("NFC", unicodedata.normalize("NFD", t).translate(_ACCENTS))


def tells_of_trouble(text: str) -> bool:
    """True when the text tells of trouble: an injury, someone who cannot move or get out, a fire…
    (not when it denies one: "けがはありません", "nobody hurt", 没有人受伤); or says it is not safe."""
    t = _folded(text)
    if (_NEGATED_JA.search(t) or _NEGATED_EN.search(t) or _NEGATED_OTHER.search(t)
            or _CANNOT_JA.search(t) or _CANNOT_EN.search(t) or _CANNOT_OTHER.search(t)):
        return True
    return any(_told(found, t, denied) for found, denied in _TROUBLE)


def parse_keyword(text: str) -> Status | None:
    """SAFE, NEED_HELP, or None when the text is not a clear answer."""
    if tells_of_trouble(text):
        return Status.NEED_HELP
    t = _folded(text)
    if _ASKED_JA.search(t) or _ASKED_OTHER.search(t) or _ASKED_EN.search(t):
        return None
    safe = bool(_SAFE_ASCII.search(t) or _SAFE_JA.search(t))
    safe_in_words = bool(_SAFE_WORD_ASCII.search(t) or _SAFE_JA.search(t))
    if not safe and _DAIJOUBU.search(t):
        if _says_more(t):
            return None  # 大丈夫 within a sentence: maybe someone else's, maybe a question
        safe = safe_in_words = True
    if not safe and _SAFE_OTHER.search(t) and not _says_more(t):
        # zh, ko, vi, pt "safe" alone ("Estou bem", 「我平安」); within a sentence it answers nothing
        # (their trouble words are too few to trust the rest of it), and a call for help in it still counts
        safe = safe_in_words = True
    help_in_words = bool(_HELP_WORD_ASCII.search(t) or _HELP_JA.search(t)) \
        or any(_told(found, t, denied) for found, denied in _HELP_OTHER)
    help_ = help_in_words or bool(_HELP_ASCII.search(t))
    if safe and help_in_words and not safe_in_words and not _KEY_TWO.search(t):
        # a call for help in words beside a bare 1: the words are the answer (「1 たすけて」 is no "safe":
        # guessing safe is the one mistake this must never make); "無事 2" stays unclear, and so does
        # the SMS hint sent back (both keys, 「平安请回复“1”，需要帮助请回复“2”」)
        return Status.NEED_HELP
    if safe == help_:
        return None  # neither, or both
    return Status.SAFE if safe else Status.NEED_HELP


_FILLER = re.compile(r"[\s\.,!?。、!?・ー〜~]+|です|でした|だよ|だ")
_KEYWORDS = (_SAFE_ASCII, _HELP_ASCII, _SAFE_JA, _DAIJOUBU, _HELP_JA, _SAFE_OTHER, _HELP_ZH, _HELP_KO, _HELP_VI, _HELP_PT)


def has_words_beyond_keyword(text: str) -> bool:
    """True when the text says more than the keyword ("2 足をけがしました"): worth keeping as a note."""
    return _says_more(_folded(text))


_OTHER_KEYWORDS = (_SAFE_OTHER, _HELP_ZH, _HELP_KO, _HELP_VI, _HELP_PT)


def _says_more(t: str) -> bool:
    """Words beyond the keywords and filler; the zh/ko/vi/pt filler only in a text with their keywords
    (taken off every text, its 都 and "that" made 「大丈夫 都」 safe and "2 that" no note: the day's reread)."""
    other = any(p.search(t) for p in _OTHER_KEYWORDS)
    for pattern in _KEYWORDS:
        t = pattern.sub(" ", t)
    return bool(_FILLER.sub("", _FILLER_OTHER.sub(" ", t) if other else t))


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

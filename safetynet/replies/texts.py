"""Words residents read: reply pages, SMS answers, the enrolment page. ja, やさしい日本語, en.

Households with another language get やさしい日本語, the form Japanese municipalities use for
residents of every language in a disaster; the page always offers the switch.
"""

from __future__ import annotations

from safetynet.channels import labels

LANGUAGES: tuple[tuple[str, str], ...] = (("ja", "日本語"), ("ja-easy", "やさしい日本語"), ("en", "English"))
_CODES = {code for code, _ in LANGUAGES}


def ui_language(language: str | None) -> str:
    """One of ja, ja-easy, en for any household language."""
    lang = (language or "").strip()
    if lang in _CODES:
        return lang
    if lang.lower().startswith("en"):
        return "en"
    if lang.lower() == "ja" or lang.lower().startswith("ja-"):
        return "ja"
    return "ja-easy"


_T: dict[str, dict[str, str]] = {
    "ja": {
        "title": "安否確認",
        "drill": "【訓練】",
        "lead": "{association}からの安否確認です。",
        "ask": "あなたの世帯の状況を教えてください。",
        "read_only": "このページを開いただけでは回答になりません。ボタンを押してください。",
        "current": "現在の回答: {label}",
        "change_hint": "回答はあとから何度でも変更できます。",
        "details_title": "詳しい状況（任意）",
        "people_safe": "無事な人数",
        "people_injured": "けがをしている人数",
        "location": "いまいる場所",
        "loc_home": "自宅",
        "loc_shelter": "避難所",
        "loc_elsewhere": "その他",
        "note": "伝えたいこと（200字まで）",
        "send": "送信する",
        "details_saved": "詳しい状況を受け取りました。ありがとうございます。",
        "history": "これまでの回答",
        "not_found": "このリンクは無効か、受付を終了しました。",
        "bad_answer": "回答を読み取れませんでした。もう一度ボタンを押してください。",
        "help_note": "町会の担当者に知らせました。安全な場所で待ってください。",
        "sms_help": "安否確認: 無事なら「1」、助けが必要なら「2」と返信してください。",
        "sms_none": "現在、この番号あての安否確認は行われていません。",
        "sms_many": "この番号は複数の世帯に登録されています。各世帯のリンクから回答してください。",
        "sms_change": "変更するときは 1 または 2 を送ってください。",
        "enrol_title": "安否確認の連絡先登録",
        "enrol_lead": "{association}　{name} 様の世帯",
        "enrol_intro": "災害のとき、町会からの安否確認をどこで受け取るか登録してください。いくつでも登録できます。",
        "enrol_push_title": "この端末で通知を受け取る",
        "enrol_push_button": "通知をオンにする",
        "enrol_push_nojs": "この機能にはJavaScriptが必要です。",
        "enrol_push_done": "この端末を登録しました。",
        "enrol_push_failed": "登録できませんでした。ブラウザの通知設定を確認してください。",
        "enrol_tg_title": "Telegramで受け取る",
        "enrol_tg_link": "Telegramを開いて登録する",
        "enrol_tg_manual": "Telegramでボットに次のメッセージを送ってください: /start {code}",
        "enrol_sms_title": "携帯電話のSMSで受け取る",
        "enrol_phone": "携帯電話番号",
        "enrol_send_code": "確認コードを送る",
        "enrol_code_sent": "確認コードをSMSで送りました。10分以内に入力してください。",
        "enrol_code": "確認コード（6けた）",
        "enrol_confirm": "確認する",
        "enrol_phone_done": "携帯電話番号を登録しました。",
        "enrol_wrong_code": "確認コードが違うか、期限が切れています。",
        "enrol_bad_phone": "携帯電話の番号を入力してください（070/080/090）。",
        "enrol_too_many": "確認コードの送信が多すぎます。しばらくしてからお試しください。",
        "enrol_sms_code": "SafetyNet 確認コード: {code}（10分間有効）",
        "enrol_list_title": "登録済みの連絡先",
        "enrol_none": "まだ登録された連絡先はありません。",
        "enrol_remove": "削除",
        "enrol_removed": "削除しました。",
        "enrol_remove_title": "連絡先の削除",
        "enrol_remove_ask": "この連絡先を削除しますか？ {channel}",
        "enrol_remove_last": "これが最後の連絡先です。削除すると、災害のとき安否確認が届かなくなり、町会の人が訪ねて確かめることになります。",
        "enrol_remove_yes": "削除する",
        "enrol_remove_no": "やめる（削除しない）",
        "enrol_bad_code": "登録コードが正しくありません。お手紙のコードを確認してください。",
        "enrol_slow_down": "試行が多すぎます。しばらくしてからお試しください。",
        "enrol_telegram_done": "登録しました。{association}からの安否確認をこのチャットで受け取ります。",
        "kind_mobile": "携帯電話（SMS・音声）",
        "kind_landline": "固定電話（音声）",
        "kind_telegram": "Telegram",
        "kind_webpush": "ブラウザ通知",
    },
    "ja-easy": {
        "title": "あんぴ かくにん",
        "drill": "【くんれん】",
        "lead": "{association} からの あんぴ かくにん です。",
        "ask": "あなたの いえの ひとは だいじょうぶ ですか。",
        "read_only": "ボタンを おして ください。ページを みる だけ では こたえに なりません。",
        "current": "いまの こたえ: {label}",
        "change_hint": "こたえは あとで かえる ことが できます。",
        "details_title": "くわしく おしえて ください（しなくても いい です）",
        "people_safe": "だいじょうぶな ひとの かず",
        "people_injured": "けがを した ひとの かず",
        "location": "いま いる ところ",
        "loc_home": "いえ",
        "loc_shelter": "ひなんじょ",
        "loc_elsewhere": "ほかの ところ",
        "note": "つたえたい こと（200もじ まで）",
        "send": "おくる",
        "details_saved": "うけとりました。ありがとう ございます。",
        "history": "いままでの こたえ",
        "not_found": "この リンクは つかえません。",
        "bad_answer": "こたえが わかりませんでした。もう いちど ボタンを おして ください。",
        "help_note": "ちょうかいの ひとに しらせました。あんぜんな ところで まって ください。",
        "sms_help": "あんぴ かくにん: だいじょうぶ なら「1」、たすけて なら「2」を おくって ください。",
        "sms_none": "いま、あんぴ かくにんは して いません。",
        "sms_many": "この でんわばんごうは いくつかの いえに あります。それぞれの リンクから こたえて ください。",
        "sms_change": "かえる ときは 1 か 2 を おくって ください。",
        "enrol_title": "あんぴ かくにんの れんらくさき",
        "enrol_lead": "{association}　{name} さんの いえ",
        "enrol_intro": "さいがいの とき、どこで しらせを うけとるか えらんで ください。いくつでも いい です。",
        "enrol_push_title": "この でんわで しらせを うけとる",
        "enrol_push_button": "しらせを オンに する",
        "enrol_push_nojs": "JavaScriptが ひつよう です。",
        "enrol_push_done": "この でんわを とうろく しました。",
        "enrol_push_failed": "とうろく できません でした。しらせの せっていを みて ください。",
        "enrol_tg_title": "Telegramで うけとる",
        "enrol_tg_link": "Telegramを ひらく",
        "enrol_tg_manual": "Telegramで ボットに これを おくって ください: /start {code}",
        "enrol_sms_title": "けいたいの SMSで うけとる",
        "enrol_phone": "けいたい でんわの ばんごう",
        "enrol_send_code": "かくにん コードを おくる",
        "enrol_code_sent": "SMSで コードを おくりました。10ぷん いないに いれて ください。",
        "enrol_code": "かくにん コード（6けた）",
        "enrol_confirm": "かくにん する",
        "enrol_phone_done": "けいたい でんわを とうろく しました。",
        "enrol_wrong_code": "コードが ちがうか、じかんが すぎました。",
        "enrol_bad_phone": "けいたい でんわの ばんごうを いれて ください（070/080/090）。",
        "enrol_too_many": "なんども おくりました。すこし まって ください。",
        "enrol_sms_code": "SafetyNet かくにん コード: {code}（10ぷん）",
        "enrol_list_title": "とうろく した れんらくさき",
        "enrol_none": "まだ ありません。",
        "enrol_remove": "けす",
        "enrol_removed": "けしました。",
        "enrol_remove_title": "れんらくさきを けす",
        "enrol_remove_ask": "この れんらくさきを けしますか？ {channel}",
        "enrol_remove_last": "これが さいごの れんらくさき です。けすと、さいがいの とき しらせが とどきません。",
        "enrol_remove_yes": "けす",
        "enrol_remove_no": "やめる（けさない）",
        "enrol_bad_code": "コードが ちがいます。てがみの コードを みて ください。",
        "enrol_slow_down": "なんども ためしました。すこし まって ください。",
        "enrol_telegram_done": "とうろく しました。{association} からの しらせが ここに きます。",
        "kind_mobile": "けいたい でんわ",
        "kind_landline": "いえの でんわ",
        "kind_telegram": "Telegram",
        "kind_webpush": "ブラウザの しらせ",
    },
    "en": {
        "title": "Safety check",
        "drill": "[DRILL]",
        "lead": "Safety check from {association}.",
        "ask": "Please tell us how your household is.",
        "read_only": "Opening this page is not an answer. Please press a button.",
        "current": "Your answer now: {label}",
        "change_hint": "You can change your answer later.",
        "details_title": "More details (optional)",
        "people_safe": "People safe",
        "people_injured": "People injured",
        "location": "Where you are",
        "loc_home": "Home",
        "loc_shelter": "Evacuation shelter",
        "loc_elsewhere": "Elsewhere",
        "note": "Message (up to 200 characters)",
        "send": "Send",
        "details_saved": "We received your details. Thank you.",
        "history": "Your answers so far",
        "not_found": "This link is not valid, or answers are no longer accepted.",
        "bad_answer": "We could not read your answer. Please press a button again.",
        "help_note": "Your association has been told. Please wait in a safe place.",
        "sms_help": "Safety check: reply 1 if you are safe, 2 if you need help.",
        "sms_none": "There is no safety check for this number right now.",
        "sms_many": "This number belongs to several households. Please answer from each household's link.",
        "sms_change": "To change it, send 1 or 2.",
        "enrol_title": "Safety check: your contacts",
        "enrol_lead": "{association}: household of {name}",
        "enrol_intro": "Choose where your association's safety checks reach you in a disaster. Add as many as you like.",
        "enrol_push_title": "Notifications on this device",
        "enrol_push_button": "Turn on notifications",
        "enrol_push_nojs": "This needs JavaScript.",
        "enrol_push_done": "This device is registered.",
        "enrol_push_failed": "Could not register. Please check the browser's notification settings.",
        "enrol_tg_title": "Telegram",
        "enrol_tg_link": "Open Telegram to link",
        "enrol_tg_manual": "In Telegram, send our bot: /start {code}",
        "enrol_sms_title": "SMS to a mobile phone",
        "enrol_phone": "Mobile number",
        "enrol_send_code": "Send a confirmation code",
        "enrol_code_sent": "We sent a code by SMS. Enter it within 10 minutes.",
        "enrol_code": "Confirmation code (6 digits)",
        "enrol_confirm": "Confirm",
        "enrol_phone_done": "Your mobile number is registered.",
        "enrol_wrong_code": "The code is wrong or has expired.",
        "enrol_bad_phone": "Please enter a Japanese mobile number (070/080/090).",
        "enrol_too_many": "Too many codes sent. Please try again later.",
        "enrol_sms_code": "SafetyNet confirmation code: {code} (valid 10 minutes)",
        "enrol_list_title": "Your registered contacts",
        "enrol_none": "No contacts registered yet.",
        "enrol_remove": "Remove",
        "enrol_removed": "Removed.",
        "enrol_remove_title": "Remove a contact",
        "enrol_remove_ask": "Remove this contact? {channel}",
        "enrol_remove_last": "This is your last contact. Without it, safety checks cannot reach you in a disaster and someone from your association will have to come by.",
        "enrol_remove_yes": "Remove",
        "enrol_remove_no": "Cancel (keep it)",
        "enrol_bad_code": "This enrolment code is not valid. Please check the code on your letter.",
        "enrol_slow_down": "Too many attempts. Please try again later.",
        "enrol_telegram_done": "Linked. Safety checks from {association} will come to this chat.",
        "kind_mobile": "Mobile (SMS, voice)",
        "kind_landline": "Landline (voice)",
        "kind_telegram": "Telegram",
        "kind_webpush": "Browser notifications",
    },
}


def t(lang: str, key: str, **values: str) -> str:
    text = _T[ui_language(lang)][key]
    return text.format(**values) if values else text


def answer_label(status: str, lang: str) -> str:
    """The button words for safe / need_help (the same words Telegram and push show)."""
    return labels.answer_label(status, ui_language(lang))


def recorded(status: str, lang: str) -> str:
    return labels.recorded_text(status, ui_language(lang))


def change_label(to_status: str, lang: str) -> str:
    return labels.change_label(to_status, ui_language(lang))


def status_label(status: str, lang: str) -> str:
    """Any status in words (history lines): answers use the button words."""
    if status in labels.ANSWERS:
        return answer_label(status, lang)
    words = {
        "ja": {"read": "確認のみ", "confirmed_in_person": "担当者が確認", "note": "メモ", "undo": "担当者の確認を取り消し"},
        "ja-easy": {"read": "みただけ", "confirmed_in_person": "たんとうしゃが かくにん", "note": "メモ",
                    "undo": "たんとうしゃの かくにんを とりけし"},
        "en": {"read": "Opened", "confirmed_in_person": "Confirmed in person", "note": "Note",
               "undo": "Staff confirmation undone"},
    }[ui_language(lang)]
    return words.get(status, status)


def sms_confirmation(status: str, lang: str) -> str:
    return f"{recorded(status, lang)} {t(lang, 'sms_change')}"

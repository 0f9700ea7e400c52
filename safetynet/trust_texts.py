"""Words of issue 16's enrolment letters, the iPhone hint, the web app manifest and published CAP alerts.

Keys are those of the future gettext/TOML catalogs (`letters.*`, `join.*`, `manifest.*`, `cap.*`) so the
lead can move them into `safetynet/i18n/` as they are. Languages: ja, やさしい日本語 (ja-easy), en; any
other household language reads やさしい日本語, then Japanese (DESIGN's fallback for foreign residents).
English strings stay ASCII: the PDF letters print Latin letters from the Japanese font's half-width set.
"""

from __future__ import annotations

LANGUAGES: tuple[str, ...] = ("ja", "ja-easy", "en")

STRINGS: dict[str, dict[str, str]] = {
    "ja": {
        # enrolment letters (one A4 page per household)
        "letters.document_title": "安否確認 登録のご案内",
        "letters.title": "災害時の安否確認 登録のお願い",
        "letters.to": "{name} 様",
        "letters.household_line": "{association}　{group}　世帯番号 {household}",
        "letters.intro": (
            "大きな災害が起きたとき、{city}と{association}から「無事ですか」という確認をお送りします。"
            "受け取る方法を、下のどれか一つ以上で登録してください。登録は無料です。"
        ),
        "letters.code_label": "登録コード",
        "letters.url_label": "登録ページ",
        "letters.qr_hint": "スマートフォンのカメラでQRコードを読み取ると、あなたの世帯の登録ページが開きます。",
        "letters.steps_title": "登録のしかた",
        "letters.step_line_title": "LINEで受け取る",
        "letters.step_line": "登録ページの「LINEで受け取る」から友だち追加し、トークに登録コードを送ってください。",
        "letters.step_webpush_title": "スマートフォンやパソコンの通知で受け取る",
        "letters.step_webpush": "登録ページを開き、「通知をオンにする」を押して「許可」を選んでください。",
        "letters.step_iphone_title": "iPhoneの方は、先にホーム画面に追加します",
        "letters.step_iphone": (
            "Safariで登録ページを開く → 共有ボタン（□に↑）→「ホーム画面に追加」→ ホーム画面の"
            "「安否確認」から開いて「通知をオンにする」（iOS 16.4以降）"
        ),
        "letters.step_telegram_title": "Telegramで受け取る",
        "letters.step_telegram": "登録ページの「Telegramを開いて登録する」を押してください。",
        "letters.step_email_title": "メールで受け取る",
        "letters.step_email": (
            "登録ページでメールアドレスを入力し、届いたメールのリンクを開いてください。"
            "携帯電話のメールで迷惑メール設定をしている方は、お知らせのドメインを受信できるようにしてください。"
        ),
        "letters.step_phone_title": "携帯電話のSMS・電話で受け取る",
        "letters.step_phone": "登録ページで携帯電話の番号を入力し、SMSで届く6けたの確認コードを入力してください。",
        "letters.step_landline": (
            "スマートフォンや携帯電話をお持ちでない方は、町会長か{city}の防災担当に固定電話の番号をお伝えください。"
            "電話でお知らせし、ボタン（1 無事、2 助けが必要）で回答できます。"
        ),
        "letters.keep_secret": "この登録コードはあなたの世帯専用です。ほかの人に教えないでください。",
        "letters.help": "わからないことは、町会長または{city} 防災担当にお問い合わせください。",
        # the page where city admins print letters
        "letters.page_title": "登録のご案内（手紙）の印刷",
        "letters.page_intro": (
            "世帯ごとにA4一枚の手紙を作ります。世帯の言語で、登録コード、登録ページのQRコード、登録のしかたを載せます。"
            "コードは暗号化して保存するため、あとから同じコードを表示することはできません。"
        ),
        "letters.page_scope": "対象",
        "letters.page_scope_city": "市全体",
        "letters.page_which": "どの世帯",
        "letters.page_new_only": "登録コードがまだない世帯だけ",
        "letters.page_rotate": "すべての世帯に新しいコードを発行する（前の手紙のコードは使えなくなります）",
        "letters.page_format": "形式",
        "letters.page_submit": "作成してダウンロード",
        "letters.page_cli": "{max}世帯を超えるときは、サーバーでコマンド safetynet roster letters を使ってください。",
        "letters.page_none": "対象の世帯はすべて登録コードを持っています。作り直すときは「新しいコードを発行」を選んでください。",
        "letters.page_too_many": "{count}世帯は多すぎます（この画面では{max}世帯まで）。範囲をしぼるか、コマンドを使ってください。",
        "letters.page_bad_scope": "対象の指定が正しくありません。",
        # the join page on an iPhone or iPad
        "join.iphone_title": "iPhone・iPadをお使いの方へ",
        "join.iphone_hint": "iPhoneで通知を受け取るには、先にこのページをホーム画面に追加し、そこから開いてください。",
        "join.iphone_step1": "Safariで、画面の共有ボタン（□に↑）を押します。",
        "join.iphone_step2": "「ホーム画面に追加」を選び、「追加」を押します。",
        "join.iphone_step3": "ホーム画面の「安否確認」のアイコンから開きます。",
        "join.iphone_step4": "開いた画面で「通知をオンにする」を押します。",
        "join.iphone_version": "iOS 16.4以降が必要です。それより古い場合は、SMSか電話で登録してください。",
        "join.iphone_push": "iPhoneでは、ホーム画面に追加した「安否確認」から開くと、ここで通知をオンにできます。",
        # the web app manifest
        "manifest.name": "{city} 安否確認",
        "manifest.short_name": "安否確認",
        "manifest.description": "災害のとき、町会からの安否確認を受け取り、ワンタップで回答します。",
        # published CAP alerts and their Atom feed: fixed public words only, never a campaign's own text
        "cap.event": "安否確認",
        "cap.headline_running": "{city}：安否確認を実施しています",
        "cap.headline_closed": "{city}：安否確認を終了しました",
        "cap.headline_cancelled": "{city}：安否確認を取り消しました",
        "cap.description_running": "{city}は、登録している世帯に安否確認の連絡をしています。",
        "cap.description_closed": "{city}の安否確認は終了しました。",
        "cap.description_cancelled": "{city}の安否確認は取り消されました。",
        "cap.instruction_running": "連絡が届いた方は、メッセージのリンクやボタンから「無事」か「助けが必要」を回答してください。",
        "cap.feed_title": "{city} 安否確認",
    },
    "ja-easy": {
        "letters.document_title": "あんぴ かくにん とうろくの おねがい",
        "letters.title": "さいがいの ときの あんぴ かくにん とうろくの おねがい",
        "letters.to": "{name} さん",
        "letters.household_line": "{association}　{group}　いえの ばんごう {household}",
        "letters.intro": (
            "おおきな さいがいの とき、{city}と {association}から「だいじょうぶ ですか」と しらせが きます。"
            "うけとる ほうほうを したから えらんで とうろく して ください。おかねは かかりません。"
        ),
        "letters.code_label": "とうろく コード",
        "letters.url_label": "とうろく ページ",
        "letters.qr_hint": "スマートフォンの カメラで QRコードを よむと、とうろく ページが ひらきます。",
        "letters.steps_title": "とうろくの しかた",
        "letters.step_line_title": "LINEで うけとる",
        "letters.step_line": "とうろく ページの「LINEで うけとる」から ともだちに ついか して、とうろく コードを おくって ください。",
        "letters.step_webpush_title": "スマートフォンの しらせで うけとる",
        "letters.step_webpush": "とうろく ページで「しらせを オンに する」を おして、「きょか」を えらんで ください。",
        "letters.step_iphone_title": "iPhoneの ひとは、さきに ホームがめんに ついか します",
        "letters.step_iphone": (
            "Safariで とうろく ページを ひらく → きょうゆう ボタン（□に↑）→「ホームがめんに ついか」→ "
            "ホームがめんの「安否確認」から ひらいて「しらせを オンに する」（iOS 16.4 から）"
        ),
        "letters.step_telegram_title": "Telegramで うけとる",
        "letters.step_telegram": "とうろく ページの「Telegramを ひらく」を おして ください。",
        "letters.step_email_title": "メールで うけとる",
        "letters.step_email": "とうろく ページで メールアドレスを いれて、とどいた メールの リンクを ひらいて ください。",
        "letters.step_phone_title": "けいたい でんわの SMS・でんわで うけとる",
        "letters.step_phone": "とうろく ページで けいたい でんわの ばんごうを いれて、SMSで くる 6けたの コードを いれて ください。",
        "letters.step_landline": (
            "スマートフォンや けいたい でんわが ない ひとは、ちょうかいちょうか {city}に いえの でんわ ばんごうを "
            "おしえて ください。でんわで しらせます。ボタン（1 だいじょうぶ、2 たすけて）で こたえます。"
        ),
        "letters.keep_secret": "この とうろく コードは あなたの いえ だけの ものです。ほかの ひとに みせないで ください。",
        "letters.help": "わからない ときは、ちょうかいちょうか {city}に きいて ください。",
        "join.iphone_title": "iPhone・iPadの ひとへ",
        "join.iphone_hint": "iPhoneで しらせを うけとる ときは、さきに この ページを ホームがめんに ついか して、そこから ひらいて ください。",
        "join.iphone_step1": "Safariで、きょうゆう ボタン（□に↑）を おします。",
        "join.iphone_step2": "「ホームがめんに ついか」を えらんで、「ついか」を おします。",
        "join.iphone_step3": "ホームがめんの「安否確認」を おして ひらきます。",
        "join.iphone_step4": "「しらせを オンに する」を おします。",
        "join.iphone_version": "iOS 16.4 から つかえます。ふるい ときは、SMSか でんわで とうろく して ください。",
        "join.iphone_push": "iPhoneは、ホームがめんの「安否確認」から ひらくと、ここで しらせを オンに できます。",
    },
    "en": {
        "letters.document_title": "Safety check: how to register",
        "letters.title": "Please register for disaster safety checks",
        "letters.to": "To: {name}",
        "letters.household_line": "{association} / {group} / household {household}",
        "letters.intro": (
            "After a major disaster, {city} and {association} will ask whether you are safe. "
            "Please register at least one way to receive this check. It is free."
        ),
        "letters.code_label": "Your code",
        "letters.url_label": "Your page",
        "letters.qr_hint": "Scan the QR code with your phone's camera to open your household's page.",
        "letters.steps_title": "How to register",
        "letters.step_line_title": "LINE",
        "letters.step_line": "On your page, tap 'LINE', add us as a friend and send your code in the chat.",
        "letters.step_webpush_title": "Notifications on a phone or computer",
        "letters.step_webpush": "Open your page, tap 'Turn on notifications' and choose 'Allow'.",
        "letters.step_iphone_title": "iPhone: add the page to your Home Screen first",
        "letters.step_iphone": (
            "Open your page in Safari > Share button > 'Add to Home Screen' > open it from the Home Screen "
            "and tap 'Turn on notifications' (iOS 16.4 or later)."
        ),
        "letters.step_telegram_title": "Telegram",
        "letters.step_telegram": "On your page, tap 'Open Telegram to link'.",
        "letters.step_email_title": "Email",
        "letters.step_email": "Enter your email address on your page, then open the link in the email we send.",
        "letters.step_phone_title": "SMS or a call to a mobile phone",
        "letters.step_phone": "Enter your mobile number on your page, then the 6-digit code we send by SMS.",
        "letters.step_landline": (
            "No mobile phone? Give your landline number to your association head or to {city}. "
            "We will call you; answer with the keypad (1 safe, 2 need help)."
        ),
        "letters.keep_secret": "This code is for your household only. Do not share it.",
        "letters.help": "Questions: your association head, or the disaster office of {city}.",
        "letters.page_title": "Print enrolment letters",
        "letters.page_intro": (
            "One A4 letter per household, in its language, with its code, a QR code of its page and the steps. "
            "Codes are stored only as keyed hashes: the same code cannot be shown again later."
        ),
        "letters.page_scope": "Scope",
        "letters.page_scope_city": "Whole city",
        "letters.page_which": "Households",
        "letters.page_new_only": "Only households without a code yet",
        "letters.page_rotate": "New codes for every household (codes on earlier letters stop working)",
        "letters.page_format": "Format",
        "letters.page_submit": "Make and download",
        "letters.page_cli": "For more than {max} households, run `safetynet roster letters` on the server.",
        "letters.page_none": "Every household in this scope already has a code. Choose new codes to print them again.",
        "letters.page_too_many": "{count} households are too many here (at most {max}). Narrow the scope or use the command.",
        "letters.page_bad_scope": "The scope is not valid.",
        "join.iphone_title": "On an iPhone or iPad",
        "join.iphone_hint": "To get notifications on an iPhone, first add this page to your Home Screen and open it from there.",
        "join.iphone_step1": "In Safari, tap the Share button (a square with an arrow).",
        "join.iphone_step2": "Choose 'Add to Home Screen', then 'Add'.",
        "join.iphone_step3": "Open the new 'Safety check' icon on your Home Screen.",
        "join.iphone_step4": "Tap 'Turn on notifications' there.",
        "join.iphone_version": "This needs iOS 16.4 or later; otherwise please register SMS or a phone call.",
        "join.iphone_push": "On an iPhone, open 'Safety check' from your Home Screen to turn notifications on here.",
        "manifest.name": "{city} safety check",
        "manifest.short_name": "Safety check",
        "manifest.description": "Receive your association's safety checks in a disaster and answer with one tap.",
        "cap.event": "Safety check",
        "cap.headline_running": "{city}: safety check in progress",
        "cap.headline_closed": "{city}: safety check closed",
        "cap.headline_cancelled": "{city}: safety check cancelled",
        "cap.description_running": "{city} is asking its registered households whether they are safe.",
        "cap.description_closed": "The safety check of {city} has ended.",
        "cap.description_cancelled": "The safety check of {city} was cancelled.",
        "cap.instruction_running": "If you received a message, answer 'safe' or 'need help' with its link or buttons.",
        "cap.feed_title": "{city} safety checks",
    },
}


def language(requested: str | None) -> str:
    """One of LANGUAGES for a household's or a page's language."""
    lang = (requested or "").strip()
    if lang in STRINGS:
        return lang
    low = lang.lower()
    if low.startswith("en"):
        return "en"
    if low == "ja" or (low.startswith("ja-") and low != "ja-easy"):
        return "ja"
    return "ja-easy"


def t(lang: str, key: str, **values: object) -> str:
    """The text of `key` in `lang`, falling back to やさしい日本語 and then Japanese."""
    chosen = language(lang)
    for candidate in (chosen, "ja-easy", "ja") if chosen != "en" else ("en", "ja"):
        text = STRINGS[candidate].get(key)
        if text is not None:
            return text.format(**values) if values else text
    raise KeyError(key)

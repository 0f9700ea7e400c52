"""Every string of the staff pages, in Japanese (default) and English.

`t(lang, key, **values)` formats one; a missing key is a bug caught by the tests, which render
every page in both languages.
"""

from __future__ import annotations

from aiohttp import web

LANGS = ("ja", "en")
LANG_COOKIE = "sn_lang"
LARGE_COOKIE = "sn_large"

# status -> (icon, ja, en): the icon and the words carry the meaning, colour only repeats it.
STATUS_TEXT: dict[str, tuple[str, str, str]] = {
    "safe": ("✓", "無事", "Safe"),
    "need_help": ("⚠", "要支援", "Needs help"),
    "confirmed_in_person": ("◎", "対面確認済", "Confirmed in person"),
    "read": ("◔", "既読・未回答", "Read, no answer"),
    "notified": ("✉", "送信済・未回答", "Sent, no answer"),
    "pending": ("…", "未送信", "Not sent yet"),
    "unreachable": ("✕", "連絡不能", "Unreachable"),
}
STATUS_ORDER = ("need_help", "safe", "confirmed_in_person", "read", "notified", "pending", "unreachable")

METHOD_TEXT = {"visit": ("訪問", "Visit"), "phone": ("電話", "Phone"), "paper": ("紙", "Paper")}

_T: dict[str, tuple[str, str]] = {
    "app": ("SafetyNet 安否確認", "SafetyNet safety check"),
    "skip": ("本文へ移動", "Skip to content"),
    "larger": ("文字を大きく", "Larger text"),
    "smaller": ("文字を標準に", "Normal text"),
    "logout": ("ログアウト", "Log out"),
    "city": ("全市の状況", "City overview"),
    "admin": ("管理", "Admin"),
    "not_found": ("見つかりません", "Not found"),
    "drill": ("訓練", "Drill"),
    "real": ("実災害", "Real event"),
    "state_draft": ("下書き", "Draft"),
    "state_running": ("実施中", "Running"),
    "state_closed": ("終了", "Closed"),
    "state_cancelled": ("中止", "Cancelled"),
    "state_gone": ("なし", "Gone"),
    "campaign": ("対象の配信", "Campaign"),
    "show": ("表示", "Show"),
    "no_campaign": ("この町会を対象とする配信はまだありません。", "No campaign has covered this association yet."),
    "live_on": ("● ライブ更新中", "● Live"),
    "live_off": ("○ 再接続中…", "○ Reconnecting…"),
    "answered_of": ("回答 {answered} / {households} 世帯（{pct}）", "Answered {answered} of {households} households ({pct})"),
    "help_panel": ("助けが必要な世帯", "Households that need help"),
    "help_none": ("対応待ちの世帯はありません。", "No household is waiting for help."),
    "handled": ("対応済みにする", "Mark handled"),
    "members": ("{n}人", "{n} people"),
    "vulnerable": ("★要配慮", "★Vulnerable"),
    "injured": ("けが人 {n}人", "{n} injured"),
    "at": ("受信 {time}", "Received {time}"),
    "households": ("世帯一覧", "Households"),
    "filter": ("絞り込み", "Filter"),
    "f_all": ("すべて", "All"),
    "f_noanswer": ("未回答", "No answer"),
    "f_help": ("要支援", "Need help"),
    "f_vulnerable": ("要配慮", "Vulnerable"),
    "group": ("班", "Group"),
    "all_groups": ("すべての班", "All groups"),
    "name": ("世帯主", "Name"),
    "address": ("住所", "Address"),
    "people": ("人数", "People"),
    "status": ("状況", "Status"),
    "confirm": ("対面確認", "Confirm in person"),
    "confirm_as": ("{name} を {method} で確認済みにする", "Mark {name} confirmed by {method}"),
    "coverage": ("連絡手段", "Coverage"),
    "coverage_line": ("連絡手段のある世帯 {n} / {total}（{pct}）", "Households with a working channel: {n} of {total} ({pct})"),
    "coverage_none": ("連絡手段のない世帯", "Households with no working channel"),
    "doorknock": ("戸別訪問リスト", "Door-knock list"),
    "doorknock_intro": ("{time} 時点で回答のない世帯 {n} 件。訪問したら印を付けてください。",
                        "{n} households with no answer at {time}. Tick each one you visit."),
    "print": ("印刷する", "Print"),
    "tick": ("済", "Done"),
    "landline": ("固定電話", "Landline"),
    "report": ("訓練報告", "Drill report"),
    "saved": ("記録しました", "Saved"),
    "confirmed_msg": ("{name}：{method}で対面確認済みにしました。", "{name}: confirmed in person ({method})."),
    "undo": ("取り消す", "Undo"),
    "undone_msg": ("{name}：対面確認を取り消し、元の状況に戻しました。", "{name}: confirmation undone, earlier status back."),
    "undo_refused": ("{name}：この後に回答があったため取り消せません。",
                     "{name}: an answer came after it, so it cannot be undone."),
    "failed": ("記録できませんでした。もう一度お試しください。", "Could not save. Please try again."),
    "districts": ("地区", "Districts"),
    "district": ("地区", "District"),
    "associations": ("町会", "Associations"),
    "association": ("町会", "Association"),
    "rate": ("回答率", "Response rate"),
    "help_count": ("要支援", "Need help"),
    "total": ("合計", "Total"),
    "band_low": ("▼ 低い", "▼ Low"),
    "band_mid": ("● 注意", "● Watch"),
    "band_good": ("▲ 良好", "▲ Good"),
    "curve": ("回答の推移", "Response curve"),
    "curve_desc": ("開始からの分（横軸）と回答率（縦軸）、地区ごとの線", "Minutes since start (x) against answered % (y), one line per district"),
    "minutes": ("分", "min"),
    "start_campaign": ("配信を開始する", "Start a campaign"),
    "kind": ("種類", "Kind"),
    "title": ("件名", "Title"),
    "message_ja": ("本文（日本語）", "Message (Japanese)"),
    "message_en": ("本文（英語、任意）", "Message (English, optional)"),
    "scope": ("対象", "Scope"),
    "whole_city": ("全市", "Whole city"),
    "preview": ("送信前の確認", "Preview"),
    "preview_btn": ("確認画面へ", "Preview"),
    "start_btn": ("この内容で配信する", "Send now"),
    "real_confirm": ("これは訓練ではなく実際の災害です。全対象世帯に送信することを確認しました。",
                     "This is a real event, not a drill. I confirm sending to every household in scope."),
    "real_confirm_needed": ("実災害の配信には確認の印が必要です。", "A real event needs the confirmation box ticked."),
    "close": ("終了する", "Close"),
    "cancel": ("中止する", "Cancel"),
    "close_confirm": ("本当に終了しますか（元に戻せません）", "Really close it (cannot be undone)"),
    "cancel_confirm": ("本当に中止しますか（元に戻せません）", "Really cancel it (cannot be undone)"),
    "start": ("開始する", "Start"),
    "start_confirm": ("本当に開始しますか（対象の全世帯に送信されます）", "Really start it (every household in scope is sent the alert)"),
    "proposals": ("開始を待つ提案", "Proposals waiting to start"),
    "proposed_at": ("提案 {time}", "proposed {time}"),
    "review_and_start": ("確認して開始", "Review and start"),
    "duplicate_title": ("同じ配信が実施中です", "The same campaign is already running"),
    "duplicate_text": ("「{title}」（対象 {scope}、{time} 開始）が実施中です。もう一度開始すると、対象の世帯に同じ通知がもう一度届きます。",
                       "“{title}” (scope {scope}, started {time}) is running. Starting again sends every household in scope the same alert a second time."),
    "duplicate_force": ("同じ通知が二度届くことを承知のうえで開始する", "Start anyway: every household gets the same alert twice"),
    "start_anyway": ("それでも開始する", "Start anyway"),
    "open_running": ("実施中の配信を開く", "Open the running campaign"),
    "sending_h": ("配信の状態", "Sending"),
    "dispatcher_down": ("配信プロセスが動いていません（最後の確認 {time}）。`safetynet serve` を起動するまで何も送信されません。",
                        "No dispatcher is running (last heard {time}). Nothing is sent until `safetynet serve` runs."),
    "dispatcher_never": ("配信プロセスが一度も動いていません。`safetynet serve` を起動するまで何も送信されません。",
                         "No dispatcher has ever run. Nothing is sent until `safetynet serve` runs."),
    "dispatcher_up": ("配信プロセス稼働中（{n} 件、最終確認 {time}）", "Dispatcher running ({n}, last heard {time})"),
    "ch_webpush": ("プッシュ通知", "Web push"),
    "ch_telegram": ("Telegram", "Telegram"),
    "ch_sms": ("SMS", "SMS"),
    "ch_voice": ("音声電話", "Voice calls"),
    "ch_ok": ("✓ 送信できています（{time} から）", "✓ Sending (since {time})"),
    "ch_idle": ("… 待機中（まだ送信していません）", "… Idle (nothing sent yet)"),
    "ch_failing": ("✕ 送信できていません（{time} から、{n} 回続けて失敗）: {reason}",
                   "✕ Failing since {time} ({n} attempts in a row): {reason}"),
    "ch_unknown": ("— 状態不明（稼働中の配信プロセスがありません）", "— unknown (no dispatcher running with this channel)"),
    "reason_network": ("事業者に接続できません", "cannot reach the provider"),
    "reason_timeout": ("事業者が応答しません", "the provider does not answer"),
    "reason_server_error": ("事業者側でエラーが起きています", "the provider answers with errors"),
    "reason_configuration": ("設定または認証情報が正しくありません", "wrong configuration or credentials"),
    "reason_internal": ("送信処理の内部エラー", "internal error of the sender"),
    "recent": ("最近の配信", "Recent campaigns"),
    "no_data": ("データがありません", "No data yet"),
    "back": ("戻る", "Back"),
    "error": ("エラー", "Error"),
    "login": ("ログイン", "Log in"),
    "login_id": ("ログインID", "Login"),
    "password": ("パスワード", "Password"),
    "login_failed": ("ログインIDまたはパスワードが違います。", "Wrong login or password."),
    "too_many": ("試行回数が多すぎます。しばらく待ってからお試しください。", "Too many attempts. Please wait and try again."),
    "staff": ("職員・役員", "Staff"),
    "display_name": ("表示名", "Display name"),
    "role": ("役割", "Role"),
    "phone": ("携帯電話", "Mobile phone"),
    "telegram": ("Telegram チャットID", "Telegram chat id"),
    "add_staff": ("追加する", "Add"),
    "remove": ("削除", "Remove"),
    "password_hint": ("10文字以上。空欄なら自動生成して一度だけ表示します",
                      "At least 10 characters. Leave empty to generate one, shown once"),
    "shown_once": ("この画面でしか表示されません。今すぐ控えてください。", "Shown only on this page. Copy it now."),
    "new_password": ("{login} のパスワード", "Password for {login}"),
    "api_tokens": ("API トークン", "API tokens"),
    "label": ("用途", "Label"),
    "create_token": ("作成する", "Create"),
    "new_token": ("新しい API トークン", "New API token"),
    "expires_days": ("有効日数（空欄なら無期限）", "Valid for days (empty: never expires)"),
    "bad_expires_days": ("有効日数は 1〜3650 の整数で指定してください", "Valid for days must be a whole number from 1 to 3650"),
    "token_id": ("番号", "Id"),
    "created": ("作成", "Created"),
    "expires": ("有効期限", "Expires"),
    "last_used": ("最終利用", "Last used"),
    "token_state": ("状態", "State"),
    "token_active": ("有効", "Active"),
    "token_expired": ("期限切れ", "Expired"),
    "token_revoked": ("失効済み", "Revoked"),
    "never": ("無期限", "Never"),
    "not_used": ("未使用", "Not used"),
    "revoke": ("失効させる", "Revoke"),
    "revoked_token": ("トークン {id} を失効させました。以後このトークンは使えません。",
                      "Token {id} is revoked and can no longer be used."),
    "added": ("{login} を追加しました", "Added {login}"),
    "removed": ("{login} を削除しました", "Removed {login}"),
    "role_city_admin": ("市の管理者", "City admin"),
    "role_district_head": ("地区長", "District head"),
    "role_association_head": ("町会長", "Association head"),
    "role_deputy": ("副会長・班長", "Deputy"),
    "cannot_remove_self": ("自分自身は削除できません", "You cannot remove yourself"),
    "started": ("開始", "Started"),
    "generated_at": ("作成 {time}", "Generated {time}"),
    "at_once": ("すぐに", "at once"),
    "no_limit": ("上限なし", "no provider limit"),
    "step": ("段階", "Step"),
    "when": ("時期", "When"),
    "channel": ("経路", "Channel"),
    "takes": ("所要時間", "Takes"),
    "cost": ("費用の見込み", "Cost estimate"),
    "voice": ("音声", "Voice"),
}


KNOWN_KEYS = frozenset(_T)


def t(lang: str, key: str, **values: object) -> str:
    ja, en = _T[key]
    text = en if lang == "en" else ja
    return text.format(**values) if values else text


def status_label(lang: str, status: str) -> str:
    icon, ja, en = STATUS_TEXT.get(status, ("?", status, status))
    return f"{icon} {en if lang == 'en' else ja}"


def method_label(lang: str, method: str) -> str:
    ja, en = METHOD_TEXT[method]
    return en if lang == "en" else ja


def pct(rate: float) -> str:
    return f"{rate * 100:.0f}%"


def lang_of(request: web.Request) -> str:
    """?lang= wins (and is remembered by a cookie), then the cookie, then Japanese."""
    q = request.query.get("lang", "")
    if q in LANGS:
        return q
    c = request.cookies.get(LANG_COOKIE, "")
    return c if c in LANGS else "ja"


def large_of(request: web.Request) -> bool:
    q = request.query.get("large")
    if q in ("0", "1"):
        return q == "1"
    return request.cookies.get(LARGE_COOKIE) == "1"


def remember_prefs(request: web.Request, resp: web.StreamResponse) -> None:
    """Keeps a language or text-size choice made by a query parameter for the next pages."""
    q = request.query.get("lang", "")
    if q in LANGS:
        resp.set_cookie(LANG_COOKIE, q, max_age=365 * 86400, httponly=True, samesite="Lax", path="/")
    large = request.query.get("large")
    if large in ("0", "1"):
        resp.set_cookie(LARGE_COOKIE, large, max_age=365 * 86400, httponly=True, samesite="Lax", path="/")

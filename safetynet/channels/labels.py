"""Button and confirmation words of the app channels (Telegram keyboards, push actions)."""

from __future__ import annotations

ANSWERS = ("safe", "need_help")

_LABELS: dict[str, dict[str, str]] = {
    "ja": {"safe": "無事です", "need_help": "助けが必要"},
    "ja-easy": {"safe": "だいじょうぶ", "need_help": "たすけて"},
    "en": {"safe": "I'm safe", "need_help": "I need help"},
}
_RECORDED: dict[str, dict[str, str]] = {
    "ja": {"safe": "「無事」と記録しました。", "need_help": "「助けが必要」と記録しました。町会に知らせます。"},
    "ja-easy": {"safe": "「だいじょうぶ」と きろく しました。", "need_help": "「たすけて」と きろく しました。"},
    "en": {"safe": "Recorded: you are safe.", "need_help": "Recorded: you need help. Your association is told."},
}
_CHANGE: dict[str, str] = {"ja": "回答を変更: {label}", "ja-easy": "こたえを かえる: {label}", "en": "Change to: {label}"}
_OPEN: dict[str, str] = {"ja": "開く", "ja-easy": "ひらく", "en": "Open"}


def _lang(language: str) -> str:
    if language in _LABELS:
        return language
    return "en" if language.lower().startswith("en") else "ja"


def answer_label(answer: str, language: str) -> str:
    return _LABELS[_lang(language)][answer]


def recorded_text(answer: str, language: str) -> str:
    return _RECORDED[_lang(language)][answer]


def open_label(language: str) -> str:
    """The button of a staff alert: opens its dashboard link."""
    return _OPEN[_lang(language)]


def change_label(to_answer: str, language: str) -> str:
    lang = _lang(language)
    return _CHANGE[lang].format(label=_LABELS[lang][to_answer])


def other_answer(answer: str) -> str:
    return "need_help" if answer == "safe" else "safe"

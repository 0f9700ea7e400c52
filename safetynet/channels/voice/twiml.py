"""The keypad safety check's TwiML (1 safe, 2 need help), read in the household's language. Pure.

Flow: the call carries inline TwiML with `<Gather numDigits=1 actionOnEmptyResult>` whose action is
`{public_url}/hooks/twilio/voice?t={token}`. The webhook answers with `answer_twiml` (1 or 2),
`retry_twiml` (no or another key, first time; its action adds `&retry=1`) or `no_input_twiml`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape as xml_escape

from twilio.twiml.voice_response import Gather, VoiceResponse

from safetynet.i18n import t

VOICE_PATH = "/hooks/twilio/voice"

# Text-to-speech languages the catalogs have voice prompts in; other household languages hear Japanese.
SAY_LANGUAGE = {"ja": "ja-JP", "en": "en-US"}
_RECORDED = {"safe": "voice.safe_recorded", "need_help": "voice.need_help_recorded"}
DIGIT_STATUS = {"1": "safe", "2": "need_help"}
# Seconds the keypad waits after the prompt; elderly callers need more than Twilio's default 5.
GATHER_TIMEOUT_SECONDS = 8
# Seconds the phone rings before Twilio gives up (no-answer).
RING_SECONDS = 40
CALL_EVENTS = ["initiated", "ringing", "answered", "completed"]


def _lang(language: str) -> str:
    return "en" if language.lower().startswith("en") else "ja"


def gather_url(public_url: str, reply_token: str, retry: bool = False) -> str:
    url = f"{public_url.rstrip('/')}{VOICE_PATH}?t={quote(reply_token, safe='')}"
    return url + "&retry=1" if retry else url


# The query of a call to our number from a number several households share: no token (whose would it
# be?); its keys answer by the caller's number, which Twilio signs on every callback of the call.
SHARED_CALLER = "shared"


def shared_caller_url(public_url: str, retry: bool = False) -> str:
    url = f"{public_url.rstrip('/')}{VOICE_PATH}?caller={SHARED_CALLER}"
    return url + "&retry=1" if retry else url


# Stands for the action URL in the cached documents; replaced by the escaped URL per call.
_ACTION = "https://action.invalid/gather"


# The campaign's message is read at most this long: an inline TwiML document has a size limit, and a
# listener on a landline needs the question more than a long text.
SPOKEN_MESSAGE_CHARS = 300


@functools.lru_cache(maxsize=64)
def _gather_template(lang: str, drill: bool, retry: bool, city: str = "", message: str = "") -> str:
    say = SAY_LANGUAGE[lang]
    vr = VoiceResponse()
    # keys or words: a rotary (pulse) line sends no tones, and many say 「ぶじです」 before they find a key
    g = Gather(
        num_digits=1,
        input="dtmf speech",
        language=say,
        hints=t(lang, "voice.speech_hints"),
        speech_timeout="auto",
        timeout=GATHER_TIMEOUT_SECONDS,
        action=_ACTION,
        method="POST",
        action_on_empty_result=True,
    )
    if city:
        g.say(t(lang, "voice.from_city", city=city), language=say)
    if drill:
        g.say(t(lang, "voice.drill"), language=say)
    if message:
        g.say(message, language=say)
    if retry:
        g.say(t(lang, "voice.retry"), language=say)
    g.say(t(lang, "voice.prompt"), language=say)
    g.pause(length=1)
    g.say(t(lang, "voice.prompt"), language=say)
    vr.append(g)
    return str(vr)


def gather_twiml(public_url: str, reply_token: str, language: str, drill: bool = False, retry: bool = False,
                 city: str = "", message: str = "", shared: bool = False) -> str:
    """The keypad question, read twice, inside one `<Gather>` that posts to the reply token's action URL
    (`shared`: to the shared caller's, `reply_token` unused);
    the first time, who calls (`city`) and what happened (`message`, the campaign's text in the
    household's language: QA heard only 「安否確認です。無事なら1を…」). An English voice says a name only
    in ASCII (it would read a kanji name as noise)."""
    lang = _lang(language)
    who = city if not retry and (lang == "ja" or city.isascii()) else ""
    said = " ".join(message.split())[:SPOKEN_MESSAGE_CHARS] if not retry else ""
    template = _gather_template(lang, drill, retry, who, said)
    action = shared_caller_url(public_url, retry) if shared else gather_url(public_url, reply_token, retry)
    return template.replace(_ACTION, xml_escape(action, {'"': "&quot;"}))


@functools.lru_cache(maxsize=64)
def notice_twiml(language: str, drill: bool = False, city: str = "", message: str = "") -> str:
    """A call that only tells (a cancelled campaign's notice: no token, nothing to answer): who calls,
    the message, read twice, then the call ends. No keypad: a 1 pressed here would answer nothing."""
    lang = _lang(language)
    say = SAY_LANGUAGE[lang]
    who = city if lang == "ja" or city.isascii() else ""
    said = " ".join(message.split())[:SPOKEN_MESSAGE_CHARS]
    vr = VoiceResponse()
    if who:
        vr.say(t(lang, "voice.from_city", city=who), language=say)
    for _ in range(2):
        if drill:
            vr.say(t(lang, "voice.drill"), language=say)
        if said:
            vr.say(said, language=say)
        vr.pause(length=1)
    vr.hangup()
    return str(vr)


def retry_twiml(public_url: str, reply_token: str, language: str) -> str:
    return gather_twiml(public_url, reply_token, language, retry=True)


def answer_twiml(status: str, language: str, moved: bool = False) -> str:
    """The recorded answer said, then the call ends; `moved`: the call's campaign had ended and the
    household's running campaign took the answer, which the call says too."""
    lang = _lang(language)
    vr = VoiceResponse()
    vr.say(t(lang, _RECORDED[status]), language=SAY_LANGUAGE[lang])
    if moved:
        vr.say(t(lang, "voice.moved"), language=SAY_LANGUAGE[lang])
    if status == "need_help":  # as the reply page: the association is told, but it is no ambulance
        vr.say(t(lang, "voice.help_note"), language=SAY_LANGUAGE[lang])
    vr.hangup()
    return str(vr)


def say_twiml(text: str, language: str) -> str:
    """Words said, then the call ends (nothing to answer, or an answer not taken)."""
    vr = VoiceResponse()
    vr.say(text, language=SAY_LANGUAGE[_lang(language)])
    vr.hangup()
    return str(vr)


def no_input_twiml(language: str, pressed: bool = False) -> str:
    """The call's end with no answer; `pressed`, keys were pressed but neither 1 nor 2 (it said 「入力が
    ありませんでした」 to a caller who had pressed them)."""
    lang = _lang(language)
    vr = VoiceResponse()
    vr.say(t(lang, "voice.wrong_keys" if pressed else "voice.no_input"), language=SAY_LANGUAGE[lang])
    vr.hangup()
    return str(vr)


def parse_gather(params: Mapping[str, str]) -> str:
    """The digits pressed; "" when the caller pressed nothing."""
    return (params.get("Digits") or "").strip()


def parse_speech(params: Mapping[str, str]) -> str:
    """The words the caller said, as Twilio's speech recognition heard them; "" for none."""
    return " ".join((params.get("SpeechResult") or "").split())


def digit_status(digits: str) -> str | None:
    """"safe", "need_help", or None for no or another key."""
    return DIGIT_STATUS.get(digits)


def gather_reply(digits: str, retry: bool, public_url: str, reply_token: str, language: str,
                 spoken: str | None = None, said: bool = False) -> tuple[str | None, str]:
    """The recorded status (None: no answer) and the TwiML to answer a Gather callback with; `spoken`, what
    the caller's words answer (`InboundPort.spoken`), `said`, whether they said any."""
    status = digit_status(digits) or spoken
    if status is not None:
        return status, answer_twiml(status, language)
    if not retry:
        return None, retry_twiml(public_url, reply_token, language)
    return None, no_input_twiml(language, pressed=bool(digits) or said)


def spoken_message(msg: Any) -> str:
    """What a call reads of the message: its text without the link and the drill mark (the call says
    「これは訓練です」 itself), only in a language a voice here speaks (a Japanese voice reading
    Vietnamese is noise: then the question alone, as before)."""
    if msg.language not in ("ja", "ja-easy", "en"):
        return ""
    text = " ".join((msg.text or "").replace(msg.reply_url, " ").split())
    mark = t(msg.language, "message.drill_prefix").strip()
    if msg.drill and mark and text.startswith(mark):
        text = text[len(mark):].lstrip()
    return text

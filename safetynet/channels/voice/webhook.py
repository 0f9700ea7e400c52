"""The keypad answer (`/hooks/twilio/voice?t=TOKEN`): 1 safe, 2 need help; no input asks once more,
then ends as no answer. A call to our number (no token: the number's Voice URL points here) is the
resident calling back: its caller's household is asked the same question. Signed by Twilio; call status
callbacks go to the shared status route."""

from __future__ import annotations

import structlog
from twilio.twiml.voice_response import VoiceResponse

from safetynet.channels.base import (
    ChannelContext,
    ChannelSender,
    InboundPort,
    WebhookRequest,
    WebhookResponse,
    WebhookRoute,
)
from safetynet.channels.twilio.webhook import (
    FROM_KINDS,
    MAX_TWILIO_BYTES,
    caller_withheld,
    e164,
    signed_params,
    status_route,
    twiml,
)
from safetynet.channels.voice.twiml import (
    SAY_LANGUAGE,
    SHARED_CALLER,
    VOICE_PATH,
    answer_twiml,
    digit_status,
    gather_reply,
    gather_twiml,
    no_input_twiml,
    parse_gather,
    parse_speech,
    say_twiml,
)
from safetynet.i18n import t

log = structlog.get_logger("channels")


def routes(ctx: ChannelContext, inbound: InboundPort, sender: ChannelSender | None) -> list[WebhookRoute]:
    async def voice_hook(req: WebhookRequest) -> WebhookResponse:
        params = await signed_params(ctx, req)
        token = req.query.get("t", "")
        if not token and req.query.get("caller") == SHARED_CALLER:
            return await shared_answer(params, req.query.get("retry") == "1")
        if not token:
            return await called_back(params)
        target = await inbound.resolve(token)
        if not target.found:
            vr = VoiceResponse()
            vr.say(target.notice, language=SAY_LANGUAGE["ja"])
            vr.hangup()
            return twiml(str(vr))
        retry = req.query.get("retry") == "1"
        call_sid = params.get("CallSid", "")
        digits, words = parse_gather(params), parse_speech(params)
        spoken = await inbound.spoken(words) if words and not digits else None
        status, answer = gather_reply(digits, retry, ctx.public_url, token, target.language, spoken, bool(words))
        stage = "retry" if retry else "first"
        if status is not None:
            ack = await inbound.answer(token, status, ctx.name, f"voice:{call_sid}:{stage}")
            if ack.moved_to:  # the call's campaign had ended: the running one took the answer, and it is said
                answer = answer_twiml(status, target.language, moved=True)
        elif retry:  # for the staff, in the city's language (it read "voice: no answer" on a Japanese page),
            # with what the caller said when it was no answer (「母が…」 the keywords did not take)
            note = t(ctx.default_language, "staff.note.voice_no_answer")
            await inbound.note(token, f"{note}: {words}" if words else note, ctx.name, f"voice:{call_sid}:no_answer")
        return twiml(answer)

    async def called_back(params: dict[str, str]) -> WebhookResponse:
        """A resident calling our number back (the call was missed: the bath, the line busy): the caller's
        one household in the running campaign (or, with none, the one closed within its grace) hears its
        question, whose keys then go as a call of ours
        (review: the call was answered 「この安否確認は見つからない」 and the household left to the door-knock
        list). A number several households share (a 二世帯住宅's one landline) hears the question too, its
        keys answering by the number (`shared_answer`). A caller whose number is not shown is told to call
        again with it shown: it was told no safety check was running for it."""
        caller = params.get("From", "")
        if caller_withheld(caller):
            log.info("voice_caller_withheld")
            return twiml(say_twiml(t(ctx.default_language, "voice.caller_withheld"), ctx.default_language))
        address = e164(caller)
        token, households = await inbound.caller_token(FROM_KINDS, address)
        if households > 1:
            shared = await inbound.shared_caller(FROM_KINDS, address)
            log.info("voice_caller_shared", households=households)
            return twiml(gather_twiml(ctx.public_url, "", shared.language, shared.drill, city=ctx.city, shared=True))
        if not token:
            return twiml(say_twiml(t("ja", "sms.none"), "ja"))
        target = await inbound.resolve(token)
        return twiml(gather_twiml(ctx.public_url, token, target.language, target.drill, city=ctx.city))

    async def shared_answer(params: dict[str, str], retry: bool) -> WebhookResponse:
        """The keys of a call from a number several households share: 2 (or a call for help said) is need
        help for every one of them, as a text's; 1 cannot say which one is safe: the caller is told how
        each answers, and nothing is recorded; no answer is asked once more, then kept for the staff."""
        address = e164(params.get("From", ""))
        call_sid = params.get("CallSid", "")
        digits, words = parse_gather(params), parse_speech(params)
        spoken = await inbound.spoken(words) if words and not digits else None
        status = digit_status(digits) or spoken
        stage = "retry" if retry else "first"
        if status is not None:
            ack = await inbound.answer_caller(FROM_KINDS, address, status, ctx.name, f"voice:{call_sid}:{stage}")
            return twiml(say_twiml(ack.notice, ack.language) if ack.notice else answer_twiml(status, ack.language))
        shared = await inbound.shared_caller(FROM_KINDS, address)
        if not shared.found:
            return twiml(say_twiml(shared.notice, shared.language))
        if not retry:
            return twiml(gather_twiml(ctx.public_url, "", shared.language, shared.drill, retry=True, shared=True))
        note = t(ctx.default_language, "staff.note.voice_no_answer")
        await inbound.note_caller(FROM_KINDS, address, f"{note}: {words}" if words else note, ctx.name,
                                  f"voice:{call_sid}:no_answer")
        return twiml(no_input_twiml(shared.language, pressed=bool(digits or words)))

    return [WebhookRoute("POST", VOICE_PATH, voice_hook, MAX_TWILIO_BYTES), status_route(ctx, inbound)]

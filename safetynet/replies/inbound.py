"""The `InboundPort` of the channels' webhooks: what an inbound message means, decided here.

A webhook proves its request came from the provider and parses it; everything after that is this
module's: an answer by reply token (a button, a keypad), a text from an address (keywords; an
enrolment code sent to a bot; several households on one phone), a resident leaving a bot, a
provider's delivery status. Every record carries the provider's own id in its dedupe key, so a
provider's retry is taken once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import structlog

from safetynet.channels.base import InboundAck, InboundTarget
from safetynet.clock import Clock
from safetynet.config import Config
from safetynet.domain import ChannelName, ContactKind, Status
from safetynet.domain.replies import ReplyDetails, ReplyTarget
from safetynet.domain.roster import Staff
from safetynet.replies import texts
from safetynet.replies.enrol import Enrolment, EnrolmentError, message_code_spec
from safetynet.replies.intake import ReplyError, ReplyIntake, UnknownToken
from safetynet.replies.keywords import asks_to_stop, has_words_beyond_keyword, parse_keyword
from safetynet.replies.notify import PHONE_KINDS
from safetynet.replies.tokens import reply_token, reply_url
from safetynet.replies.words import enrol_word
from safetynet.roster.codes import CodeError, normalize_code
from safetynet.store import Store

log = structlog.get_logger("replies")

# Enrolment codes an address may send a minute (codes are unguessable; this stops a script trying).
LINKS_PER_MINUTE = 10
_WINDOW_SECONDS = 60.0


class _PerAddress:
    """Attempts per key in a one-minute window (a chat, a LINE user)."""

    def __init__(self, clock: Clock, limit: int) -> None:
        self.clock, self.limit = clock, limit
        self._seen: dict[str, tuple[int, float]] = {}

    def allow(self, key: str) -> bool:
        now = self.clock.monotonic()
        n, start = self._seen.get(key, (0, now))
        if now - start > _WINDOW_SECONDS:
            n, start = 0, now
        self._seen[key] = (n + 1, start)
        if len(self._seen) > 100_000:
            self._seen = {k: v for k, v in self._seen.items() if now - v[1] <= _WINDOW_SECONDS}
        return n < self.limit


class Inbound:
    """`channels.base.InboundPort` over the reply intake, the enrolment and the store."""

    def __init__(self, intake: ReplyIntake | Callable[[], ReplyIntake], store: Store, cfg: Config, clock: Clock,
                 enrolment: Enrolment | None = None) -> None:
        # the intake itself, or how to get it when it is created later (at the web app's startup)
        self._intake = intake
        self.store = store
        self.cfg = cfg
        self.clock = clock
        self.enrolment = enrolment or Enrolment(store, cfg, clock)
        self._links = _PerAddress(clock, LINKS_PER_MINUTE)

    @property
    def intake(self) -> ReplyIntake:
        return self._intake if isinstance(self._intake, ReplyIntake) else self._intake()

    # -- by reply token --------------------------------------------------------------------------

    def _not_found(self) -> str:
        # a button or a call: 「このリンク」 of the reply page's own words has no link to point at here (QA)
        return texts.t("ja", "reply.not_found_here")

    async def resolve(self, token: str) -> InboundTarget:
        t = await self.intake.resolve(token)
        if t is None:
            return InboundTarget(False, "ja", notice=self._not_found())
        return InboundTarget(True, texts.ui_language(t.language), t.kind == "drill")

    async def answer(self, token: str, answer: str, channel: ChannelName, dedupe_key: str,
                     note: str | None = None) -> InboundAck:
        try:
            result = await self.intake.answer_token(token, answer, channel, lambda _: dedupe_key,
                                                    ReplyDetails(note=note))
        except UnknownToken:
            return InboundAck(False, False, "ja", self._not_found())
        except ReplyError:  # not an answer: said in the household's language
            t = await self.intake.resolve(token)
            if t is None:
                return InboundAck(False, False, "ja", self._not_found())
            return InboundAck(True, False, texts.ui_language(t.language))
        lang = texts.ui_language(result.target.language)
        if result.moved_from is not None:  # an ended campaign's button: the running campaign took it
            moved = await self._moved(result.moved_from, [result.target])
            if moved is not None:
                return InboundAck(True, result.recorded, lang, moved_from=moved[0], moved_to=moved[1])
        return InboundAck(True, result.recorded, lang)

    async def _moved(self, asked: ReplyTarget, answered: Sequence[ReplyTarget]) -> tuple[str, str] | None:
        """(`InboundAck.moved_from`, `moved_to`): the title of the ended campaign whose button was
        pressed, and of the running campaign that took the answer (households of one address in
        different associations may each have their own: each named once, in order). None when a
        campaign's page is gone: nothing to name."""
        old = await self.intake.page(asked)
        new: list[str] = []
        for t in answered:
            page = await self.intake.page(t)  # cached per campaign and association
            if page is None:
                return None
            if page.title not in new:
                new.append(page.title)
        return None if old is None else (old.title, " / ".join(new))

    async def note(self, token: str, text: str, channel: ChannelName, dedupe_key: str) -> InboundAck:
        t = await self.intake.resolve(token)
        if t is None:
            return InboundAck(False, False, "ja", self._not_found())
        result = await self.intake.note(t, text, channel, dedupe_key)
        return InboundAck(True, result.recorded, texts.ui_language(t.language))

    # -- by the sender's address -----------------------------------------------------------------

    async def answer_from(self, kind: ContactKind, address: str, campaign_id: int, answer: str,
                          channel: ChannelName, dedupe_key: str) -> InboundAck:
        targets = await self.store.replies.running_targets_by_contact([kind], address, campaign_id)
        # (the household in the pressed campaign, the one its answer goes to): an ended campaign's button
        handed = [] if targets else await self._handed_on(kind, address, campaign_id)
        targets = targets or [goes_to for _, goes_to in handed]
        if not targets:
            log.info("answer_without_campaign", channel=channel)
            return InboundAck(False, False, self.cfg.city.default_language, self._not_found())
        status = Status.SAFE if answer == str(Status.SAFE) else Status.NEED_HELP if answer == str(
            Status.NEED_HELP) else None
        lang = texts.ui_language(targets[0].language)
        if status is None:
            return InboundAck(True, False, lang)
        notice, recorded = await self._answer_households(targets, status, channel, dedupe_key, None, "",
                                                         _by_number([kind]))
        # a notice instead: nothing recorded (its links lead to the running campaign's own pages)
        moved = await self._moved(handed[0][0], targets) if handed and not notice else None
        if moved is not None:
            return InboundAck(True, recorded, lang, notice, moved_from=moved[0], moved_to=moved[1])
        return InboundAck(True, recorded, lang, notice)

    async def _handed_on(self, kind: ContactKind, address: str,
                         campaign_id: int) -> list[tuple[ReplyTarget, ReplyTarget]]:
        """The buttons of a campaign that no longer runs: for each household of the address that the
        campaign asked, (the household in it, the running campaign its reply link would hand the answer
        to), by the link's own rules: its campaign still takes answers (`ReplyIntake.target_for`,
        `ReplyTarget.accepts`: closed within its grace) and hands them on (`ReplyIntake.running_instead`:
        closed, not cancelled; a closed real event's button never answers a drill). A household the
        campaign never asked is not answered for (a phone shared with another household)."""
        handed: list[tuple[ReplyTarget, ReplyTarget]] = []
        for running in await self.store.replies.running_targets_by_contact([kind], address):
            asked = await self.intake.target_for(campaign_id, running.household_id)
            goes_to = None if asked is None else await self.intake.running_instead(asked)
            if asked is not None and goes_to is not None:
                handed.append((asked, goes_to))
        return handed

    async def text_message(self, channel: ChannelName, kinds: Sequence[ContactKind], address: str, text: str,
                           message_id: str) -> str:
        """Keywords (`1`, `無事`, `2`, `助けて`…) answer for the households of the address; an enrolment
        code sent to a channel that links by code enrols; a request to stop the messages is kept as
        a note and answered with how stopping works; anything else is kept as a note and answered
        with how to reply."""
        spec = message_code_spec(kinds[0]) if kinds else None
        if spec is not None and spec.name == channel and _looks_like_code(text):
            return await self.link(text, kinds[0], address)
        targets = await self.store.replies.running_targets_by_contact(list(kinds), address)
        status = parse_keyword(text)
        # "STOP", 「配信停止」: safety checks are not stopped from here (README, Privacy); the resident is
        # told whom to ask, and the request is kept as a note for the staff of a running campaign
        stop = status is None and asks_to_stop(text)
        if not targets:
            staff = await self._staff_of(kinds, address)
            if staff is not None:
                # QA (heads' walk): a deputy on a feature phone texted 「対応済み」 back to his alert and
                # was told no safety check was running. A household of the number comes first (a head is
                # a resident too); else it is staff's, whose text answers nothing: say what to do instead.
                log.info("text_from_staff", channel=channel, staff_id=staff.id)
                lang = texts.ui_language(staff.language)
                return f"{texts.t(lang, 'staff.text_from_staff')}\n{self.cfg.server.public_url.rstrip('/')}/"
            log.info("text_without_campaign", channel=channel, stop=stop)
            none = "sms.none" if _by_number(kinds) else "sms.none_chat"
            return texts.t(self.cfg.city.default_language, "sms.stop" if stop else none)
        lang = targets[0].language
        key = f"{channel}:{message_id}"
        if status is None:
            for t in targets:
                await self.intake.note(t, text, channel, f"{key}:{t.household_id}")
            if stop:
                log.info("stop_requested", channel=channel, households=len(targets))
            return texts.t(lang, "sms.stop" if stop else "sms.help")
        note = text if has_words_beyond_keyword(text) else None
        notice, _ = await self._answer_households(targets, status, channel, key, note, text, _by_number(kinds))
        return notice or texts.sms_confirmation(str(status), lang)

    async def _staff_of(self, kinds: Sequence[ContactKind], address: str) -> Staff | None:
        """The active staff member (head, deputy, admin) whose own contact the address is, if any.
        A handful of rows, read only for a text no running campaign's household sent."""
        for s in await self.store.auth.list_staff():
            if s.active and any(k in kinds and a == address for k, a in s.contacts):
                return s
        return None

    async def _answer_households(self, targets: list[ReplyTarget], status: Status, channel: ChannelName,
                                 key: str, note: str | None, text: str, by_number: bool) -> tuple[str, bool]:
        """Records `status` for the households of one address: (words for the resident, recorded).

        "Safe" from an address several households share could mark the wrong one safe: each gets
        a note and the resident gets a link per household, labelled (`texts.many_households`). Need help is taken for every one of
        them: a false alarm is cheaper than a missed one."""
        lang = targets[0].language
        if len(targets) > 1 and status == Status.SAFE:
            for t in targets:
                await self.intake.note(t, text or str(status), channel, f"{key}:{t.household_id}")
            # a few households at most (those of one phone): one read each
            labelled = [(await self.store.roster.get_household(t.household_id),
                         reply_url(self.cfg.server.public_url,
                                   reply_token(self.cfg.secrets.secret_key, t.campaign_id, t.household_id)))
                        for t in targets]
            return texts.many_households(lang, labelled, by_number), False
        recorded = False
        for t in targets:
            result = await self.intake.answer(t, status, channel, f"{key}:{t.household_id}", ReplyDetails(note=note))
            recorded = recorded or result.recorded
        return "", recorded

    # -- enrolment by a code sent to a bot -------------------------------------------------------

    async def link(self, code: str, kind: ContactKind, address: str) -> str:
        """`/start CODE` (or a LINE message of the code): the address becomes the household's contact."""
        if not self._links.allow(f"{kind}:{address}"):
            return texts.t("ja", "enrol.slow_down")
        try:
            found = await self.enrolment.link(code.strip(), kind, address)
        except (EnrolmentError, ValueError):  # ValueError: an address the kind's own rule refuses
            return texts.t("ja", "enrol.bad_code")
        spec = message_code_spec(kind)
        if spec is None:
            return ""
        return enrol_word(spec, found.language, "done", association=found.association)

    # -- the provider's word ---------------------------------------------------------------------

    async def contact_gone(self, kind: ContactKind, address: str, reason: str) -> int:
        return await self.store.roster.mark_contacts_dead(kind, address, reason)

    async def delivery_status(self, provider_id: str, state: str, error_code: int | None = None) -> bool:
        return await self.store.outbox.record_provider_status(provider_id, state, error_code)


def _by_number(kinds: Sequence[ContactKind]) -> bool:
    """The address is a phone number (SMS), not a chat account (LINE, Telegram): the words say 「この番号」
    or 「このアカウント」 (QA: a LINE chat was told of 「この番号」)."""
    return all(k in PHONE_KINDS for k in kinds)


def _looks_like_code(text: str) -> bool:
    try:
        normalize_code(text)
    except CodeError:
        return False
    return True

"""The `InboundPort` of the channels' webhooks: what an inbound message means, decided here.

A webhook proves its request came from the provider and parses it; everything after that is this
module's: an answer by reply token (a button, a keypad), a text from an address (keywords; an
enrolment code sent to a bot; several households on one phone), a resident leaving a bot, a
provider's delivery status. Every record carries the provider's own id in its dedupe key, so a
provider's retry is taken once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol, TypeVar

import structlog

from safetynet.auth import Viewer
from safetynet.channels.base import ContactsBack, InboundAck, InboundTarget
from safetynet.clock import Clock
from safetynet.config import Config
from safetynet.domain import ANSWERED, CampaignKind, CampaignState, ChannelName, ContactKind, Scope, Status
from safetynet.domain.audit import AuditAction, AuditEntry
from safetynet.domain.campaigns import going_on
from safetynet.domain.replies import (
    HelpRow,
    InPersonMethod,
    ReplyDetails,
    ReplyTarget,
    UndoRefused,
    answering_order,
    made_for,
)
from safetynet.domain.roster import Household, Staff
from safetynet.replies import texts
from safetynet.replies.enrol import Enrolment, EnrolmentError, message_code_spec
from safetynet.replies.intake import Erased, NoSafetyQuestion, NotFound, ReplyError, ReplyIntake, UnknownToken
from safetynet.replies.keywords import (
    asks_to_stop,
    has_words_beyond_keyword,
    household_answer_in,
    is_household_number,
    names_association,
    parse_keyword,
    same_household_number,
    staff_handled,
    staff_visit_undone,
    staff_visited,
)
from safetynet.replies.notify import PHONE_KINDS
from safetynet.replies.tokens import looks_like_token, reply_token, reply_url, token_hash
from safetynet.replies.words import enrol_word
from safetynet.roster.codes import CodeError, normalize_code
from safetynet.store import Store, StoreError

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


# How long a process keeps the addresses of the staff's own contacts (`_StaffAddresses`), and how soon
# a 「対応済み」 from an address not among them may have them read again (a stranger's flood of them
# reads them once a second at most).
STAFF_ADDRESSES_SECONDS = 30.0
STAFF_ADDRESSES_AGAIN_SECONDS = 1.0
# Open help requests an SMS to staff lists by number before 「ほか N 件」 (an SMS is paid per 70 characters).
LISTED_OPEN = 8


class _StaffAddresses:
    """Whose own contact an address is, without reading every staff member for every text.

    A text from a number no household of a running campaign has (a resident not on the roster, one
    replying after the close, a stranger) asked the store for every staff member and their contacts:
    thousands of rows in a large city, read again for each such text of a reply storm. The addresses
    are kept `STAFF_ADDRESSES_SECONDS`, as a filter only: an address not among them is nobody's (a
    staff contact added in the last seconds is not known yet: its 「了解」 is answered as a stranger's,
    its 「対応済み」 reads them afresh); one among them is read afresh, by the staff member's id, so a
    removed staff member (`staff remove`, /admin: by any process, the row deleted) or a contact taken
    off is never taken for staff; when every one kept for it fails that check (a phone handed to another
    member), they are read again, once a second at most."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store, self.clock = store, clock
        self._ids: dict[tuple[str, str], tuple[int, ...]] = {}
        self._read_at = float("-inf")
        self._lock = asyncio.Lock()

    async def _candidates(self, kinds: Sequence[ContactKind], address: str, fresh: bool,
                          stale: bool = False) -> set[int]:
        """`stale`: the kept ids of the address proved wrong: read again as for a `fresh` text."""
        async with self._lock:  # one read for a burst of texts, not one each
            age = self.clock.monotonic() - self._read_at
            if age >= STAFF_ADDRESSES_SECONDS or (age >= STAFF_ADDRESSES_AGAIN_SECONDS and (
                    stale or (fresh and not self._find(kinds, address)))):
                ids: dict[tuple[str, str], list[int]] = {}
                for s in await self.store.auth.list_staff():
                    for kind, a in s.contacts:
                        ids.setdefault((kind, a), []).append(s.id)
                self._ids = {k: tuple(v) for k, v in ids.items()}
                self._read_at = self.clock.monotonic()
            return self._find(kinds, address)

    def _find(self, kinds: Sequence[ContactKind], address: str) -> set[int]:
        return {i for k in kinds for i in self._ids.get((k, address), ())}

    async def staff_of(self, kinds: Sequence[ContactKind], address: str, fresh: bool = False) -> Staff | None:
        """The active staff member whose own contact the address is now, if any. `fresh`: an address
        not among those kept has them read again first, if they are a second old (a text that marks
        something, 「対応済み」: rare, and a staff member added since must not be told they are not one)."""
        kept = await self._candidates(kinds, address, fresh)
        found = await self._first_whose(kept, kinds, address)
        if found is None and kept:
            # every one kept for it no longer has it: the phone was handed to another staff member (or
            # taken off): read again, once a second at most, rather than for up to 30 s say it is nobody's
            found = await self._first_whose(await self._candidates(kinds, address, fresh, stale=True) - kept,
                                            kinds, address)
        return found

    async def _first_whose(self, ids: set[int], kinds: Sequence[ContactKind], address: str) -> Staff | None:
        """The first of `ids` that is an active staff member whose own contact the address is now."""
        for staff_id in sorted(ids):
            s = await self.store.auth.staff_by_id(staff_id)
            if s is not None and s.active and any(k in kinds and a == address for k, a in s.contacts):
                return s
        return None


@dataclass(frozen=True, slots=True)
class _Request:
    """A household's help request as a staff member's text names it: its rows in the running
    campaigns it asked in (one household may ask in two at once), open or handled."""

    household_id: int
    key: str
    association: str
    rows: tuple[HelpRow, ...]

    @property
    def open(self) -> bool:
        return any(r.handled_at is None for r in self.rows)


@dataclass(frozen=True, slots=True)
class _Unanswered:
    """A household on the door-knock list (no answer yet) as a staff member's 「訪問済み」 names it: the
    running campaigns it has not answered in."""

    household_id: int
    key: str
    association: str
    campaigns: tuple[int, ...]
    open: bool = True  # (as `_Request`'s: every one is still to be seen to)


class _Mark(NamedTuple):
    """A household's in-person confirmation standing in one running campaign, as 「訪問取消」 sees it."""

    campaign_id: int
    reply_id: int
    undoable: bool  # no answer came after it (`InPersonMark.undoable`)
    own: bool  # the texting staff member recorded it: the page offers 取り消す on one's own alone


@dataclass(frozen=True, slots=True)
class _Confirmed:
    """A household confirmed in person as a staff member's 「訪問取消」 names it, with its confirmation
    in each running campaign."""

    household_id: int
    key: str
    association: str
    marks: tuple[_Mark, ...]

    @property
    def open(self) -> bool:
        """The texting staff member may take a confirmation of it back."""
        return any(m.undoable and m.own for m in self.marks)


@dataclass(frozen=True, slots=True)
class _TextScope:
    """What a staff member's 訪問済み or 訪問取消 looks at: the associations they see (id → name) and
    the running campaigns that ask households (contact checks and held drills aside)."""

    associations: dict[int, str]
    campaigns: tuple[int, ...]


# The statuses of a household the door-knock list shows: not answered (`web.dash_views.doorknock_groups`)
_UNANSWERED = tuple(s for s in Status if s not in ANSWERED)


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
        self._staff = _StaffAddresses(store, clock)

    @property
    def intake(self) -> ReplyIntake:
        return self._intake if isinstance(self._intake, ReplyIntake) else self._intake()

    # -- by reply token --------------------------------------------------------------------------

    @staticmethod
    def _not_found(lang: str) -> str:
        # a button or a call: 「このリンク」 of the reply page's own words has no link to point at here (QA)
        return texts.t(lang, "reply.not_found_here")

    async def _token_not_found(self, token: str) -> InboundAck:
        """An answer or a note by a token that takes none: said in its household's language when the
        token is genuine and its campaign ended past the grace (an old Telegram button of an English
        household was told in Japanese; review), else in the city's."""
        target = await self.store.replies.target_by_token_hash(token_hash(token)) if looks_like_token(token) else None
        lang = self.cfg.city.default_language if target is None else texts.ui_language(target.language)
        return InboundAck(False, False, lang, self._not_found(lang))

    async def _address_language(self, kinds: Sequence[ContactKind], address: str) -> str:
        """The language to answer `address` in when no running campaign names its household (an old
        button, the bot followed again): its household's. An address several households share speaks
        the first's, as an answer for several does (`_answer_households`: `targets[0]`): the first by
        id whose contact there works, else the first by id. The city's when it is no household's."""
        households = await self.store.roster.households_by_contact(kinds, address)
        working = [h for h in households if _works_at(h, kinds, address)]
        first = next(iter(working or households), None)
        return self.cfg.city.default_language if first is None else texts.ui_language(first.language)

    async def resolve(self, token: str) -> InboundTarget:
        t = await self.intake.resolve(token)
        if t is None:
            # in Japanese whoever's token it is: the call, its one caller with a real token, speaks the
            # notice in a Japanese voice (`voice.twiml.SAY_LANGUAGE`)
            return InboundTarget(False, "ja", notice=self._not_found("ja"))
        return InboundTarget(True, texts.ui_language(t.language), t.kind == "drill")

    async def answer(self, token: str, answer: str, channel: ChannelName, dedupe_key: str,
                     note: str | None = None, sent_at: float | None = None) -> InboundAck:
        """A button's answer (a postback, a key pressed); `sent_at`, when the provider says the resident
        pressed it (a late 無事 answers no campaign begun after it; a call for help is taken whenever)."""
        try:
            result = await self.intake.answer_token(token, answer, channel, lambda _: dedupe_key,
                                                    ReplyDetails(note=note),
                                                    made_at=sent_at)
        except UnknownToken:
            return await self._token_not_found(token)
        except ReplyError:  # not an answer: said in the household's language
            t = await self.intake.resolve(token)
            if t is None:
                return await self._token_not_found(token)
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
            return await self._token_not_found(token)
        result = await self.intake.note(t, text, channel, dedupe_key)
        return InboundAck(True, result.recorded, texts.ui_language(t.language))

    # -- by the sender's address -----------------------------------------------------------------

    async def answer_from(self, kind: ContactKind, address: str, campaign_id: int, answer: str,
                          channel: ChannelName, dedupe_key: str, sent_at: float | None = None) -> InboundAck:
        sent_at = made_for(answer, sent_at)  # for the reads below: the intake holds back the same
        targets = await self.store.replies.running_targets_by_contact([kind], address, campaign_id)
        # (the household in the pressed campaign, the one its answer goes to): an ended campaign's button
        handed = [] if targets else await self._handed_on(kind, address, campaign_id, sent_at)
        targets = targets or [goes_to for _, goes_to in handed]
        if not targets:
            kept = (await self._pressed_before(kind, address, campaign_id, channel, dedupe_key, sent_at)
                    if sent_at is not None else None)
            if kept is not None:
                return kept
            log.info("answer_without_campaign", channel=channel)
            # a known household's old button is told in its language (review: an English one's in Japanese)
            lang = await self._address_language([kind], address)
            return InboundAck(False, False, lang, self._not_found(lang))
        status = Status.SAFE if answer == str(Status.SAFE) else Status.NEED_HELP if answer == str(
            Status.NEED_HELP) else None
        lang = texts.ui_language(targets[0].language)
        if status is None:
            return InboundAck(True, False, lang)
        notice, recorded = await self._answer_households(targets, status, channel, dedupe_key, None, "",
                                                         _by_number([kind]), sent_at)
        # a notice instead: nothing recorded (its links lead to the running campaign's own pages)
        moved = await self._moved(handed[0][0], targets) if handed and not notice else None
        if moved is not None:
            return InboundAck(True, recorded, lang, notice, moved_from=moved[0], moved_to=moved[1])
        return InboundAck(True, recorded, lang, notice)

    async def spoken(self, words: str) -> str | None:
        status = parse_keyword(words)
        return None if status is None else str(status)

    async def caller_token(self, kinds: Sequence[ContactKind], address: str) -> tuple[str, int]:
        targets = await self._caller_targets(kinds, address)
        if len(targets) != 1:
            return "", len(targets)
        return self.intake.token_of(targets[0]), 1

    async def _caller_targets(self, kinds: Sequence[ContactKind], address: str) -> list[ReplyTarget]:
        # with none running, the campaign closed within its grace, as a text answers (`_closed_targets`)
        return (await self.store.replies.running_targets_by_contact(list(kinds), address)
                or await self._closed_targets(kinds, address))

    def _no_caller(self) -> InboundAck:
        lang = self.cfg.city.default_language
        return InboundAck(False, False, lang, texts.t(lang, "sms.none"))

    async def shared_caller(self, kinds: Sequence[ContactKind], address: str) -> InboundTarget:
        targets = await self._caller_targets(kinds, address)
        if not targets:
            none = self._no_caller()
            return InboundTarget(False, none.language, notice=none.notice)
        # 「これは訓練です」 only when no real event asks any of them
        return InboundTarget(True, texts.ui_language(targets[0].language),
                             all(t.kind == CampaignKind.DRILL for t in targets))

    async def answer_caller(self, kinds: Sequence[ContactKind], address: str, answer: str, channel: ChannelName,
                            dedupe_key: str) -> InboundAck:
        targets = await self._caller_targets(kinds, address)
        if not targets:
            return self._no_caller()
        lang = texts.ui_language(targets[0].language)
        status = Status(answer)
        if len(targets) > 1 and status == Status.SAFE:
            # a text's 無事 gets a link per household; a call has none to read out: each answers for itself,
            # and the staff see on each that someone on the line said safe (as a shared phone's text is kept)
            note = texts.t(self.cfg.city.default_language, "staff.note.voice_shared_safe")
            for t in targets:
                await self.intake.note(t, note, channel, f"{dedupe_key}:{t.household_id}")
            log.info("caller_safe_not_taken", channel=channel, households=len(targets))
            return InboundAck(True, False, lang, texts.t(lang, "voice.caller_shared_safe"))
        _, recorded = await self._answer_households(targets, status, channel, dedupe_key, None, "", True)
        log.info("caller_answered", channel=channel, status=str(status), households=len(targets), recorded=recorded)
        return InboundAck(True, recorded, lang)

    async def note_caller(self, kinds: Sequence[ContactKind], address: str, text: str, channel: ChannelName,
                          dedupe_key: str) -> InboundAck:
        targets = await self._caller_targets(kinds, address)
        if not targets:
            return self._no_caller()
        recorded = False
        for t in targets:
            result = await self.intake.note(t, text, channel, f"{dedupe_key}:{t.household_id}")
            recorded = recorded or result.recorded
        return InboundAck(True, recorded, texts.ui_language(targets[0].language))

    async def _pressed_before(self, kind: ContactKind, address: str, campaign_id: int, channel: ChannelName,
                              dedupe_key: str, sent_at: float) -> InboundAck | None:
        """A 無事 button pressed before every running campaign of the address began (delivered late): no
        answer to them, but not lost either: kept as a note for the staff and the resident asked to answer
        this question, as a late 無事 text is (review: the button said only that it could not be found,
        and nothing was kept). Only for the households the pressed campaign asked (a phone shared with
        another household answers nothing for it), and only when no running campaign had begun when it
        was pressed (a closed real event's button, which never hands on to a drill, is not late). None
        otherwise."""
        if await self.store.replies.running_targets_by_contact([kind], address, made_at=sent_at):
            return None
        running = [t for t in await self.store.replies.running_targets_by_contact([kind], address)
                   if await self.intake.target_for(campaign_id, t.household_id) is not None]
        if not running:
            return None
        note = texts.t(self.cfg.city.default_language, "staff.note.safe_pressed_before")
        lang = texts.ui_language(running[0].language)
        return InboundAck(True, False, lang, await self._safe_too_early(running, note, channel, dedupe_key, lang))

    async def _safe_too_early(self, targets: Sequence[ReplyTarget], note: str, channel: ChannelName, key: str,
                              lang: str) -> str:
        """A 無事 written before every running campaign of its sender began, texted or pressed: kept as a
        note on each household for the staff, and the question asked again (what to say back)."""
        for t in targets:
            await self.intake.note(t, note, channel, f"{key}:{t.household_id}")
        log.info("safe_written_before_campaign", channel=channel, households=len(targets))
        return texts.t(lang, "sms.help")

    async def _handed_on(self, kind: ContactKind, address: str, campaign_id: int,
                         sent_at: float | None = None) -> list[tuple[ReplyTarget, ReplyTarget]]:
        """The buttons of a campaign that no longer runs: for each household of the address that the
        campaign asked, (the household in it, the running campaign its reply link would hand the answer
        to), by the link's own rules: its campaign still takes answers (`ReplyIntake.target_for`,
        `ReplyTarget.accepts`: closed within its grace) and hands them on (`ReplyIntake.running_instead`:
        closed, not cancelled; a closed real event's button never answers a drill). A household the
        campaign never asked is not answered for (a phone shared with another household)."""
        handed: list[tuple[ReplyTarget, ReplyTarget]] = []
        for running in await self.store.replies.running_targets_by_contact([kind], address, made_at=sent_at):
            asked = await self.intake.target_for(campaign_id, running.household_id)
            goes_to = None if asked is None else await self.intake.running_instead(asked, sent_at)
            if asked is not None and goes_to is not None:
                handed.append((asked, goes_to))
        return handed

    async def text_message(self, channel: ChannelName, kinds: Sequence[ContactKind], address: str, text: str,
                           message_id: str, sent_at: float | None = None) -> str:
        """Keywords (`1`, `無事`, `2`, `助けて`…) answer for the households of the address; an enrolment
        code sent to a channel that links by code enrols; a request to stop the messages is kept as
        a note and answered with how stopping works; anything else is kept as a note and answered
        with how to reply. `sent_at`, when the provider says the text was sent (LINE, Telegram; an
        SMS webhook says none): a 無事 delivered late (redelivered after our restart) answers no
        campaign begun after it (`domain.first_running`); it is kept as a note and the resident is
        asked to answer again. A call for help is taken whenever it was written."""
        spec = message_code_spec(kinds[0]) if kinds else None
        if spec is not None and spec.name == channel and _looks_like_code(text):
            return await self.link(text, kinds[0], address)
        # 「訪問済み 12」 / 「対応済み 12」 (the form exactly: `keywords`) from a head's or deputy's own contact:
        # a household of her door-knock list seen, a help request handled; before the number's
        # households are asked (a head is a resident too, and 「対応済み 1」 is no 無事), unless the text
        # holds a household's answer beside its numbers (「確認済み 1 無事」 from her household's phone)
        visited = staff_visited(text)
        handled = None if visited is not None else staff_handled(text)
        undone = None if visited is not None or handled is not None else staff_visit_undone(text)
        words = next((w for w in (visited, handled, undone) if w is not None), None)
        targets = await self.store.replies.running_targets_by_contact(list(kinds), address)
        if words is not None and not (targets and household_answer_in(words) is not None):
            staff = await self._staff.staff_of(kinds, address, fresh=True)
            if staff is not None:
                return await self._staff_text(staff, visited, handled, undone, channel, message_id)
        status = parse_keyword(text)
        # "STOP", 「配信停止」: safety checks are not stopped from here (README, Privacy); the resident is
        # told whom to ask, and the request is kept as a note for the staff of a running campaign
        stop = status is None and asks_to_stop(text)
        closed = not targets and words is None
        if closed:
            targets = await self._closed_targets(kinds, address)
        if not targets:
            staff = None if words is not None else await self._staff.staff_of(kinds, address)
            if staff is not None:
                # QA (heads' walk): a deputy on a feature phone texted back to his alert and was told no
                # safety check was running. A household of the number comes first (a head is a resident
                # too); else it is staff's, whose text answers nothing: say what to do instead.
                log.info("text_from_staff", channel=channel, staff_id=staff.id)
                lang = texts.ui_language(staff.language)
                return f"{texts.t(lang, 'staff.text_from_staff_reply')}\n{self.cfg.server.public_url.rstrip('/')}/"
            if words is not None:  # 「対応済み」, 「訪問済み」 or 「訪問取消」 from an address that is no staff member's (now)
                log.info("handled_from_unknown_address", channel=channel, visited=visited is not None,
                         undo=undone is not None)
                said = ("staff.visited.unknown_address" if visited is not None
                        else "staff.handled.unknown_address" if handled is not None else "staff.visit_undo.unknown_address")
                return texts.t(self.cfg.city.default_language, said)
            log.info("text_without_campaign", channel=channel, stop=stop)
            none = "sms.none" if _by_number(kinds) else "sms.none_chat"
            return texts.t(self.cfg.city.default_language, "sms.stop" if stop else none)
        lang = targets[0].language
        key = f"{channel}:{message_id}"
        if status == Status.SAFE and sent_at is not None and not closed:
            # a 無事 written before a campaign began is no answer to it (a redelivery after our restart,
            # the earthquake's event begun meanwhile); 助けが必要 is taken whenever it was written
            # (`made_for`, as every channel)
            written_for = await self.store.replies.running_targets_by_contact(list(kinds), address, made_at=sent_at)
            if not written_for:
                return await self._safe_too_early(targets, text, channel, key, lang)
            targets = written_for
        if status is None:
            for t in targets:
                await self.intake.note(t, text, channel, f"{key}:{t.household_id}")
            if stop:
                log.info("stop_requested", channel=channel, households=len(targets))
            return texts.t(lang, "sms.stop" if stop else "sms.help")
        note = text if has_words_beyond_keyword(text) else None
        notice, _ = await self._answer_households(targets, status, channel, key, note, text, _by_number(kinds),
                                                  sent_at)
        return notice or texts.sms_confirmation(str(status), lang)

    async def _closed_targets(self, kinds: Sequence[ContactKind], address: str) -> list[ReplyTarget]:
        """With no campaign running for the address: its households in the campaign, closed within its grace,
        that asked them and comes first in `answering_order` (a real event before a drill, then the
        latest started), as their reply links would answer. A 「2 母が倒れた」 texted ten minutes after the close was answered "no safety check is
        running" and dropped, where the same answer by link opened a help request (review). A
        cancelled campaign takes none: it went out by mistake. Read only for such texts."""
        now, grace = self.clock.now(), self.intake.grace_seconds
        # the fifty latest by creation (a long real event may be older than the checks and drills closed since:
        # ten missed it, the last hour's review); not cached, or a text just after a close would miss it
        closed = [c for c in await self.store.campaigns.list_campaigns([CampaignState.CLOSED], limit=50)
                  if c.kind != CampaignKind.CHECK and c.closed_at is not None and now - c.closed_at <= grace]
        if not closed:
            return []
        # in the order an answer takes among running ones: a real event first, then the latest started
        closed.sort(key=lambda c: answering_order(c.kind, c.started_at or 0.0, c.id))
        found: list[ReplyTarget] = []
        for h in await self.store.roster.households_by_contact(kinds, address):
            if not _works_at(h, kinds, address):
                continue  # as for a running campaign: only a working contact answers for its household
            for c in closed:
                target = await self.intake.target_for(c.id, h.id)
                if target is not None:
                    found.append(target)
                    break
        return found

    async def _staff_text(self, staff: Staff, visited: Sequence[str] | None, handled: Sequence[str] | None,
                          undone: Sequence[str] | None, channel: ChannelName, message_id: str) -> str:
        """A staff text acted on once: a provider's retry of it (the same message id) gets the answer
        the text got and does nothing again, whatever changed since (review: a 「訪問済み」 redelivered
        after a new campaign started confirmed the household there, nobody having seen it; a
        「対応済み」 answered 'already' marked a new call for help when retried)."""
        key = f"{channel}:{message_id}"
        said = await self.store.replies.staff_text_answer(key)
        if said is not None:
            log.info("staff_text_retried", channel=channel, staff_id=staff.id)
            return said
        if visited is not None:
            said = await self._confirm_visited(staff, visited, channel, message_id)
        elif handled is not None:
            said = await self._mark_handled(staff, handled, channel, message_id)
        else:
            assert undone is not None  # one of the three words, or no staff text
            said = await self._undo_visit(staff, undone, channel, message_id)
        try:
            await self.store.replies.keep_staff_text(key, said, self.clock.now())
        except StoreError as e:  # what the text did stands; its retry falls back on each action's own key
            log.warning("staff_text_unkept", channel=channel, staff_id=staff.id, error=str(e))
        return said

    # -- staff: 対応済み by a text ---------------------------------------------------------------

    async def _mark_handled(self, staff: Staff, words: Sequence[str], channel: ChannelName, message_id: str) -> str:
        """「対応済み 12」 (`words`: `keywords.staff_handled`) from a staff member's own contact: the help
        request it names, among those of the running campaigns in the staff member's scope, marked
        handled as the dashboard's button marks it (`ReplyIntake.mark_handled`: the same scope rule,
        the household's other running campaigns, the live dashboards, no escalation after). The number
        is needed, even with one request open; otherwise nothing is marked, and the answer says which
        are open and how to name one. The mark keeps the text's message id: a provider's retry of the
        text marks nothing, so a request reopened since (a new call for help) stays open."""
        lang = texts.ui_language(staff.language)
        viewer = _viewer(staff)
        requests = await self._requests(viewer)
        several = len({r.association for r in requests}) > 1
        open_ = [r for r in requests if r.open]
        example = open_[0].key if open_ else "12"
        found, why = _named_by(words, requests)
        if found is not None and why == "":
            marked = await self._mark(viewer, staff, found, channel, message_id)
            # not marked: someone else's mark landed first (two deputies at the door)
            said = texts.t(lang, "staff.handled.done" if marked else "staff.handled.already",
                           household=self._named(lang, found, several))
            open_ = [r for r in open_ if r is not found]
        else:
            log.info("handled_by_text_refused", channel=channel, staff_id=staff.id, reason=why, open=len(open_))
            if why == "already" and found is not None:
                said = texts.t(lang, "staff.handled.already", household=self._named(lang, found, several))
            elif why == "same_number" and found is not None:
                said = texts.t(lang, "staff.handled.same_number", example=words[0], association=found.association)
            elif why == "not_found":
                said = texts.t(lang, "staff.handled.not_found", number=words[0], example=example)
            elif why in ("which", "unclear", "several"):
                said = texts.t(lang, f"staff.handled.{why}", example=example)
            else:  # none open: the line below says so
                said = ""
        listed = (texts.t(lang, "staff.handled.open_list", n=len(open_), households=self._listed(lang, open_, several))
                  if open_ else texts.t(lang, "staff.handled.none_open"))
        return "\n".join(p for p in (said, listed) if p)

    # -- staff: 訪問済み by a text ---------------------------------------------------------------

    async def _confirm_visited(self, staff: Staff, words: Sequence[str], channel: ChannelName,
                               message_id: str) -> str:
        """「訪問済み 12」 (`words`: `keywords.staff_visited`) from a staff member's own contact: the
        household it names, among those not answered in the running campaigns of the staff member's
        scope (the door-knock list), confirmed in person by a visit as the page's 訪問で確認 does
        (`ReplyIntake.confirm_in_person`: the same scope rule), in each of those campaigns, and audited.
        The number is needed (a confirmation marks a household seen: no guess); otherwise nothing is
        recorded and the answer says how to name one."""
        lang = texts.ui_language(staff.language)
        viewer = _viewer(staff)
        todo = await self._unanswered(await self._text_scope(viewer))
        several = len({u.association for u in todo}) > 1
        example = todo[0].key if todo else "12"
        found, why = _named_by(words, todo)
        if found is not None and why == "":
            recorded = await self._visited(viewer, staff, found, channel, message_id)
            said = texts.t(lang, "staff.visited.done" if recorded else "staff.visited.not_found",
                           household=self._named(lang, found, several), number=found.key, example=example)
            if recorded:  # a mistyped number takes a household nobody saw off the list: say how to take it back
                said += "\n" + texts.t(lang, "staff.visited.undo_hint", number=found.key)
            todo = [u for u in todo if u is not found] if recorded else todo
        else:
            log.info("visited_by_text_refused", channel=channel, staff_id=staff.id, reason=why, unanswered=len(todo))
            if why == "same_number" and found is not None:
                said = texts.t(lang, "staff.visited.same_number", example=words[0], association=found.association)
            elif why == "not_found":
                said = texts.t(lang, "staff.visited.not_found", number=words[0], example=example)
            else:  # "which", "unclear", "several"
                said = texts.t(lang, f"staff.visited.{why if why in ('which', 'several') else 'unclear'}",
                               example=example)
        left = (texts.t(lang, "staff.visited.left", n=len(todo)) if todo
                else texts.t(lang, "staff.visited.none_left"))
        return f"{said}\n{left}"

    # -- staff: 訪問取消 by a text ---------------------------------------------------------------

    async def _undo_visit(self, staff: Staff, words: Sequence[str], channel: ChannelName, message_id: str) -> str:
        """「訪問取消 12」 (`words`: `keywords.staff_visit_undone`) from a staff member's own contact: their
        own in-person confirmation of household 12 (the page offers 取り消す on one's own alone), among
        the households confirmed in the running campaigns of their scope, taken back in each as the
        page's button does (`ReplyIntake.undo_in_person`; never over an answer the household sent
        since) and audited. The number is needed, as for 訪問済み; otherwise nothing is taken back and
        the answer says how to name one. The text's message id keys each undo: a provider's retry of
        the text, come after the household was confirmed again, takes nothing back."""
        lang = texts.ui_language(staff.language)
        viewer = _viewer(staff)
        scope = await self._text_scope(viewer)
        confirmed = await self._confirmed(scope, staff)
        several = len({c.association for c in confirmed}) > 1
        example = next((c.key for c in confirmed if c.open), "12")
        found, why = _named_by(words, confirmed)
        if found is not None and why == "":
            status = await self._undo_marks(viewer, staff, found, channel, message_id)
            household = self._named(lang, found, several)
            if status is None:  # taken back meanwhile (another text, the page): nothing of it stands
                said = texts.t(lang, "staff.visit_undo.already", household=household)
            elif status in ANSWERED:  # an earlier confirmation stands, or an answer: say which
                said = texts.t(lang, "staff.visit_undo.done_status", household=household,
                               status=texts.status_label(status, lang))
            else:
                said = texts.t(lang, "staff.visit_undo.done", household=household)
        else:
            log.info("visit_undo_by_text_refused", channel=channel, staff_id=staff.id, reason=why,
                     confirmed=len(confirmed))
            if why == "already" and found is not None:
                # theirs to take back only where they recorded it, and only while no answer came after it
                theirs = any(m.own for m in found.marks)
                said = texts.t(lang, "staff.visit_undo.cannot" if theirs else "staff.visit_undo.not_yours",
                               household=self._named(lang, found, several))
            elif why == "same_number" and found is not None:
                said = texts.t(lang, "staff.visit_undo.same_number", example=words[0], association=found.association)
            elif why == "not_found":
                said = texts.t(lang, "staff.visit_undo.not_found", number=words[0], example=example)
            elif why == "none_open":
                said = texts.t(lang, "staff.visit_undo.none")
            else:  # "which", "unclear", "several"
                said = texts.t(lang, f"staff.visit_undo.{why if why in ('which', 'several') else 'unclear'}",
                               example=example)
        todo = await self._unanswered(scope)
        left = texts.t(lang, "staff.visited.left", n=len(todo)) if todo else texts.t(lang, "staff.visited.none_left")
        return f"{said}\n{left}"

    async def _text_scope(self, viewer: Viewer) -> _TextScope:
        associations = {a.id: a.name for a in await self.store.roster.list_associations()
                        if viewer.sees(a.district, a.name)}
        campaigns = tuple(c.id for c in going_on(await self.store.campaigns.running())
                          if c.kind != CampaignKind.CHECK) if associations else ()  # a check asks no one if safe
        return _TextScope(associations, campaigns)

    async def _numbers(self, scope: _TextScope, statuses: Sequence[str]) -> list[tuple[int, int, str, int]]:
        """(campaign, household, number, association) of the scope's households in `statuses`, one read
        a campaign of the numbers alone: a district head's text read every row of the district (half a
        second of the event loop for 40,000 unanswered households, every resident's answer behind it)."""
        return [(c, hid, key, aid) for c in scope.campaigns
                for hid, key, aid in await self.store.dashboard.household_numbers(c, list(scope.associations), statuses)
                if aid in scope.associations]

    async def _confirmed(self, scope: _TextScope, staff: Staff) -> list[_Confirmed]:
        """The households confirmed in person in the scope's campaigns, one per household, with the
        confirmation standing in each (the staff member's own or not)."""
        numbers: dict[tuple[int, int], tuple[str, int]] = {
            (c, hid): (key, aid) for c, hid, key, aid in await self._numbers(scope, (Status.CONFIRMED_IN_PERSON,))}
        found: dict[int, _Confirmed] = {}
        for c in scope.campaigns:
            for aid in sorted({aid for (campaign, _), (_, aid) in numbers.items() if campaign == c}):
                for mark in await self.store.dashboard.in_person_marks(c, aid):
                    if (c, mark.household_id) not in numbers:
                        continue
                    key, association_id = numbers[(c, mark.household_id)]
                    was = found.get(mark.household_id)
                    found[mark.household_id] = _Confirmed(
                        mark.household_id, key, scope.associations[association_id],
                        (*(was.marks if was else ()), _Mark(c, mark.reply_id, mark.undoable, mark.actor == staff.login)))
        return list(found.values())

    async def _undo_marks(self, viewer: Viewer, staff: Staff, household: _Confirmed,
                          channel: ChannelName, message_id: str) -> Status | None:
        """Takes back the staff member's own confirmation of the household in each campaign where it may
        still be, as the page does, with the audit entry the page writes (and the channel); the status
        the household has after it (the last campaign's), None when none was taken back."""
        after: Status | None = None
        for mark in household.marks:
            if not (mark.undoable and mark.own):
                continue
            try:
                outcome = await self.intake.undo_in_person(viewer, mark.campaign_id, household.household_id,
                                                           mark.reply_id, dedupe_key=f"{channel}:{message_id}")
            except (NotFound, UndoRefused, Erased):  # gone, or answered meanwhile: the others still count
                continue
            if outcome.already:
                continue
            after = outcome.status
            await self._audit(staff, channel, "visit_undo_audit_unwritten", AuditEntry(
                self.clock.now(), staff.login, str(AuditAction.UNDO), "household", role=str(staff.role),
                staff_id=staff.id, campaign_id=mark.campaign_id, household_id=household.household_id,
                detail=f"reply {mark.reply_id}:{channel}"))
        log.info("visit_undone_by_text", channel=channel, staff_id=staff.id, household_id=household.household_id,
                 undone=after is not None)
        return after

    async def _audit(self, staff: Staff, channel: ChannelName, unwritten: str, entry: AuditEntry) -> None:
        """A staff text's audit entry. What the text did stands (with who did it, on its row) whether or
        not the entry is written: one not written is logged as `unwritten`."""
        try:
            await self.store.audit.append([entry])
        except Exception as e:
            log.error(unwritten, campaign_id=entry.campaign_id, household_id=entry.household_id, staff_id=staff.id,
                      channel=channel, error=str(e))

    async def _unanswered(self, scope: _TextScope) -> list[_Unanswered]:
        """The scope's households not answered (the statuses the door-knock list shows), one per
        household, with the campaigns it has not answered in."""
        found: dict[int, _Unanswered] = {}
        for c, hid, key, aid in await self._numbers(scope, _UNANSWERED):
            was = found.get(hid)
            found[hid] = _Unanswered(hid, key, scope.associations[aid], (*(was.campaigns if was else ()), c))
        return list(found.values())

    async def _visited(self, viewer: Viewer, staff: Staff, household: _Unanswered, channel: ChannelName,
                       message_id: str) -> bool:
        """Confirms the household in person (a visit) in each campaign it has not answered in, as the
        page's button does, and records it in the audit log as the page does (with the channel: it
        rests on a phone number alone); False when none was recorded (a provider's retry)."""
        recorded = False
        for campaign_id in household.campaigns:
            try:
                result = await self.intake.confirm_in_person(viewer, campaign_id, household.household_id,
                                                              InPersonMethod.VISIT, dedupe_key=f"{channel}:{message_id}")
            except (NotFound, NoSafetyQuestion, Erased):  # gone from its campaign meanwhile: the others still count
                continue
            recorded = recorded or result.recorded
            if not result.recorded:
                continue
            await self._audit(staff, channel, "visited_audit_unwritten", AuditEntry(
                self.clock.now(), staff.login, str(AuditAction.CONFIRM), "household", role=str(staff.role),
                staff_id=staff.id, campaign_id=campaign_id, association_id=result.target.association_id,
                household_id=household.household_id, detail=f"{InPersonMethod.VISIT}:{channel}"))
        log.info("visited_by_text", channel=channel, staff_id=staff.id, household_id=household.household_id,
                 recorded=recorded)
        return recorded

    async def _requests(self, viewer: Viewer) -> list[_Request]:
        """The help requests of the running campaigns in the viewer's scope (`Viewer.sees`, the scope
        rule of every staff page), open or handled, one per household, the oldest first."""
        associations = [a for a in await self.store.roster.list_associations() if viewer.sees(a.district, a.name)]
        if not associations:
            return []
        ids = None if viewer.scope.kind == "city" else [a.id for a in associations]
        rows: dict[int, list[HelpRow]] = {}
        for c in going_on(await self.store.campaigns.running()):
            for r in await self.store.replies.help_list(c.id, ids, include_handled=True):
                rows.setdefault(r.household_id, []).append(r)
        found = [_Request(h, rs[0].household_key, rs[0].association, tuple(rs)) for h, rs in rows.items()]
        return sorted(found, key=lambda r: (min(x.opened_at for x in r.rows), r.household_id))

    async def _mark(self, viewer: Viewer, staff: Staff, request: _Request, channel: ChannelName,
                    message_id: str) -> bool:
        """Marks the household's open requests handled, each as the dashboard's button does, and
        records how in the audit log (the dashboard's 対応済み list shows who and when, not how);
        False when none was left to mark."""
        marked = False
        for row in request.rows:
            if row.handled_at is not None:
                continue
            try:
                done = await self.intake.mark_handled(viewer, row.campaign_id, request.household_id,
                                                      dedupe_key=f"{channel}:{message_id}")
            except (NotFound, Erased):  # its campaign no longer has it (or was purged): the others still count
                continue
            marked = marked or done
            if not done:
                continue
            await self._audit(staff, channel, "handled_audit_unwritten", AuditEntry(
                self.clock.now(), staff.login, str(AuditAction.HANDLED), "help", role=str(staff.role),
                staff_id=staff.id, campaign_id=row.campaign_id, association_id=row.association_id,
                household_id=request.household_id, detail=str(channel)))
        log.info("handled_by_text", channel=channel, staff_id=staff.id, household_id=request.household_id,
                 changed=marked)
        return marked

    @staticmethod
    def _named(lang: str, request: _Named, several: bool) -> str:
        """A household as a text to staff names it: its number (what its row shows with or without
        consent, DESIGN §9; never a name or an address), after its association's name when the staff
        member's scope has requests of more than one."""
        number = texts.t(lang, "staff.handled.household", number=request.key)
        return f"{request.association} {number}" if several else number

    def _listed(self, lang: str, requests: Sequence[_Request], several: bool) -> str:
        shown = [self._named(lang, r, several) for r in requests[:LISTED_OPEN]]
        if len(requests) > len(shown):
            shown.append(texts.t(lang, "staff.handled.more", n=len(requests) - len(shown)))
        return texts.t(lang, "staff.handled.separator").join(shown)

    async def _answer_households(self, targets: list[ReplyTarget], status: Status, channel: ChannelName,
                                 key: str, note: str | None, text: str, by_number: bool,
                                 sent_at: float | None = None) -> tuple[str, bool]:
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
            result = await self.intake.answer(t, status, channel, f"{key}:{t.household_id}", ReplyDetails(note=note),
                                              made_at=sent_at)
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

    async def contact_back(self, kind: ContactKind, address: str, reason: str) -> ContactsBack:
        count = await self.store.roster.mark_contacts_back(kind, address, reason)
        return ContactsBack(count, await self._address_language([kind], address))

    async def delivery_status(self, provider_id: str, state: str, error_code: int | None = None) -> bool:
        return await self.store.outbox.record_provider_status(provider_id, state, error_code)


def _works_at(h: Household, kinds: Sequence[ContactKind], address: str) -> bool:
    """The household has a working contact of one of `kinds` at `address` (what `running_targets_by_contact`
    asks in SQL, for households read by `households_by_contact`, which takes any state)."""
    return any(c.working and c.kind in kinds and c.address == address for c in h.contacts)


def _viewer(staff: Staff) -> Viewer:
    """The staff member as their pages see them: the scope rule of a text is theirs."""
    return Viewer(role=staff.role, scope=Scope.parse(staff.scope), staff_id=staff.id, login=staff.login,
                  display_name=staff.display_name)


class _Named(Protocol):
    """What a staff member's text names a household by (`_Request`, `_Unanswered`, `_Confirmed`)."""

    @property
    def key(self) -> str: ...
    @property
    def association(self) -> str: ...
    @property
    def open(self) -> bool: ...


_N = TypeVar("_N", bound=_Named)


def _named_by(words: Sequence[str], requests: Sequence[_N]) -> tuple[_N | None, str]:
    """Which request a staff member's 「対応済み」 (`words`: `keywords.staff_handled`) names among
    `requests` (theirs, oldest first), pure: (it, "") to mark it; else (a request or None, why not):
    "already" (it, handled), "which" (none named, some open), "none_open", "several" (two numbers or
    more: one a text), "not_found" (one word,
    no such number), "same_number" (a request of that number, in several associations: the name
    too), "unclear" (words that are neither a number nor an association's name of it)."""
    if not words:
        # never a guess, even with one open: the one open when the text was sent may not be the one
        # she saw to (the head marked A-002 on the page, A-003 came in, the deputy back from A-002
        # texted 「対応済み」; review)
        return None, "which" if any(r.open for r in requests) else "none_open"
    if sum(is_household_number(w) for w in words) > 1:
        # 「訪問済み 12、13」: one number a text (a mistyped second number would mark a household unseen)
        return None, "several"
    named = [r for r in requests if any(same_household_number(w, r.key) for w in words)]
    if len({r.association for r in named}) > 1:  # one number in two associations: by the name too
        named = [r for r in named if any(names_association(w, r.association) for w in words)] or named
    beyond = [w for w in words
              if not any(same_household_number(w, r.key) or names_association(w, r.association) for r in named)]
    if beyond:
        return None, "not_found" if not named and len(words) == 1 else "unclear"
    if len(named) > 1:
        return named[0], "same_number"
    return named[0], "" if named[0].open else "already"


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

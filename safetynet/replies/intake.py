"""One entry point for answers from every channel: web page, push action, Telegram, SMS, voice, staff.

Whatever the channel, an answer is: a target (a household in a campaign, from a reply token or a
phone), a status, a dedupe key (provider message id, client request id…) and optional details.
It is stored through the reply store's group commit and acknowledged only once committed. A
`need_help` answer puts the household on the help list and tells the association's head and
deputies at once (in the background, with retries).
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from safetynet.auth import Viewer
from safetynet.clock import Clock
from safetynet.config import Config
from safetynet.domain import CampaignKind, CampaignState, Status
from safetynet.domain.records import quick
from safetynet.domain.replies import (
    NO_DETAILS,
    NOTE,
    NOTE_MAX_CHARS,
    CampaignPage,
    InPersonMethod,
    PageState,
    RecordOutcome,
    ReplyChannel,
    ReplyDetails,
    ReplyItem,
    ReplyTarget,
    TokenAnswer,
    UndoOutcome,
    UndoRefused,
    answering_campaign,
    follows_on,
    made_for,
    may_share,
    shared_key,
    shared_with,
)
from safetynet.metrics import Metrics
from safetynet.replies.tokens import looks_like_token, reply_token, token_hash
from safetynet.runtime import process_owner
from safetynet.store import Store
from safetynet.store.errors import StoreError

log = structlog.get_logger("replies")

ANSWERS = frozenset({Status.SAFE, Status.NEED_HELP})
_LOGGED = frozenset({str(Status.NEED_HELP), NOTE})
_ANSWER_OF = {s.value: s for s in ANSWERS}
# A reply page shows its campaign's title and text; they do not change once it runs.
_PAGE_CACHE_SECONDS = 30.0
# A help request whose alerts are still unqueued this long after it opened is queued again (a store
# error while queuing): well past a queuing's own time, and short beside the half hour of the escalation.
RESEND_AFTER_SECONDS = 60.0
# The turn to queue again unqueued help alerts (`resend_unnotified`, a restart's `start`): every process
# that takes answers checks for them (DESIGN §8: several web processes), and two walking the same list
# queued each alert twice. Taken each round and before each alert; a process killed holding it holds it
# this long.
HELP_RESEND_LEASE = "help.resend"
HELP_RESEND_LEASE_SECONDS = 60.0
# How long this process keeps the ids of the running campaigns by kind (`ReplyIntake._running_of`),
# what decides whether an answer may be another campaign's too (`domain.replies.may_share`) without
# a read per answer. The staleness this allows: an answer to a campaign that was running before
# another of its kind started over the same household, in the first 2 s of the new one, stays its
# own campaign's (an answer to the new campaign itself reads afresh: its id is not in the ids kept).
# A campaign closed meanwhile costs one read for nothing (its household's running campaigns say so).
_RUNNING_CACHE_SECONDS = 2.0


class ReplyError(Exception):
    """An answer that cannot be taken; the message is fit to show."""


class UnknownToken(ReplyError):
    """Unknown, malformed or expired reply token: all three look the same from outside."""


class NotFound(ReplyError):
    """No such household in the campaign, or not in the viewer's scope (indistinguishable)."""


class NoSafetyQuestion(ReplyError):
    """A contact check asks no one whether they are safe: nobody is confirmed in person in one."""


class Erased(ReplyError):
    """Retention erased the campaign's notes and answers: a confirmation (or its undo) written now
    would keep a note past them for good (review: a head's 「骨折・搬送」 on a 120-day-old event)."""


class HelpNotifier(Protocol):
    async def need_help(self, campaign_id: int, household_id: int, follow_up: bool = False) -> None: ...


# What a household with an open help request may have said since: back to "help" from one of these
# is alerted anew (a target read just before, so two answers racing from "pending" alert once).
_SET_ASIDE = frozenset({Status.SAFE, Status.CONFIRMED_IN_PERSON})


@quick
@dataclass(frozen=True, slots=True)
class AnswerResult:
    target: ReplyTarget
    status: str  # what this reply said (an answer, read, or note)
    recorded: bool  # False: a duplicate of an earlier reply, or refused (`refused`): nothing new stored
    help_opened: bool = False
    reply_id: int | None = None  # set for staff confirmations: what an undo names
    refused: bool = False  # `answer_token`'s `refuse` said no: nothing stored
    # `answer_token` only: the closed campaign whose link was used when the answer went to the
    # household's running campaign instead (`domain.replies.answering_campaign`; `answered_by`)
    moved_from: ReplyTarget | None = None


def new_key() -> str:
    """A dedupe key for replies that carry none of their own (staff actions)."""
    return secrets.token_urlsafe(12)


def _clipped(details: ReplyDetails) -> ReplyDetails:
    if not details.note:
        return details
    return ReplyDetails(details.people_safe, details.people_injured, details.location, clip_note(details.note))


def clip_note(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip()
    return text[:NOTE_MAX_CHARS] if text else None


class ReplyIntake:
    def __init__(self, store: Store, cfg: Config, clock: Clock, notifier: HelpNotifier | None = None,
                 metrics: Metrics | None = None) -> None:
        self.store = store
        self.metrics = metrics or Metrics()
        self.cfg = cfg
        self.clock = clock
        self.notifier = notifier
        self.grace_seconds = cfg.replies.token_grace_hours * 3600.0
        self._pages: dict[tuple[int, int], tuple[CampaignPage, float]] = {}
        # the running campaigns' ids by kind, until when they are taken as true (`_running_of`)
        self._running: tuple[dict[CampaignKind, frozenset[int]], float] | None = None
        self._running_read: asyncio.Task[dict[CampaignKind, frozenset[int]]] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # help requests whose alerts this process is queuing now, with how many times (`resend_unnotified`)
        self._notifying: dict[tuple[int, int], int] = {}
        self._started = False
        self._owner = process_owner()  # the resend turn's (`HELP_RESEND_LEASE`)
        self._turn_taken_at: float | None = None  # when this process last took it (monotonic)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Re-sends help alerts a crash interrupted (open requests never marked notified).

        One at a time, in the background: a burst of alerts at start would compete with the
        answers arriving at the same moment for the single writer.
        """
        if self._started:
            return  # the server and the web app may both start it
        self._started = True
        pending = await self.store.replies.unnotified_help()
        if pending and await self._resend_turn():
            log.info("help_alerts_resumed", households=len(pending))
            self._resend(pending)

    def _resend(self, pending: list[tuple[int, int]]) -> None:
        """Queues `pending`'s alerts again, one at a time, in the background; each counts as under way
        from now (`_notifying`), so a round of `resend_unnotified` meanwhile leaves it alone (the day's
        review at scale: the start's list and the first round's both walked a long backlog, twice)."""
        for key in pending:
            self._notifying[key] = self._notifying.get(key, 0) + 1

        async def one_by_one() -> None:
            for n, key in enumerate(pending):
                try:
                    # the turn kept alert by alert: a long backlog outlasts it, and another process may
                    # have taken it meanwhile (this one's ran out): the rest is that one's to send
                    if n == 0 or await self._resend_turn():
                        await self._notify(*key, follow_up=False)
                finally:
                    self._done_notifying(key)

        self._spawn(one_by_one())

    def _done_notifying(self, key: tuple[int, int]) -> None:
        left = self._notifying.pop(key, 1) - 1
        if left > 0:
            self._notifying[key] = left

    async def resend_unnotified(self) -> int:
        """Queues again the help alerts still unqueued `RESEND_AFTER_SECONDS` after their request: the
        store failed while they were queued (`_notify` logs it and goes on), and only a restart looked
        again, so the head heard nothing until the escalation went to others (review). Run every round
        of `HelpEscalation`; those this process is queuing now are left to it. Returns how many."""
        pending = [key for key in await self.store.replies.unnotified_help(min_age_seconds=RESEND_AFTER_SECONDS)
                   if key not in self._notifying]
        if pending and await self._resend_turn():
            log.warning("help_alerts_resent", households=len(pending))
            self._resend(pending)  # in the background: the escalation's claim does not wait for it
        return len(pending)

    async def _resend_turn(self) -> bool:
        """Whether this process queues the unqueued help alerts now (`HELP_RESEND_LEASE`); a store that
        cannot say is no turn: the next round asks again."""
        now = self.clock.monotonic()
        # taken less than a third of its term ago: still ours, and asking again is a write (the one writer's,
        # beside the answers) for every alert of a backlog
        if self._turn_taken_at is not None and now - self._turn_taken_at < HELP_RESEND_LEASE_SECONDS / 3:
            return True
        try:
            taken = await self.store.coordination.acquire_lease(HELP_RESEND_LEASE, self._owner, HELP_RESEND_LEASE_SECONDS)
        except StoreError as e:
            log.warning("help_resend_turn_unread", error=str(e)[:300])
            taken = False
        self._turn_taken_at = now if taken else None
        return taken

    async def stop(self) -> None:
        """Waits for help alerts still being sent, then gives the resend turn back: a restarted process
        resends at once what this one's stop left, rather than after the turn ran out."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        self._turn_taken_at = None
        try:
            await self.store.coordination.release_lease(HELP_RESEND_LEASE, self._owner)
        except StoreError as e:  # it runs out by itself
            log.warning("help_resend_turn_unreleased", error=str(e)[:300])

    async def idle(self) -> None:
        """Returns when no help alert is being sent (tests await this instead of sleeping)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- targets -----------------------------------------------------------------------------

    async def resolve(self, token: str) -> ReplyTarget | None:
        """The household and campaign of a token, or None: unknown and expired look the same."""
        if not looks_like_token(token):
            return None
        target = await self.store.replies.target_by_token_hash(token_hash(token))
        return target if self._answers(target) else None

    async def resolve_page(self, token: str, cancelled_too: bool = False) -> PageState | None:
        """`resolve` for the reply page: with the household's latest replies, in the same read; with
        `cancelled_too`, a cancelled campaign's too, however long ago (its page says so)."""
        if not looks_like_token(token):
            return None
        state = await self.store.replies.page_state(token_hash(token))
        if state is None:
            return None
        cancelled = cancelled_too and state.target.campaign_state == CampaignState.CANCELLED
        return state if cancelled or self._answers(state.target) else None

    async def cancelled(self, token: str) -> ReplyTarget | None:
        """The household of a token whose campaign was cancelled, however long ago (until its data is
        purged): its page says so rather than "no such link" (a mistaken alert, taken back)."""
        if not looks_like_token(token):
            return None
        target = await self.store.replies.target_by_token_hash(token_hash(token))
        return target if target is not None and target.campaign_state == CampaignState.CANCELLED else None

    async def target_for(self, campaign_id: int, household_id: int) -> ReplyTarget | None:
        target = await self.store.replies.target(campaign_id, household_id)
        return target if self._answers(target) else None

    async def running_instead(self, link: ReplyTarget, made_at: float | None = None) -> ReplyTarget | None:
        """The household's running campaign an answer by `link` (made at `made_at`, if it was kept and
        sent late) belongs to instead of the link's own (`domain.replies.answering_campaign`), or None:
        the link's own campaign. Reads the store only for a link whose campaign no longer runs (`follows_on`)."""
        if not follows_on(link):
            return None
        running = await self.store.replies.running_targets_of(link.household_id)
        goes_to = answering_campaign(link, running, made_at)
        return None if goes_to is link else goes_to

    def token_of(self, target: ReplyTarget) -> str:
        """The reply token of a household in a campaign (derived: `replies.tokens.reply_token`)."""
        return reply_token(self.cfg.secrets.secret_key, target.campaign_id, target.household_id)

    def answered_by(self, token: str, result: AnswerResult) -> str:
        """The token an answer by `token` (`answer_token`'s `result`) went by: the running campaign's
        when it went there (`moved_from`), else `token` itself."""
        return token if result.moved_from is None else self.token_of(result.target)

    def _answers(self, target: ReplyTarget | None) -> bool:
        """Found, and its campaign still takes answers (running, or closed within the grace)."""
        return target is not None and target.accepts(self.clock.now(), self.grace_seconds)

    async def page(self, target: ReplyTarget) -> CampaignPage | None:
        key = (target.campaign_id, target.association_id)
        hit = self._pages.get(key)
        now = self.clock.monotonic()
        if hit is not None and hit[1] > now:
            return hit[0]
        found = await self.store.replies.campaign_page(*key)
        if found is not None:
            if len(self._pages) > 10_000:
                self._pages.clear()
            self._pages[key] = (found, now + _PAGE_CACHE_SECONDS)
        return found

    async def _target(self, target: str | ReplyTarget) -> ReplyTarget:
        if isinstance(target, ReplyTarget):
            return target
        found = await self.resolve(target)
        if found is None:
            raise UnknownToken("unknown or expired reply link")
        return found

    # -- residents ---------------------------------------------------------------------------

    async def answer(
        self,
        target: str | ReplyTarget,
        status: Status | str,
        channel: ReplyChannel | str,
        dedupe_key: str,
        details: ReplyDetails = NO_DETAILS,
        made_at: float | None = None,
    ) -> AnswerResult:
        """Records safe or need_help for the target (a token: `answer_token`, one trip; or a resolved
        target, as an answer by the sender's address has). `made_at`: as `answer_token`'s."""
        if isinstance(target, str):
            return await self.answer_token(target, status, channel, lambda _: dedupe_key, details, made_at=made_at)
        st = _ANSWER_OF.get(str(status))
        if st is None:
            raise ReplyError(f"an answer is safe or need_help, not {status}")
        t = target
        details, made_at = _clipped(details), made_for(st, made_at)
        result = await self._record(t, str(st), str(channel), dedupe_key, details)
        self._alert(st, result, details)
        await self._share(result, st, str(channel), dedupe_key, details, made_at=made_at)
        return result

    async def answer_token(
        self,
        token: str,
        status: Status | str,
        channel: ReplyChannel | str,
        dedupe_key: Callable[[ReplyTarget], str],
        details: ReplyDetails = NO_DETAILS,
        refuse: Callable[[ReplyTarget], bool] | None = None,
        follow: bool = True,
        made_at: float | None = None,
        goes_to: ReplyTarget | None = None,
        share: bool = True,
    ) -> AnswerResult:
        """`answer` for a reply token, found inside the answer's own commit: one trip to the store.

        `dedupe_key(target)` names the answer; `refuse(target)` true stores nothing (`refused`). Both
        run where the store writes, on the target as it stands there: pure and quick. Raises
        UnknownToken (unknown, malformed, or its campaign takes no answers) and ReplyError.

        The link of a closed campaign (within its grace) answers the household's running campaign
        when it has one (`domain.replies.answering_campaign`; `moved_from` says so), by that
        campaign's own token, and its own campaign otherwise: two trips more, for such links only.
        `follow` False keeps the answer in the token's campaign; `made_at`, when the answer was made if
        the phone kept it and sends it late (a campaign begun after it takes no 無事 made then: `made_for`;
        a call for help, whenever made, goes to the running campaign as any other); `goes_to`, the
        running campaign such a link's answer goes to when the caller has read it already
        (`running_instead` at `made_at`; `follow` False when it found none): not read again.

        Recorded, the answer goes to the household's other running campaigns of the same kind as well
        (`_share`); `share` False (such a copy itself) keeps it to this one.
        """
        st = _ANSWER_OF.get(str(status))
        if st is None:
            raise ReplyError(f"an answer is safe or need_help, not {status}")
        if not looks_like_token(token):
            raise UnknownToken("unknown or expired reply link")
        details, made_at = _clipped(details), made_for(st, made_at)
        now, grace, said, via = self.clock.now(), self.grace_seconds, str(st), str(channel)

        handed_on = False

        def build(t: ReplyTarget) -> ReplyItem | None:
            nonlocal handed_on
            if not t.accepts(now, grace):
                return None
            if follow and follows_on(t):  # a closed campaign's link: where the answer goes is read next
                handed_on = True
                return None
            if refuse is not None and refuse(t):
                return None
            return ReplyItem(t.campaign_id, t.household_id, t.association_id, said, via, dedupe_key(t), now, details)

        done = await self.store.replies.record_by_token(TokenAnswer(token_hash(token), build))
        t = done.target
        if t is None or not t.accepts(now, grace):
            raise UnknownToken("unknown or expired reply link")
        if handed_on:
            goes_to = goes_to if goes_to is not None else await self.running_instead(t, made_at)
            if goes_to is None:  # none running: the closed campaign takes it, within its grace
                return await self.answer_token(token, st, via, dedupe_key, details, refuse, follow=False,
                                               made_at=made_at, share=share)
            try:
                result = await self.answer_token(self.token_of(goes_to), st, via, dedupe_key, details, refuse,
                                                 follow=False, made_at=made_at, share=share)
            except UnknownToken:  # closed meanwhile, past its grace (or a link made under another key)
                return await self.answer_token(token, st, via, dedupe_key, details, refuse, follow=False,
                                               made_at=made_at, share=share)
            log.info("reply_handed_on", from_campaign=t.campaign_id, campaign_id=result.target.campaign_id,
                     household_id=t.household_id, status=said)
            return dataclasses.replace(result, moved_from=t)
        if done.outcome is None:
            return AnswerResult(t, said, recorded=False, refused=True)
        result = self._recorded(t, said, via, done.outcome)
        self._alert(st, result, details)
        if share:
            await self._share(result, st, via, dedupe_key(t), details, refuse, made_at)
        return result

    async def _share(self, result: AnswerResult, status: Status, channel: str, key: str, details: ReplyDetails,
                     refuse: Callable[[ReplyTarget], bool] | None = None, made_at: float | None = None) -> None:
        """Records a resident's answer just recorded in `result.target` in the household's other running
        campaigns of the same kind too (`domain.replies.shared_with`), each by its own token (its
        refusals and grace as the answer's own) under a key derived from the answer's (`shared_key`):
        one place for every channel. The household's running campaigns are read only when another
        campaign of the kind runs (`may_share`, by the ids `_running_of` keeps): one running, the
        common case, reads nothing more. A retry of the answer (a duplicate) shares nothing again:
        an old form sent again must not answer a campaign begun since. The resident is told of the
        answered campaign only; each copy alerts its own campaign's heads (`_alert`, in `answer_token`).
        """
        t = result.target
        if not result.recorded:
            return
        try:
            if not may_share(t, (await self._running_of(t)).get(t.kind, frozenset())):
                return
            others = shared_with(t, await self.store.replies.running_targets_of(t.household_id), made_at)
        except Exception:  # the answer stands in its campaign, and the resident is told so
            log.exception("reply_not_shared", campaign_id=t.campaign_id, household_id=t.household_id)
            return
        if not others:
            return
        done = await asyncio.gather(*(self.answer_token(self.token_of(o), status, channel,
                                                        lambda at: shared_key(key, at.campaign_id), details, refuse,
                                                        follow=False, share=False) for o in others),
                                    return_exceptions=True)
        for o, d in zip(others, done, strict=True):
            if isinstance(d, BaseException):
                # the answer stands in the campaign it was for (the resident is told so); a copy that
                # could not be stored (closed past its grace meanwhile, a store error) is said here
                log.warning("reply_not_shared", campaign_id=o.campaign_id, from_campaign=t.campaign_id,
                            household_id=t.household_id, error=repr(d))
        log.info("reply_shared", campaign_id=t.campaign_id, household_id=t.household_id, status=str(status),
                 to_campaigns=[o.campaign_id for o, d in zip(others, done, strict=True)
                               if isinstance(d, AnswerResult) and d.recorded])

    async def _running_of(self, answered: ReplyTarget) -> dict[CampaignKind, frozenset[int]]:
        """The ids of the running campaigns by kind, as read at most `_RUNNING_CACHE_SECONDS` ago (one
        read at a time, shared by the answers waiting for it); read again at once when `answered`
        runs and is not among them (a campaign just started)."""
        kept = self._running
        if kept is not None and kept[1] > self.clock.monotonic() and (
                answered.campaign_state != CampaignState.RUNNING
                or answered.campaign_id in kept[0].get(answered.kind, frozenset())):
            return kept[0]
        if self._running_read is None:
            self._running_read = asyncio.get_running_loop().create_task(self._read_running())
            self._running_read.add_done_callback(self._running_read_done)
        return await asyncio.shield(self._running_read)

    async def _read_running(self) -> dict[CampaignKind, frozenset[int]]:
        by_kind: dict[CampaignKind, set[int]] = {}
        for c in await self.store.campaigns.running():
            by_kind.setdefault(c.kind, set()).add(c.id)
        found = {k: frozenset(ids) for k, ids in by_kind.items()}
        self._running = (found, self.clock.monotonic() + _RUNNING_CACHE_SECONDS)
        return found

    def _running_read_done(self, task: asyncio.Task[dict[CampaignKind, frozenset[int]]]) -> None:
        self._running_read = None
        if not task.cancelled():
            task.exception()  # retrieved: the answers awaiting it got it (none may be left to)

    def _alert(self, status: Status, result: AnswerResult, details: ReplyDetails) -> None:
        """Tells the head about a need_help just stored (`result.target`: as read before it)."""
        if status != Status.NEED_HELP or not result.recorded:
            return
        t = result.target
        # back to "help" from another answer (無事 since, the request still open): a new alert, not a
        # follow-up: the head may have set the household aside when it said it was safe
        if result.help_opened or t.status in _SET_ASIDE:
            self._spawn(self._notify(t.campaign_id, t.household_id, follow_up=False))
        elif not details.empty:
            # more words from a household already on the list: tell the head what changed
            self._spawn(self._notify(t.campaign_id, t.household_id, follow_up=True))

    async def read(self, target: str | ReplyTarget, channel: ReplyChannel | str) -> AnswerResult:
        """Records that the page was opened or the push shown: never an answer, never a downgrade."""
        t = await self._target(target)
        # already read or answered: nothing to add; a cancelled campaign's notice opened (a push shown)
        # is no sign of life about a question it no longer asks
        if t.status not in (Status.PENDING, Status.NOTIFIED, Status.UNREACHABLE) or (
                t.campaign_state == CampaignState.CANCELLED):
            return AnswerResult(t, str(Status.READ), recorded=False)
        key = f"read:{t.campaign_id}:{t.household_id}"
        return await self._record(t, str(Status.READ), str(channel), key, NO_DETAILS)

    async def note(self, target: str | ReplyTarget, text: str, channel: ReplyChannel | str, dedupe_key: str) -> AnswerResult:
        """Keeps words that are not an answer (an SMS without a keyword, a call without a key)."""
        t = await self._target(target)
        return await self._record(t, NOTE, str(channel), dedupe_key, ReplyDetails(note=clip_note(text)))

    # -- staff -------------------------------------------------------------------------------

    async def confirm_in_person(
        self,
        viewer: Viewer,
        campaign_id: int,
        household_id: int,
        method: InPersonMethod | str,
        note: str | None = None,
        dedupe_key: str | None = None,
    ) -> AnswerResult:
        """A head, deputy (own association), district head (own district) or city admin saw them."""
        how = InPersonMethod(method)
        await self._in_scope(viewer, campaign_id, household_id)
        target = await self.store.replies.target(campaign_id, household_id)
        if target is None or target.campaign_state not in (CampaignState.RUNNING, CampaignState.CLOSED):
            raise NotFound("no such household in this campaign")
        if target.kind == CampaignKind.CHECK:
            raise NoSafetyQuestion("a contact check takes no in-person confirmation: it asks no one whether they are safe")
        await self._not_erased(campaign_id)
        key = f"staff:{campaign_id}:{household_id}:{dedupe_key or new_key()}"
        item = self._item(target, str(Status.CONFIRMED_IN_PERSON), str(ReplyChannel.STAFF), key,
                          ReplyDetails(note=clip_note(note)))
        item = dataclasses.replace(item, method=str(how), staff_id=viewer.staff_id, actor=viewer.login or None)
        outcome = await self.store.replies.record(item)
        if not outcome.duplicate:
            self.metrics.reply(item.channel, item.status)
        log.info("reply_confirmed_in_person", campaign_id=campaign_id, household_id=household_id,
                 method=str(how), duplicate=outcome.duplicate)
        return AnswerResult(target, item.status, recorded=not outcome.duplicate,
                            reply_id=await self.store.replies.reply_id(key))

    async def _not_erased(self, campaign_id: int) -> None:
        campaign = await self.store.campaigns.get(campaign_id)
        if campaign is not None and campaign.purged_at is not None:
            raise Erased("this campaign's notes and answers were erased by retention: it takes no more"
                         " in-person confirmations or help marks")

    async def undo_in_person(self, viewer: Viewer, campaign_id: int, household_id: int,
                             reply_id: int | None, dedupe_key: str | None = None) -> UndoOutcome:
        """Takes back in-person confirmation `reply_id` (a wrong tap): the household's earlier status
        comes back, and the history keeps both, with who undid it. Anyone who may confirm the
        household may undo.

        Raises NotFound (no such household or confirmation in scope), ReplyError (`reply_id` is
        None: not an id) or `UndoRefused` (an answer came after the confirmation). With `dedupe_key`
        (a text's message id), a second undo under it takes nothing back (`already`).
        """
        await self._in_scope(viewer, campaign_id, household_id)
        target = await self.store.replies.target(campaign_id, household_id)
        if target is None or target.campaign_state not in (CampaignState.RUNNING, CampaignState.CLOSED):
            raise NotFound("no such household in this campaign")
        if reply_id is None:
            raise ReplyError("reply_id must be the id of the confirmation to take back")
        await self._not_erased(campaign_id)
        key = f"undo:{campaign_id}:{household_id}:{dedupe_key}" if dedupe_key is not None else None
        outcome = await self.store.replies.undo_confirmation(campaign_id, household_id, reply_id, viewer.staff_id,
                                                             viewer.login or None, key)
        if outcome is None:
            raise NotFound("no such in-person confirmation of this household")
        log.info("reply_in_person_undone", campaign_id=campaign_id, household_id=household_id, reply_id=reply_id,
                 status=str(outcome.status), already=outcome.already)
        return outcome

    async def mark_handled(self, viewer: Viewer, campaign_id: int, household_id: int,
                           dedupe_key: str | None = None) -> bool:
        """Takes a household off the open help list; False if it was handled already, or by the text
        of `dedupe_key` (a message id) before (its retry leaves a request reopened since open).

        Raises NotFound when the household is out of scope or never asked for help, Erased when
        retention purged the campaign (its help lists name nobody: a mark there is no one's to see).
        """
        await self._in_scope(viewer, campaign_id, household_id)
        await self._not_erased(campaign_id)
        done = await self.store.replies.mark_handled(campaign_id, household_id, viewer.staff_id, viewer.login,
                                                     dedupe_key)
        if done is None:
            raise NotFound("this household has not asked for help")
        log.info("help_handled", campaign_id=campaign_id, household_id=household_id, changed=done)
        await self._help_alike(viewer, campaign_id, household_id, handled=True, dedupe_key=dedupe_key)
        return done

    async def reopen_help(self, viewer: Viewer, campaign_id: int, household_id: int) -> bool:
        """Puts a household marked handled back on the open help list (the undo of a wrong tap);
        False if it was open already. A person takes back only their own mark (`UndoRefused`
        otherwise); an API token, acting for the city, any.

        Raises NotFound when the household is out of scope or never asked for help, Erased as
        `mark_handled`.
        """
        await self._in_scope(viewer, campaign_id, household_id)
        await self._not_erased(campaign_id)
        own = None if viewer.token_id is not None else viewer.login
        done = await self.store.replies.reopen_help(campaign_id, household_id, marked_by=own)
        if done is None:
            raise NotFound("this household has not asked for help")
        # the row forgets who had marked it handled: the log keeps who took that back
        log.info("help_reopened", campaign_id=campaign_id, household_id=household_id, changed=done,
                 staff_id=viewer.staff_id)
        await self._help_alike(viewer, campaign_id, household_id, handled=False)
        return done

    async def _help_alike(self, viewer: Viewer, campaign_id: int, household_id: int, handled: bool,
                          dedupe_key: str | None = None) -> None:
        """Marks handled (`handled`) or reopens the household's help requests in its other running
        campaigns of the same kind too, as staff just did in `campaign_id`: a call for help is shared
        with them (`_share`, `domain.replies.shared_with`), so one "handled" is the household's, not one
        campaign's. QA: a head marked it handled from the city-wide event's alert; the association's
        event kept it open and, after `help_escalate_minutes`, told the district heads of an unhandled
        call for help that was handled. Each by the same viewer, under the same rules (scope; a person
        reopens only their own mark) and logged as the original; one not taken (never asked there, out
        of scope, someone else's mark, a store error) leaves the others and the original as they are.
        Reads as `_share` does: the household's running campaigns only when another of the kind runs."""
        try:
            t = await self.store.replies.target(campaign_id, household_id)
            if t is None or not may_share(t, (await self._running_of(t)).get(t.kind, frozenset())):
                return
            others = shared_with(t, await self.store.replies.running_targets_of(household_id))
        except Exception:  # the original stands; the staff member is told of it as before
            log.exception("help_mark_not_shared", campaign_id=campaign_id, household_id=household_id)
            return
        own = None if viewer.token_id is not None else viewer.login
        for o in others:
            try:
                await self._in_scope(viewer, o.campaign_id, household_id)
                if handled:
                    done = await self.store.replies.mark_handled(o.campaign_id, household_id, viewer.staff_id,
                                                                 viewer.login, dedupe_key)
                else:
                    done = await self.store.replies.reopen_help(o.campaign_id, household_id, marked_by=own)
            except (NotFound, UndoRefused) as e:  # not theirs to change there: it stays as it is
                log.info("help_mark_not_shared", campaign_id=o.campaign_id, from_campaign=campaign_id,
                         household_id=household_id, handled=handled, reason=str(e))
                continue
            except Exception as e:  # a store error: the others and the original still stand
                log.warning("help_mark_not_shared", campaign_id=o.campaign_id, from_campaign=campaign_id,
                            household_id=household_id, handled=handled, error=repr(e))
                continue
            if done is None:  # the household never asked for help in that campaign
                continue
            if handled:
                log.info("help_handled", campaign_id=o.campaign_id, household_id=household_id, changed=done,
                         from_campaign=campaign_id)
            else:
                log.info("help_reopened", campaign_id=o.campaign_id, household_id=household_id, changed=done,
                         staff_id=viewer.staff_id, from_campaign=campaign_id)

    async def _in_scope(self, viewer: Viewer, campaign_id: int, household_id: int) -> None:
        ref = await self.store.replies.household_ref(campaign_id, household_id)
        if ref is None or not viewer.sees(ref.district, ref.association):
            raise NotFound("no such household in this campaign")

    # -- internals ---------------------------------------------------------------------------

    def _item(self, t: ReplyTarget, status: str, channel: str, key: str, details: ReplyDetails) -> ReplyItem:
        return ReplyItem(t.campaign_id, t.household_id, t.association_id, status, channel, key,
                         self.clock.now(), details)

    async def _record(self, t: ReplyTarget, status: str, channel: str, key: str, details: ReplyDetails) -> AnswerResult:
        outcome: RecordOutcome = await self.store.replies.record(self._item(t, status, channel, key, details))
        return self._recorded(t, status, channel, outcome)

    def _recorded(self, t: ReplyTarget, status: str, channel: str, outcome: RecordOutcome) -> AnswerResult:
        if not outcome.duplicate:
            self.metrics.reply(channel, status)
        # Only the rare replies are logged: a line per "safe" would cost the hot path more than the
        # database write (the replies table is the record of every answer).
        if not outcome.duplicate and status in _LOGGED:
            log.info("reply_received", campaign_id=t.campaign_id, household_id=t.household_id,
                     status=status, channel=channel)
        return AnswerResult(t, status, recorded=not outcome.duplicate, help_opened=outcome.help_opened)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _notify(self, campaign_id: int, household_id: int, follow_up: bool) -> None:
        if self.notifier is None:
            return
        key = (campaign_id, household_id)
        self._notifying[key] = self._notifying.get(key, 0) + 1
        try:
            await self.notifier.need_help(campaign_id, household_id, follow_up=follow_up)
        except Exception:
            log.exception("help_notify_failed", campaign_id=campaign_id, household_id=household_id)
        finally:
            self._done_notifying(key)


"""The live hub: one poller per campaign reads the counters and fans out to every subscriber.

Dashboards never query per event. A poller wakes every `poll_seconds` (or at once when poked),
reads the campaign's counters, open help requests and the replies since its cursor (a rowid range:
cheap; each change says whether a reply carried a household's note), and when anything moved hands
each subscriber a view filtered to its associations.
Views are encoded once per distinct filter per tick, so 200 dashboards cost a handful of encodes.
Subscribers that ask for it (the city overview) also get each association's door-knock count: read
once a tick at most, and only while such a subscriber listens.

A subscriber's queue is bounded; a client too slow to drain it is told to go (`None`), and its
browser reconnects with Last-Event-ID and catches up (see `catch_up`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import structlog

from safetynet.clock import Clock
from safetynet.domain import ALL_STATUSES, ANSWERED
from safetynet.domain.replies import Change
from safetynet.domain.shares import share
from safetynet.store.ports import DashboardReads

log = structlog.get_logger("stats")

# Replies read per tick before the poller gives up and tells clients to reload their lists.
# 2,000 replies/s × 0.5 s ticks stays well under it.
MAX_CHANGES_PER_TICK = 5_000
# A reconnecting client further behind than this many replies reloads instead of catching up.
MAX_CATCH_UP = 5_000
# Ticks with no subscriber before a poller stops (reconnecting clients keep it warm).
IDLE_TICKS = 20
# Between full recounts the poller updates open-help counts only where the reply store said they
# moved; the full recount catches changes made by another process, and the escalations told (no reply
# moves them: a help card shows its escalation this long after it was told, at most).
HELP_RECOUNT_SECONDS = 10.0
# Recounting a few associations reads their households; past this many, reading the campaign's open
# help list once (it is indexed) costs less.
HELP_FEW_ASSOCIATIONS = 20
# The door-knock list grows when the ladder's last step runs (in the broadcast process: no reply of
# this one wakes the poller) and shrinks when one on it answers. Counted again in a tick where counts
# or households moved, else this often, for the step that moved no counter (notified households).
DOORKNOCK_RECOUNT_SECONDS = 10.0
_STATUSES = tuple(str(s) for s in ALL_STATUSES)

Filter = frozenset[int] | None  # association ids a subscriber may see; None = all
DoorknockCounts = Callable[[int], Awaitable[dict[int, int]]]  # campaign id -> households on the list per association


@dataclass(frozen=True)
class Snapshot:
    seq: int  # reply cursor: every reply with id <= seq is reflected
    campaign: dict[str, Any]
    counts: dict[int, dict[str, int]]
    help_open: dict[int, int]
    changed: tuple[Change, ...] = ()
    moved: frozenset[int] = frozenset()  # associations whose counts or help count changed
    reset: bool = False  # too many changes to list: clients reload their lists
    by_association: dict[int, list[list[Any]]] = field(default_factory=dict)  # `changed`, grouped
    doorknock: dict[int, int] | None = None  # per association; None: not read (no subscriber asked)
    escalated: dict[int, float] = field(default_factory=dict)  # per association: its latest escalation told

    def __post_init__(self) -> None:
        for c in self.changed:
            self.by_association.setdefault(c.association_id, []).append(_row(c))


def _row(c: Change) -> list[Any]:
    return [c.household_id, c.association_id, c.status, c.reply_id, int(c.noted)]


def _rate(status: dict[str, int], households: int) -> float:
    return share(sum(status[str(s)] for s in ANSWERED), households)


def view(snap: Snapshot, aids: Filter, *, full: bool, changed: Iterable[Change] | None = None,
         reset: bool | None = None, doorknock: bool = False) -> dict[str, Any]:
    """The event payload for one subscriber: totals of its associations, the associations that
    moved (all of them when `full`), and the household changes it may see; with `doorknock` (and
    the counts read), each listed association's door-knock count and their total.

    Costs the size of the subscriber's filter, not of the city: 200 one-association dashboards
    of a 1,000-association campaign are 200 small views a tick."""
    visible = list(snap.counts) if aids is None else [a for a in aids if a in snap.counts]
    total = dict.fromkeys(_STATUSES, 0)
    for a in visible:
        for k, v in snap.counts[a].items():
            total[k] += v
    households = sum(total.values())
    listed = visible if full else [a for a in visible if a in snap.moved]
    assoc = {
        str(a): {"households": sum(snap.counts[a].values()), "status": snap.counts[a],
                 "answered_rate": _rate(snap.counts[a], sum(snap.counts[a].values())),
                 "need_help_open": snap.help_open.get(a, 0), "escalated_at": snap.escalated.get(a)}
        for a in listed
    }
    knock = snap.doorknock if doorknock else None
    if knock is not None:
        for a in listed:
            assoc[str(a)]["doorknock"] = knock.get(a, 0)
    if changed is not None:
        allowed = set(visible)
        items = [_row(c) for c in changed if c.association_id in allowed]
    elif aids is None:
        items = [row for rows in snap.by_association.values() for row in rows]
    else:
        items = [row for a in visible for row in snap.by_association.get(a, ())]
    doc = {
        "campaign": snap.campaign, "households": households, "status": total,
        "answered_rate": _rate(total, households),
        "need_help_open": sum(snap.help_open.get(a, 0) for a in visible),
        "escalated_at": max((snap.escalated[a] for a in visible if a in snap.escalated), default=None),
        "associations": assoc, "full": full, "changed": items,
        "reset": snap.reset if reset is None else reset,
    }
    if knock is not None:
        doc["doorknock"] = sum(knock.get(a, 0) for a in visible)
    return doc


@dataclass(eq=False)
class Subscription:
    campaign_id: int
    aids: Filter
    queue: asyncio.Queue[tuple[int, str] | None]
    doorknock: bool = False  # wants the door-knock counts (the city overview)
    dropped: bool = False


@dataclass(eq=False)
class _Poller:
    campaign_id: int
    subs: set[Subscription] = field(default_factory=set)
    help_dirty: set[int] = field(default_factory=set)  # associations whose open help count moved
    doorknock_read_at: float = 0.0
    poked: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class LiveHub:
    def __init__(self, reads: DashboardReads, clock: Clock,
                 poll_seconds: float = 1.0, queue_size: int = 32, heartbeat_seconds: float = 15.0,
                 min_interval_seconds: float = 0.5, overlap: int = 0,
                 doorknock_counts: DoorknockCounts | None = None) -> None:
        """`overlap`: how many reply ids below the cursor may still commit (0 on SQLite, whose one
        writer commits ids in order; several writers on PostgreSQL commit a batch's ids out of
        order). Each tick re-reads that many and passes on only the household changes not yet
        passed on, so an answer that commits late still reaches every dashboard.
        `doorknock_counts`: the campaign store's grouped count (None: no subscriber gets them)."""
        self.reads = reads
        self.doorknock_counts = doorknock_counts
        self.overlap = max(0, overlap)
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.min_interval_seconds = min(min_interval_seconds, poll_seconds)
        self.queue_size = queue_size
        # used by the HTTP side: an idle stream's ping, and how long a stream, idle or busy, goes on before
        # its viewer's credential is checked again (by `clock`)
        self.heartbeat_seconds = heartbeat_seconds
        self._pollers: dict[int, _Poller] = {}
        self._closed = False

    @property
    def subscribers(self) -> int:
        return sum(len(p.subs) for p in self._pollers.values())

    async def subscribe(self, campaign_id: int, aids: Filter, *, doorknock: bool = False) -> Subscription:
        """Registers a subscriber (starting the campaign's poller if needed). Call `catch_up` next.
        With `doorknock` its events carry the door-knock counts (the poller reads them while it listens)."""
        if self._closed:
            raise RuntimeError("live hub is closed")
        poller = self._pollers.get(campaign_id)
        if poller is None or poller.task is None or poller.task.done():
            poller = _Poller(campaign_id)
            self._pollers[campaign_id] = poller
            poller.task = asyncio.get_running_loop().create_task(self._run(poller), name=f"live-{campaign_id}")
        sub = Subscription(campaign_id, aids, asyncio.Queue(maxsize=self.queue_size),
                           doorknock=doorknock and self.doorknock_counts is not None)
        poller.subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        poller = self._pollers.get(sub.campaign_id)
        if poller is not None:
            poller.subs.discard(sub)

    def poke(self, campaign_id: int) -> None:
        """Something changed in this campaign (a commit of replies): poll now rather than at the next tick."""
        poller = self._pollers.get(campaign_id)
        if poller is not None:
            poller.poked.set()

    def on_replies(self, event: Any) -> None:
        """A `ReplyStore` listener: pokes every campaign a committed batch touched and notes whose
        help list moved (the poller recounts only those)."""
        campaigns = {t.campaign_id for t in getattr(event, "transitions", ())}
        for campaign_id, association_id in getattr(event, "help_changed", ()):
            campaigns.add(campaign_id)
            poller = self._pollers.get(campaign_id)
            if poller is not None:
                poller.help_dirty.add(association_id)
        for campaign_id in campaigns:
            self.poke(campaign_id)

    async def catch_up(self, sub: Subscription, since: int | None) -> tuple[int, dict[str, Any]]:
        """The first event of a (re)connecting subscriber, read fresh for its associations only (not
        the poller's last tick): a full view plus the households that changed after `since` (its
        Last-Event-ID), or `reset` when it is too far behind. Returns the event's cursor; queued
        ticks older than it are stale."""
        seq = await self.reads.reply_cursor()
        too_far = since is not None and seq - since > MAX_CATCH_UP  # reply ids are dense: the gap bounds the work
        cursor = seq if since is None or too_far else max(0, min(since, seq) - self.overlap)
        snap = await self._read(sub.campaign_id, sub.aids, cursor, None)
        if sub.doorknock and self.doorknock_counts is not None:
            snap = _with_doorknock(snap, await self.doorknock_counts(sub.campaign_id), snap.moved)
        return snap.seq, view(snap, sub.aids, full=True, changed=() if too_far else None,
                              reset=True if too_far else None, doorknock=sub.doorknock)

    def disconnect(self, campaign_id: int) -> int:
        """Tells every subscriber of a campaign to reconnect (they resume from their Last-Event-ID)."""
        poller = self._pollers.get(campaign_id)
        subs = list(poller.subs) if poller else []
        for sub in subs:
            _kick(sub)
        return len(subs)

    async def close(self) -> None:
        """Stops every poller and tells every subscriber to go (the server is shutting down)."""
        self._closed = True
        for poller in list(self._pollers.values()):
            for sub in list(poller.subs):
                _kick(sub)
            if poller.task is not None:
                poller.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await poller.task
        self._pollers.clear()

    # -- the poller ---------------------------------------------------------------

    async def _run(self, poller: _Poller) -> None:
        idle = 0
        try:
            cursor = await self.reads.reply_cursor()
            prev: Snapshot | None = None
            help_read_at = 0.0
            passed_on: dict[tuple[int, int], int] = {}  # (household, reply) -> reply id, within the overlap
            while idle < IDLE_TICKS:
                help_open = None
                if prev is not None and self.clock.monotonic() - help_read_at < HELP_RECOUNT_SECONDS:
                    help_open = dict(prev.help_open)
                    dirty, poller.help_dirty = poller.help_dirty, set()
                    if len(dirty) > HELP_FEW_ASSOCIATIONS:  # a surge: one pass over the open help list is cheaper
                        help_open = await self.reads.open_help_counts(poller.campaign_id)
                    elif dirty:  # only where the reply store said the help list moved
                        help_open.update(await self.reads.open_help_counts(poller.campaign_id, dirty))
                else:
                    help_read_at = self.clock.monotonic()
                snap = await self._read(poller.campaign_id, None, max(0, cursor - self.overlap), help_open, prev)
                if self.overlap:
                    snap = self._new_only(snap, passed_on)
                cursor = snap.seq
                if help_open is not None and snap.changed:
                    snap = await self._recount_help(poller.campaign_id, snap, prev)
                if any(s.doorknock for s in poller.subs):
                    snap = await self._count_doorknock(poller, snap, prev)
                if prev is None or snap.moved or snap.changed or snap.reset or snap.campaign != prev.campaign:
                    self._publish(poller, snap)
                prev = snap
                idle = 0 if poller.subs else idle + 1
                await self._wait(poller)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("live_poller_failed", campaign_id=poller.campaign_id)
        finally:
            if self._pollers.get(poller.campaign_id) is poller:
                del self._pollers[poller.campaign_id]
            for sub in list(poller.subs):  # whoever joined as it stopped reconnects to a new poller
                _kick(sub)

    async def _recount_help(self, campaign_id: int, snap: Snapshot, prev: Snapshot | None) -> Snapshot:
        """Open help counts again where households changed: answers taken by another process move
        help lists too, and no listener of this process heard of them."""
        aids = {c.association_id for c in snap.changed}
        if len(aids) > HELP_FEW_ASSOCIATIONS:
            help_open = await self.reads.open_help_counts(campaign_id)
        else:
            help_open = {**snap.help_open, **await self.reads.open_help_counts(campaign_id, aids)}
        if help_open == snap.help_open:
            return snap
        moved = snap.moved | {a for a in aids if help_open.get(a) != (prev.help_open.get(a) if prev else None)}
        return Snapshot(snap.seq, snap.campaign, snap.counts, help_open, snap.changed, frozenset(moved), snap.reset,
                        escalated=snap.escalated)

    async def _count_doorknock(self, poller: _Poller, snap: Snapshot, prev: Snapshot | None) -> Snapshot:
        """The snapshot with the door-knock counts: read again (one grouped query) when this tick saw
        anything move or the last read is old, else the last tick's."""
        assert self.doorknock_counts is not None  # no subscriber asks without them (`subscribe`)
        now = self.clock.monotonic()
        if (prev is None or prev.doorknock is None or snap.moved or snap.changed or snap.reset
                or snap.campaign != prev.campaign or now - poller.doorknock_read_at >= DOORKNOCK_RECOUNT_SECONDS):
            poller.doorknock_read_at = now
            doorknock = await self.doorknock_counts(poller.campaign_id)
        else:
            doorknock = prev.doorknock
        return _with_doorknock(snap, doorknock, _doorknock_moved(snap, prev, doorknock))

    def _new_only(self, snap: Snapshot, passed_on: dict[tuple[int, int], int]) -> Snapshot:
        """The snapshot with only the changes not passed on before (the overlap re-reads some)."""
        fresh = tuple(c for c in snap.changed if (c.household_id, c.reply_id) not in passed_on)
        for c in fresh:
            passed_on[(c.household_id, c.reply_id)] = c.reply_id
        floor = snap.seq - self.overlap
        for key in [k for k, rid in passed_on.items() if rid <= floor]:
            del passed_on[key]
        if len(fresh) == len(snap.changed):
            return snap
        return Snapshot(snap.seq, snap.campaign, snap.counts, snap.help_open, fresh, snap.moved, snap.reset,
                        escalated=snap.escalated)

    async def _read(self, campaign_id: int, aids: Filter, cursor: int, help_open: dict[int, int] | None,
                    prev: Snapshot | None = None) -> Snapshot:
        """Counters, open help and escalations (unless help is given: then the last tick's escalations) and
        replies after `cursor`, of `aids` (None: all)."""
        seq = await self.reads.reply_cursor()
        info = await self.reads.campaign(campaign_id)
        # `paused`: a drill held while a real event runs (the page says 一時停止中 beside 実施中)
        campaign = {**info.as_dict(), "paused": info.paused} if info else {"id": campaign_id, "state": "gone"}
        counts = await self.reads.counts(campaign_id, aids)
        escalated = prev.escalated if prev is not None else {}
        if help_open is None:
            # an escalation is told by whichever process checks (replies.escalate), and changes no count: read
            # with the full recount, which is there for what other processes change
            help_open = await self.reads.open_help_counts(campaign_id, aids)
            escalated = await self.reads.escalations_told(campaign_id, aids)
        changes = await self.reads.changes_since(campaign_id, cursor, seq, MAX_CHANGES_PER_TICK, aids)
        reset = len(changes) > MAX_CHANGES_PER_TICK
        if prev is None:
            moved = frozenset(counts)
        else:
            moved = frozenset(a for a in set(counts) | set(prev.counts)
                              if counts.get(a) != prev.counts.get(a) or help_open.get(a) != prev.help_open.get(a)
                              or escalated.get(a) != prev.escalated.get(a))
        return Snapshot(seq, campaign, counts, help_open, () if reset else tuple(changes), moved, reset,
                        escalated=escalated)

    def _publish(self, poller: _Poller, snap: Snapshot) -> None:
        encoded: dict[tuple[Filter, bool], str] = {}
        for sub in list(poller.subs):
            key = (sub.aids, sub.doorknock)
            data = encoded.get(key)
            if data is None:
                data = encoded[key] = json.dumps(view(snap, sub.aids, full=False, doorknock=sub.doorknock),
                                                 ensure_ascii=False)
            try:
                sub.queue.put_nowait((snap.seq, data))
            except asyncio.QueueFull:
                log.info("live_subscriber_dropped", campaign_id=poller.campaign_id)
                _kick(sub)

    async def _wait(self, poller: _Poller) -> None:
        # However busy the campaign, at most one poll per `min_interval_seconds`; a poke (a commit of
        # replies) ends the rest of the wait early, so answers show well within a second.
        await self.clock.sleep(self.min_interval_seconds)
        if not poller.poked.is_set():
            poke = asyncio.ensure_future(poller.poked.wait())
            tick = asyncio.ensure_future(self.clock.sleep(max(0.0, self.poll_seconds - self.min_interval_seconds)))
            try:
                await asyncio.wait({poke, tick}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                poke.cancel()
                tick.cancel()
        poller.poked.clear()


def _doorknock_moved(snap: Snapshot, prev: Snapshot | None, doorknock: dict[int, int]) -> frozenset[int]:
    """`snap.moved` and the associations whose door-knock count changed since the last tick that
    read them (none when none did: whoever asks for them now got all of them on connecting)."""
    if prev is None or prev.doorknock is None:
        return snap.moved
    before = prev.doorknock
    return snap.moved | {a for a in set(doorknock) | set(before) if doorknock.get(a, 0) != before.get(a, 0)}


def _with_doorknock(snap: Snapshot, doorknock: dict[int, int], moved: frozenset[int]) -> Snapshot:
    return Snapshot(snap.seq, snap.campaign, snap.counts, snap.help_open, snap.changed, moved, snap.reset,
                    doorknock=doorknock, escalated=snap.escalated)


def _kick(sub: Subscription) -> None:
    """Empties a subscriber's queue and leaves only the "go away" marker."""
    sub.dropped = True
    while not sub.queue.empty():
        sub.queue.get_nowait()
    sub.queue.put_nowait(None)

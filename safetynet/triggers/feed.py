"""Polite poller of the JMA Atom feed (e.g. .../developer/xml/feed/eqvol.xml).

Polite: at most one feed request per interval (never under 60 s), conditional requests
(If-None-Match / If-Modified-Since), Retry-After honoured, longer waits after errors, only the
telegram kinds that can start a campaign fetched, one at a time, from the feed's own host.
Time comes from a `Clock`, so a test drives the loop with `FakeClock.advance`.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import aiohttp
import structlog

from safetynet.clock import Clock
from safetynet.domain.triggers import Decision, TriggerInputError
from safetynet.store.errors import StoreError
from safetynet.triggers.xmlsafe import MAX_BODY_BYTES, parse_time, parse_xml, split_tag, text_of

log = structlog.get_logger("triggers.feed")

ATOM_NS = "http://www.w3.org/2005/Atom"
_NS = {"a": ATOM_NS}
MIN_POLL_SECONDS = 60.0  # JMA asks clients not to poll more often than once a minute
MAX_BACKOFF_SECONDS = 900.0
MAX_FEED_BYTES = 4 * 1024 * 1024  # the short feed is ~100 KB; the long one a few MB
REQUEST_TIMEOUT_SECONDS = 30.0
USER_AGENT = "SafetyNet-trigger-poller/0.1 (safety confirmation for a city; polls once a minute)"
# Entry titles of the telegrams the rules act on; others are never downloaded.
WANTED_TITLES = frozenset({"震度速報", "震源・震度に関する情報", "津波警報・注意報・予報a"})
_SEEN_LIMIT = 5000

Ingest = Callable[[bytes, str], Awaitable[Decision]]


@dataclass(frozen=True)
class FeedEntry:
    id: str
    title: str
    updated: float
    url: str


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    etag: str | None
    last_modified: str | None
    retry_after: float | None


@dataclass
class PollResult:
    status: int  # HTTP status of the feed request; 0 when it failed before an answer
    new_entries: int = 0
    decisions: list[Decision] = field(default_factory=list)
    error: str = ""
    next_poll_seconds: float = MIN_POLL_SECONDS


def parse_feed(body: bytes, base_url: str) -> list[FeedEntry]:
    """Entries of an Atom feed, oldest first; TriggerInputError when it is not one."""
    root = parse_xml(body, "Atom feed", limit=MAX_FEED_BYTES)
    if split_tag(root.tag) != (ATOM_NS, "feed"):
        raise TriggerInputError(f"not an Atom feed: the root is {root.tag!r}")
    entries = []
    for el in root.iterfind("a:entry", _NS):
        link = next((ln.get("href", "") for ln in el.iterfind("a:link", _NS) if ln.get("rel", "alternate") != "self"), "")
        entry_id = text_of(el, "a:id", _NS) or link
        try:
            updated = parse_time(text_of(el, "a:updated", _NS), "Atom entry updated")
        except TriggerInputError:
            updated = 0.0
        if link and entry_id:
            entries.append(FeedEntry(entry_id, text_of(el, "a:title", _NS), updated, urljoin(base_url, link)))
    entries.sort(key=lambda e: e.updated)
    return entries


def _same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.netloc) == (pb.scheme, pb.netloc)


def _retry_after(value: str | None) -> float | None:
    if value and value.strip().isdigit():
        return float(value.strip())
    return None


class FeedPoller:
    def __init__(
        self,
        ingest: Ingest,
        session: aiohttp.ClientSession,
        url: str,
        clock: Clock,
        interval_seconds: float = MIN_POLL_SECONDS,
        on_result: Callable[[PollResult], None] | None = None,
        timeout_seconds: float = REQUEST_TIMEOUT_SECONDS,
    ) -> None:
        self.ingest = ingest
        self.session = session
        self.url = url
        self.clock = clock
        self.interval = max(MIN_POLL_SECONDS, float(interval_seconds))
        self.on_result = on_result
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self.etag: str | None = None
        self.last_modified: str | None = None
        self.failures = 0
        self._seen: OrderedDict[str, None] = OrderedDict()

    def _conditional_headers(self) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/atom+xml, application/xml"}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers

    async def _get(self, url: str, headers: dict[str, str], limit: int) -> _Answer:
        async with self.session.get(url, headers=headers, timeout=self.timeout, allow_redirects=False) as resp:
            chunks: list[bytes] = []
            size = 0
            if resp.status == 200:
                # read in chunks so an endless or huge answer is cut off at the limit
                async for chunk in resp.content.iter_chunked(64 * 1024):
                    size += len(chunk)
                    if size > limit:
                        raise TriggerInputError(f"{url}: larger than {limit} bytes")
                    chunks.append(chunk)
            body = b"".join(chunks)
            h = resp.headers
            return _Answer(resp.status, body, h.get("ETag"), h.get("Last-Modified"), _retry_after(h.get("Retry-After")))

    def _backoff(self) -> float:
        self.failures += 1
        return min(MAX_BACKOFF_SECONDS, self.interval * 2 ** min(self.failures, 6))

    async def poll_once(self) -> PollResult:
        try:
            answer = await self._get(self.url, self._conditional_headers(), MAX_FEED_BYTES)
        except (aiohttp.ClientError, TimeoutError, TriggerInputError) as e:
            why = f"{type(e).__name__}: {e}"[:200]
            log.warning("trigger_feed_failed", error=why)
            return PollResult(0, error=why, next_poll_seconds=self._backoff())
        if answer.status == 304:
            self.failures = 0
            return PollResult(304, next_poll_seconds=self.interval)
        if answer.status != 200:
            wait = answer.retry_after
            nxt = min(4 * MAX_BACKOFF_SECONDS, max(self.interval, wait)) if wait is not None else self._backoff()
            log.warning("trigger_feed_http_error", status=answer.status, next_poll_seconds=nxt)
            return PollResult(answer.status, error=f"HTTP {answer.status}", next_poll_seconds=nxt)
        try:
            entries = parse_feed(answer.body, self.url)
        except TriggerInputError as e:
            log.warning("trigger_feed_unreadable", error=str(e)[:200])
            return PollResult(200, error=str(e)[:200], next_poll_seconds=self._backoff())
        self.failures = 0
        result = PollResult(200, next_poll_seconds=self.interval)
        every = True
        for entry in entries:
            if entry.id in self._seen:
                continue
            result.new_entries += 1
            if await self._take(entry, result):
                self._remember(entry.id)
            else:
                every = False
        if every:  # kept only then: with an entry to try again, the next poll asks for the whole feed, not a 304
            self.etag = answer.etag or self.etag
            self.last_modified = answer.last_modified or self.last_modified
        return result

    def _remember(self, entry_id: str) -> None:
        self._seen[entry_id] = None
        while len(self._seen) > _SEEN_LIMIT:
            self._seen.popitem(last=False)

    async def _take(self, entry: FeedEntry, result: PollResult) -> bool:
        """Fetches and ingests one entry; False when it should be tried again on the next poll."""
        if entry.title not in WANTED_TITLES:
            return True
        if not _same_origin(entry.url, self.url):
            log.warning("trigger_feed_link_refused", url=entry.url[:200])
            return True
        try:
            answer = await self._get(entry.url, {"User-Agent": USER_AGENT}, MAX_BODY_BYTES)
            if answer.status != 200:
                log.warning("trigger_telegram_http_error", status=answer.status, url=entry.url[:200])
                return False
            result.decisions.append(await self.ingest(answer.body, entry.url))
        except TriggerInputError as e:
            log.warning("trigger_telegram_refused", url=entry.url[:200], error=str(e)[:200])
        except (aiohttp.ClientError, TimeoutError) as e:
            log.warning("trigger_telegram_fetch_failed", url=entry.url[:200], error=f"{type(e).__name__}: {e}"[:200])
            return False
        except StoreError as e:  # its decision not recorded (the store busy or gone a moment): the next poll
            log.warning("trigger_telegram_not_recorded", url=entry.url[:200], error=str(e)[:200])
            return False
        except Exception:  # a fault of ours with this one: logged, tried again on the next poll (a real event's
            # telegram is never given up on), and the entries after it still taken
            log.exception("trigger_telegram_failed", url=entry.url[:200])
            return False
        return True

    async def run(self) -> None:
        """Polls until cancelled."""
        while True:
            result = await self.poll_once()
            if self.on_result is not None:
                with contextlib.suppress(Exception):
                    self.on_result(result)
            await self.clock.sleep(result.next_poll_seconds)

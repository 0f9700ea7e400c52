"""Where telegrams come from: the JMA Atom feed (a small aiohttp feed server on loopback) and a watched folder.

Time is a FakeClock: the tests move it and await the poller's results, never sleep.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from conftest import DATA
from pg_helpers import on_test_store
from ports import free_port
from test_triggers_service import IWATE_MIYAGI, MemoryCampaigns

from safetynet.clock import FakeClock
from safetynet.config import Config, JmaConfig, TriggersConfig
from safetynet.domain.triggers import Decision, TriggerInputError
from safetynet.store import StoreUnavailable, open_store
from safetynet.triggers.feed import FeedPoller, PollResult, parse_feed
from safetynet.triggers.service import TriggerService
from safetynet.triggers.watch import WatchedFile
from safetynet.triggers.xmlsafe import MAX_BODY_BYTES

JMA = DATA / "jma"

TITLES = {"VXSE51": "震度速報", "VXSE52": "震源に関する情報", "VXSE53": "震源・震度に関する情報"}


class FeedServer:
    """JMA's feed as seen by a client: an Atom list of telegram links, ETag/Last-Modified, and the telegrams."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str]] = []  # (title, href), newest last
        self.etag = '"v1"'
        self.fail: tuple[int, dict[str, str]] | None = None
        self.feed_requests: list[dict[str, str]] = []
        self.fetched: list[str] = []
        self.hit = asyncio.Event()
        self.release = asyncio.Event()
        self.base = ""

    def add(self, name: str) -> None:
        kind = name.rsplit("_", 1)[1].removesuffix(".xml")
        self.entries.append((TITLES[kind], f"{self.base}/data/{name}"))

    def atom(self) -> bytes:
        items = "".join(
            f"<entry><title>{title}</title><id>{href}</id><updated>2008-06-13T23:{47 + i:02d}:00Z</updated>"
            f'<author><name>気象庁</name></author><link type="application/xml" href="{href}"/>'
            f'<content type="text/plain">【{title}】</content></entry>'
            for i, (title, href) in reversed(list(enumerate(self.entries)))
        )
        return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" lang="ja">'
                f"<title>高頻度（地震火山）</title><id>{self.base}/feed.xml</id>"
                f"<updated>2008-06-13T23:59:00Z</updated>{items}</feed>").encode()

    async def feed(self, request: web.Request) -> web.Response:
        self.feed_requests.append(dict(request.headers))
        self.hit.set()
        if self.fail is not None:
            return web.Response(status=self.fail[0], headers=self.fail[1])
        if request.headers.get("If-None-Match") == self.etag:
            return web.Response(status=304)
        return web.Response(body=self.atom(), content_type="application/atom+xml",
                            headers={"ETag": self.etag, "Last-Modified": "Fri, 13 Jun 2008 23:59:00 GMT"})

    async def data(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.fetched.append(name)
        if name == "huge.xml":
            return web.Response(body=b" " * (MAX_BODY_BYTES + 1), content_type="application/xml")
        return web.Response(body=(JMA / name).read_bytes(), content_type="application/xml")

    async def hang(self, request: web.Request) -> web.Response:
        self.hit.set()
        await self.release.wait()
        return web.Response(status=304)


@asynccontextmanager
async def feed_server() -> AsyncIterator[FeedServer]:
    fs = FeedServer()
    app = web.Application()
    app.router.add_get("/feed.xml", fs.feed)
    app.router.add_get("/data/{name}", fs.data)
    app.router.add_get("/slow.xml", fs.hang)
    async with TestServer(app, host="127.0.0.1") as srv:
        fs.base = str(srv.make_url("")).rstrip("/")
        try:
            yield fs
        finally:
            fs.release.set()


@asynccontextmanager
async def service(tmp_path: Path, **jma: object) -> AsyncIterator[tuple[TriggerService, MemoryCampaigns, FakeClock]]:
    settings: dict[str, object] = {"areas": ("213", "220"), "cities": ("0338100",), "min_intensity": "4"}
    settings.update(jma)
    cfg = Config(triggers=TriggersConfig(jma=JmaConfig(**settings)))  # type: ignore[arg-type]
    clock, port = FakeClock(IWATE_MIYAGI), MemoryCampaigns()
    store = await open_store(on_test_store(cfg), clock, path=tmp_path / "var" / "safetynet.db")
    try:
        yield TriggerService(store, cfg, port, clock), port, clock
    finally:
        await store.close()


async def test_feed_fetches_only_campaign_kinds_from_its_own_host_and_asks_conditionally(tmp_path: Path) -> None:
    async with feed_server() as fs, aiohttp.ClientSession() as session:
        fs.add("32-35_06_01_100915_VXSE52.xml")  # 震源に関する情報: never downloaded
        fs.add("32-35_06_03_100915_VXSE53.xml")
        fs.entries.append(("震度速報", "http://127.0.0.2:9/elsewhere.xml"))  # another host: refused
        async with service(tmp_path, feed_url=f"{fs.base}/feed.xml") as (svc, port, _):
            poller = svc.feed_poller(session)
            assert poller is not None
            first = await poller.poll_once()
            assert (first.status, first.new_entries) == (200, 3)
            assert [(d.decision, d.campaign) for d in first.decisions] == [("propose", 1)]
            assert fs.fetched == ["32-35_06_03_100915_VXSE53.xml"]
            assert "SafetyNet" in fs.feed_requests[0]["User-Agent"]

            second = await poller.poll_once()
            assert (second.status, second.decisions) == (304, [])
            assert fs.feed_requests[1]["If-None-Match"] == '"v1"'
            assert fs.feed_requests[1]["If-Modified-Since"] == "Fri, 13 Jun 2008 23:59:00 GMT"

            fs.add("32-35_06_05_100915_VXSE53.xml")
            fs.etag = '"v2"'
            third = await poller.poll_once()
            assert (third.new_entries, [d.decision for d in third.decisions]) == (1, ["update"])
            assert fs.fetched == ["32-35_06_03_100915_VXSE53.xml", "32-35_06_05_100915_VXSE53.xml"]
            assert len(port.campaigns) == 1


async def test_feed_loop_never_polls_faster_than_once_a_minute(tmp_path: Path) -> None:
    async with feed_server() as fs, aiohttp.ClientSession() as session:
        fs.add("32-35_06_03_100915_VXSE53.xml")
        results: asyncio.Queue[PollResult] = asyncio.Queue()
        async with service(tmp_path, feed_url=f"{fs.base}/feed.xml", poll_seconds=10) as (svc, _, clock):
            poller = svc.feed_poller(session, on_result=results.put_nowait)
            assert poller is not None and poller.interval == 60
            task = asyncio.create_task(poller.run())
            try:
                assert (await results.get()).status == 200
                await clock.advance(59)
                assert len(fs.feed_requests) == 1 and results.empty()
                await clock.advance(1)
                assert (await results.get()).status == 304
                assert len(fs.feed_requests) == 2
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)


async def test_feed_honours_retry_after_and_backs_off_after_errors(tmp_path: Path) -> None:
    async with feed_server() as fs, aiohttp.ClientSession() as session:
        async with service(tmp_path, feed_url=f"{fs.base}/feed.xml") as (svc, _, _clock):
            poller = svc.feed_poller(session)
            assert poller is not None
            fs.fail = (429, {"Retry-After": "300"})
            assert (await poller.poll_once()).next_poll_seconds == 300
            fs.fail = (503, {})
            assert [(await poller.poll_once()).next_poll_seconds for _ in range(3)] == [120, 240, 480]
            fs.fail = None
            ok = await poller.poll_once()
            assert (ok.status, ok.next_poll_seconds) == (200, 60)


async def test_feed_unreachable_is_a_result_not_a_crash(tmp_path: Path) -> None:
    port_no = free_port()  # nothing listens there
    async with aiohttp.ClientSession() as session:
        async with service(tmp_path, feed_url=f"http://127.0.0.1:{port_no}/feed.xml") as (svc, _, _clock):
            poller = svc.feed_poller(session)
            assert poller is not None
            r = await poller.poll_once()
            assert r.status == 0 and r.error and r.next_poll_seconds == 120


async def test_feed_request_has_a_timeout(tmp_path: Path) -> None:
    async with feed_server() as fs, aiohttp.ClientSession() as session:
        async with service(tmp_path, feed_url=f"{fs.base}/slow.xml") as (svc, _, clock):
            poller = FeedPoller(svc.ingest_any, session, f"{fs.base}/slow.xml", clock, timeout_seconds=0.2)
            r = await poller.poll_once()
            assert fs.hit.is_set()
            assert (r.status, r.next_poll_seconds) == (0, 120) and "Timeout" in r.error


async def test_a_huge_telegram_is_refused_and_not_fetched_again(tmp_path: Path) -> None:
    async with feed_server() as fs, aiohttp.ClientSession() as session:
        fs.entries.append(("震度速報", f"{fs.base}/data/huge.xml"))
        async with service(tmp_path, feed_url=f"{fs.base}/feed.xml") as (svc, port, _):
            poller = svc.feed_poller(session)
            assert poller is not None
            r = await poller.poll_once()
            assert (r.status, r.new_entries, r.decisions) == (200, 1, [])
            fs.etag = '"v2"'
            assert (await poller.poll_once()).new_entries == 0
            assert fs.fetched == ["huge.xml"] and port.campaigns == {}


def test_parse_feed_refuses_what_is_not_atom() -> None:
    with pytest.raises(TriggerInputError, match="not an Atom feed"):
        parse_feed((JMA / "32-35_04_01_100831_VXSE51.xml").read_bytes(), "http://x/")
    assert parse_feed(b'<feed xmlns="http://www.w3.org/2005/Atom"/>', "http://x/") == []


async def test_watched_folder_takes_new_and_completed_files_once(tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    async with service(tmp_path, watch_dir=str(folder)) as (svc, port, _):
        watcher = svc.directory_watcher()
        assert watcher is not None
        full = (JMA / "32-35_06_03_100915_VXSE53.xml").read_bytes()
        (folder / "a.xml").write_bytes(full[:5000])  # caught while being written
        (folder / "notes.txt").write_text("not a telegram")
        (folder / "big.xml").write_bytes(b" " * (MAX_BODY_BYTES + 1))
        first = await watcher.scan_once()
        assert [(f.name, f.decision) for f in first] == [("a.xml", None), ("big.xml", None)]
        assert "not well-formed" in first[0].error and "larger than the limit" in first[1].error
        assert await watcher.scan_once() == []
        (folder / "a.xml").write_bytes(full)  # now complete
        (folder / "b.xml").write_bytes((JMA / "32-35_06_05_100915_VXSE53.xml").read_bytes())
        taken = await watcher.scan_once()
        assert [(f.name, f.decision.decision if f.decision else None) for f in taken] == [
            ("a.xml", "propose"), ("b.xml", "update")]
        assert taken[0].decision is not None and taken[0].decision.campaign == 1
        assert len(port.campaigns) == 1


async def test_service_run_watches_the_folder_on_its_clock(tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    async with service(tmp_path, watch_dir=str(folder)) as (svc, port, clock):
        task = asyncio.create_task(svc.run())
        try:
            # the watcher's first scan done and asleep until the next (CI, loaded: time moved before the
            # service had read its memory, the watcher slept past the move, and the file was never read)
            await asyncio.wait_for(clock.sleeping(), timeout=30)
            folder.mkdir(exist_ok=True)
            (folder / "q.xml").write_bytes((JMA / "32-35_06_03_100915_VXSE53.xml").read_bytes())
            assert not port.created.is_set()
            await clock.advance(5)
            await asyncio.wait_for(port.created.wait(), timeout=30)
            assert port.campaigns[1].request.title.startswith("地震 震度6強")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def test_watched_file_shape() -> None:
    assert WatchedFile("x.xml", None, "why").error == "why"


async def test_a_telegram_whose_decision_the_store_could_not_record_is_taken_on_the_next_poll(tmp_path: Path) -> None:
    """Review: a store error while a telegram was ingested (SQLite's write lock held past its timeout by an
    operator's import, a PostgreSQL connection lost) escaped the poller and ended the triggers for good.
    It is a result now, and the telegram is taken on the next poll (which asks for the whole feed)."""
    async with feed_server() as fs, aiohttp.ClientSession() as session:
        fs.add("32-35_06_03_100915_VXSE53.xml")
        async with service(tmp_path) as (svc, port, clock):
            calls = 0

            async def ingest(body: bytes, source: str) -> Decision:
                nonlocal calls
                calls += 1
                if calls == 1:
                    raise StoreUnavailable("database is locked")
                return await svc.ingest_any(body, source)

            poller = FeedPoller(ingest, session, f"{fs.base}/feed.xml", clock)
            first = await poller.poll_once()
            assert (first.status, first.decisions) == (200, []) and port.campaigns == {}
            second = await poller.poll_once()
            assert "If-None-Match" not in fs.feed_requests[1]  # the whole feed again, not a 304
            assert [d.decision for d in second.decisions] == ["propose"] and len(port.campaigns) == 1


async def test_a_decision_the_store_failed_to_record_after_its_campaign_was_made_is_recorded_with_it(
        tmp_path: Path) -> None:
    """Review: the campaign was made, then the record failed; the memory had the telegram as seen already,
    so the retry was stored as a duplicate ignored and, after a restart, the event had no campaign."""
    async with feed_server() as fs, aiohttp.ClientSession() as session:
        fs.add("32-35_06_03_100915_VXSE53.xml")
        async with service(tmp_path) as (svc, port, clock):
            record, calls = svc.store.triggers.record, 0

            async def failing_once(rec: Any) -> bool:
                nonlocal calls
                calls += 1
                if calls == 1:
                    raise StoreUnavailable("database is locked")
                return await record(rec)

            svc.store.triggers.record = failing_once  # type: ignore[method-assign]
            poller = FeedPoller(svc.ingest_any, session, f"{fs.base}/feed.xml", clock)
            first = await poller.poll_once()
            assert first.decisions == [] and len(port.campaigns) == 1  # made, not recorded
            second = await poller.poll_once()
            assert [(d.decision, d.campaign) for d in second.decisions] == [("propose", 1)]
            assert len(port.campaigns) == 1  # found again by its key, not made twice
            assert [(r.decision, r.campaign_id) for r in await svc.store.triggers.for_campaign(1)] == [("propose", 1)]


async def test_a_telegram_that_fails_for_a_fault_of_ours_holds_back_none_after_it(tmp_path: Path) -> None:
    """Review: an error nothing caught (a campaign refused) escaped the poll; the duty restarted and met
    the same telegram first every time, and every later one (its 取消 too) waited behind it for 12 hours."""
    async with feed_server() as fs, aiohttp.ClientSession() as session:
        fs.add("32-35_06_03_100915_VXSE53.xml")
        fs.add("32-35_06_05_100915_VXSE53.xml")
        async with service(tmp_path) as (svc, _, clock):
            failed: list[str] = []

            async def ingest(body: bytes, source: str) -> Decision:
                if source.endswith("06_03_100915_VXSE53.xml"):
                    failed.append(source)
                    raise RuntimeError("campaign refused")
                return await svc.ingest_any(body, source)

            poller = FeedPoller(ingest, session, f"{fs.base}/feed.xml", clock)
            result = await poller.poll_once()
            assert len(failed) == 1 and [d.decision for d in result.decisions] == ["propose"]
            await poller.poll_once()
            assert len(failed) == 2  # tried again on the next poll: a real event's telegram is never given up


async def test_a_watched_file_whose_decision_the_store_could_not_record_is_read_again(tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    async with service(tmp_path, watch_dir=str(folder)) as (svc, port, _):
        watcher = svc.directory_watcher()
        assert watcher is not None
        real, calls = watcher.ingest, 0

        async def ingest(body: bytes, source: str) -> Decision:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise StoreUnavailable("database is locked")
            return await real(body, source)

        watcher.ingest = ingest
        (folder / "a.xml").write_bytes((JMA / "32-35_06_03_100915_VXSE53.xml").read_bytes())
        (first,) = await watcher.scan_once()
        assert first.decision is None and first.again and "locked" in first.error
        (second,) = await watcher.scan_once()
        assert second.decision is not None and second.decision.decision == "propose" and len(port.campaigns) == 1

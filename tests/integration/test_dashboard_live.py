"""The live stream: one poller per campaign, catch-up after a drop, heartbeats, slow clients,
shutdown, and scope. Time is a FakeClock: the poller moves when the test advances it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from dashboard_fixtures import ASSOC_A, ASSOC_A2, ASSOC_B, World, client, start_campaign, world
from pg_helpers import ON_POSTGRES

from safetynet.auth import new_token
from safetynet.clock import FakeClock
from safetynet.stats import live
from safetynet.stats.live import LiveHub
from safetynet.web.app import create_app, site
from safetynet.web.dash_sse import HUB


class Stream:
    """Reads server-sent events from an open response."""

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self.resp = resp
        self.pings = 0
        self.retry: int | None = None

    async def next(self) -> dict[str, Any]:
        return await asyncio.wait_for(self._next(), 10)

    async def _next(self) -> dict[str, Any]:
        fields: dict[str, str] = {}
        while True:
            raw = await self.resp.content.readline()
            if not raw:
                raise EOFError("stream closed")
            line = raw.decode().rstrip("\n")
            if line == "":
                if fields.get("event") == "ping":
                    self.pings += 1
                    fields = {}
                elif "data" in fields:
                    return {"id": fields.get("id"), "event": fields.get("event"), **json.loads(fields["data"])}
                continue
            if line.startswith(":"):
                self.pings += 1
                continue
            key, _, value = line.partition(": ")
            if key == "retry":
                self.retry = int(value)
            else:
                fields[key] = value


def auth(w: World, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {w.tokens[who]}"}


class TickClock(FakeClock):
    """A FakeClock that tells when something goes to sleep on it (the poller, between ticks).

    The poller's store reads take real time (PostgreSQL's round trips, a loaded machine): time moved
    while it reads wakes nobody, and it then sleeps from the moved time on. A test that moves time
    once and waits for the tick it expects then waits in vain (the stream's 10 s, once in a CI run);
    `until` moves time only while the poller sleeps. It counts on the poller being the only sleeper on
    this clock (live.py's `_run`, today): another would set `asleep` while the poller still reads."""

    def __init__(self) -> None:
        super().__init__()
        self.asleep = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.asleep.set()  # the sleeper is on the clock before a woken `until` runs
        await super().sleep(seconds)


async def until(stream: Stream, clock: TickClock, pred: Any, ticks: int = 6) -> dict[str, Any]:
    """Reads events, moving time half a second whenever the poller sleeps and no event has come,
    until one satisfies `pred`; time moves at most `ticks` times (3 s: less than any recount)."""
    read = asyncio.ensure_future(stream.next())
    try:
        while True:
            if ticks:
                asleep = asyncio.ensure_future(clock.asleep.wait())
                await asyncio.wait({read, asleep}, return_when=asyncio.FIRST_COMPLETED)
                asleep.cancel()
            else:  # no more time: what is on its way, within the stream's own limit
                await asyncio.wait({read})
            if read.done():
                try:
                    ev = read.result()
                except TimeoutError:
                    raise AssertionError("no matching event") from None
                if pred(ev):
                    return ev
                read = asyncio.ensure_future(stream.next())
                continue
            clock.asleep.clear()
            await clock.advance(0.5)
            ticks -= 1
    finally:
        read.cancel()


def changed(ev: dict[str, Any]) -> dict[int, str]:
    return {c[0]: c[2] for c in ev["changed"]}


async def test_an_answer_reaches_the_association_stream(tmp_path: Path) -> None:
    clock = TickClock()
    async with world(tmp_path, clock=clock) as w, client() as http:
        aid = w.assoc_ids[ASSOC_A]
        url = f"{w.url}/api/campaigns/{w.campaign_id}/events?association={aid}"
        async with http.get(url, headers=auth(w, "head_a")) as r:
            assert r.status == 200 and r.headers["Content-Type"] == "text/event-stream"
            s = Stream(r)
            first = await s.next()
            assert s.retry == 2000 and first["event"] == "stats" and first["full"]
            assert first["households"] == 6 and first["status"]["pending"] == 6
            assert list(first["associations"]) == [str(aid)]
            await w.answer("A-004", "need_help")
            await w.answer("B-001", "safe")  # another association: not in this stream
            ev = await until(s, clock, lambda e: e["changed"])
            assert changed(ev) == {w.hh("A-004").id: "need_help"}
            assert ev["status"]["need_help"] == 1 and ev["need_help_open"] == 1 and not ev["full"]
            assert int(ev["id"]) >= int(first["id"])


async def test_a_note_and_an_escalation_are_said_on_the_stream(tmp_path: Path) -> None:
    """What the dashboard fetches its notes panel and its help cards again for: a change that carried a
    household's words (`noted`), and an escalation told (it moves no count), by the hub's help recount."""
    clock = TickClock()
    async with world(tmp_path, clock=clock) as w, client() as http:
        aid = w.assoc_ids[ASSOC_A]
        await w.answer("A-004", "need_help")
        url = f"{w.url}/api/campaigns/{w.campaign_id}/events?association={aid}"
        async with http.get(url, headers=auth(w, "head_a")) as r:
            s = Stream(r)
            first = await s.next()
            assert first["escalated_at"] is None and first["associations"][str(aid)]["escalated_at"] is None
            noted: dict[int, int] = {}  # household -> noted, over the events (the answers may take two ticks)

            def heard(*keys: str) -> Any:
                wanted = {w.hh(k).id for k in keys}
                return lambda e: noted.update({c[0]: c[4] for c in e["changed"] if c[0] in wanted}) or set(noted) >= wanted

            await w.answer("A-003", "safe", note="隣のおばあさんが出てこない")
            await w.answer("A-001", "safe")
            await until(s, clock, heard("A-003", "A-001"))
            assert noted == {w.hh("A-003").id: 1, w.hh("A-001").id: 0}
            target = await w.intake.target_for(w.campaign_id, w.hh("A-002").id)
            assert target is not None
            await w.intake.note(target, "いえがこわれた", "sms", new_token())  # an SMS kept as a note alone
            await until(s, clock, heard("A-002"))
            assert noted[w.hh("A-002").id] == 1
            # the check (replies.escalate) claims and tells; no reply, no count moves
            assert await w.store.replies.claim_unhandled_help(clock.now()) == [(w.campaign_id, w.hh("A-004").id)]
            await w.store.replies.escalation_told(w.campaign_id, w.hh("A-004").id)
            told = clock.now()
            ticks = int(live.HELP_RECOUNT_SECONDS / 0.5) + 2  # the recount that reads it, and a tick
            ev = await until(s, clock, lambda e: e["escalated_at"] is not None, ticks=ticks)
            assert ev["escalated_at"] == told and ev["associations"][str(aid)]["escalated_at"] == told
            assert ev["changed"] == [] and ev["need_help_open"] == 1


async def test_a_reconnect_with_last_event_id_gets_what_it_missed(tmp_path: Path) -> None:
    clock = FakeClock()
    async with world(tmp_path, clock=clock) as w, client() as http:
        aid = w.assoc_ids[ASSOC_A]
        url = f"{w.url}/api/campaigns/{w.campaign_id}/events?association={aid}"
        async with http.get(url, headers=auth(w, "head_a")) as r:
            last_id = (await Stream(r).next())["id"]
        await w.answer("A-002", "need_help")
        await w.answer("A-003", "safe")
        await clock.advance(0.5)  # the poller moves on while nobody listens
        async with http.get(url, headers={**auth(w, "head_a"), "Last-Event-ID": last_id}) as r:
            first = await Stream(r).next()
        assert changed(first) == {w.hh("A-002").id: "need_help", w.hh("A-003").id: "safe"}
        assert first["status"]["safe"] == 1 and first["status"]["need_help"] == 1 and first["full"]
        assert int(first["id"]) > int(last_id)


async def test_too_far_behind_means_reload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "MAX_CATCH_UP", 2)
    clock = FakeClock()
    async with world(tmp_path, clock=clock) as w, client() as http:
        url = f"{w.url}/api/campaigns/{w.campaign_id}/events"
        async with http.get(url, headers=auth(w, "admin")) as r:
            last_id = (await Stream(r).next())["id"]
        for key in ("A-001", "A-002", "A-003"):
            await w.answer(key, "safe")
        await clock.advance(0.5)
        async with http.get(url, headers={**auth(w, "admin"), "Last-Event-ID": last_id}) as r:
            ev = await Stream(r).next()
        assert ev["reset"] and ev["full"] and ev["changed"] == [] and ev["status"]["safe"] == 3
        async with http.get(url, headers={**auth(w, "admin"), "Last-Event-ID": str(int(last_id) + 1)}) as r:
            ev = await Stream(r).next()  # two behind: within reach, replayed
        expected = {w.hh("A-002").id: "safe", w.hh("A-003").id: "safe"}
        assert not ev["reset"] and {h: s for h, s in changed(ev).items() if h in expected} == expected
        # on PostgreSQL the replay re-reads a window below the cursor (ids commit out of order there):
        # at most earlier answers again, as they were
        assert set(changed(ev)) - set(expected) <= ({w.hh("A-001").id} if ON_POSTGRES else set())


async def test_heartbeat_keeps_an_idle_stream_checked(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        assert w.app is not None
        w.app[HUB].heartbeat_seconds = 0.05
        async with http.get(f"{w.url}/api/campaigns/{w.campaign_id}/events", headers=auth(w, "admin")) as r:
            s = Stream(r)
            await s.next()
            while s.pings == 0:
                line = await asyncio.wait_for(r.content.readline(), 5)
                s.pings += line.startswith(b"event: ping")


async def test_shutdown_wakes_open_streams(tmp_path: Path) -> None:
    async with world(tmp_path, serve=False) as w:
        port = int(w.url.rsplit(":", 1)[1])
        runner = web.AppRunner(create_app(w.svc), access_log=None, shutdown_timeout=30)
        await runner.setup()
        await site(runner, "127.0.0.1", port).start()
        async with client() as http, http.get(f"{w.url}/api/campaigns/{w.campaign_id}/events",
                                              headers=auth(w, "admin")) as r:
            await Stream(r).next()
            # without the on_shutdown hook this waits 2 × shutdown_timeout (60 s) for the stream
            await asyncio.wait_for(runner.cleanup(), 5)


async def test_streams_refuse_anyone_outside_the_campaign_or_association(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client() as http:
        a_only = await start_campaign(w, scope=[f"association:{ASSOC_A}"], title="A only",
                                      keys=[k for k in w.households if k.startswith("A-")])
        base = f"{w.url}/api/campaigns"
        cases = [
            (f"{base}/{a_only}/events", "head_b", 404),
            (f"{base}/{w.campaign_id}/events?association={w.assoc_ids[ASSOC_A]}", "head_b", 404),
            (f"{base}/{w.campaign_id}/events?association=999", "admin", 404),
            (f"{base}/999/events", "admin", 404),
        ]
        for url, who, status in cases:
            async with http.get(url, headers=auth(w, who)) as r:
                assert r.status == status, url
                assert (await r.json()) == {"error": "Not Found"}
        async with http.get(f"{base}/{w.campaign_id}/events") as r:
            assert r.status == 401
        async with http.get(f"{base}/{w.campaign_id}/events", headers=auth(w, "head_b")) as r:
            ev = await Stream(r).next()
            assert list(ev["associations"]) == [str(w.assoc_ids[ASSOC_B])] and ev["households"] == 2


# The hub's ticks follow the fake clock; PostgreSQL's round trips do not, so on it the ticks of this
# test merge (the hub itself is the same on both stores; its store reads run on both in the others).
@pytest.mark.sqlite_only
async def test_one_poll_serves_many_subscribers_and_drops_the_slow(tmp_path: Path) -> None:
    clock = FakeClock()
    async with world(tmp_path, clock=clock, serve=False) as w:
        hub = LiveHub(w.store.dashboard, clock, queue_size=2)
        aid = w.assoc_ids[ASSOC_A]
        subs = [await hub.subscribe(w.campaign_id, frozenset({aid}) if i % 2 else None) for i in range(200)]
        assert hub.subscribers == 200 and len(hub._pollers) == 1
        items = [await asyncio.wait_for(s.queue.get(), 5) for s in subs]  # the first poll
        assert all(i is not None for i in items)
        city, assoc = items[0], items[1]
        assert city is not None and assoc is not None
        # encoded once per distinct filter, not once per subscriber
        assert all(items[i][1] is (city if i % 2 == 0 else assoc)[1] for i in range(200))  # type: ignore[index]
        # a subscriber that never reads is told to go once its queue is full. Each answer is its
        # own tick: the test waits for it on a subscriber that reads (the poll's store reads run
        # on reader threads, which a few turns of the loop do not always wait out)
        reader = subs[2]
        for key in ("A-001", "A-002", "A-003", "A-004"):
            await w.answer(key, "safe")
            hub.poke(w.campaign_id)
            await clock.advance(0.5)
            tick = await asyncio.wait_for(reader.queue.get(), 5)
            assert tick is not None and '"safe"' in tick[1]
        slow = subs[0]
        assert slow.dropped and slow.queue.get_nowait() is None and not reader.dropped
        await hub.close()
        assert all(s.dropped for s in subs)


def doorknock(ev: dict[str, Any]) -> dict[str, int]:
    return {aid: a["doorknock"] for aid, a in ev["associations"].items() if "doorknock" in a}


async def test_the_city_stream_counts_the_door_knock_list_as_it_grows_and_shrinks(tmp_path: Path) -> None:
    clock = TickClock()
    async with world(tmp_path, clock=clock) as w, client() as http:
        a, a2, b = (str(w.assoc_ids[n]) for n in (ASSOC_A, ASSOC_A2, ASSOC_B))
        await w.answer("A-001", "safe")
        url = f"{w.url}/api/campaigns/{w.campaign_id}/events"
        async with http.get(f"{url}?doorknock=1", headers=auth(w, "admin")) as r, \
                http.get(f"{url}?doorknock=1", headers=auth(w, "dhead")) as rd, \
                http.get(url, headers=auth(w, "head_b")) as rb:
            city, district, plain = Stream(r), Stream(rd), Stream(rb)
            first = await city.next()
            assert first["doorknock"] == 0 and doorknock(first) == {a: 0, a2: 0, b: 0}
            assert "doorknock" not in (await plain.next()) and (await district.next())["doorknock"] == 0
            await w.store.campaigns.mark_doorknock(w.campaign_id, clock.now())  # the ladder's last step ran
            ev = await until(city, clock, lambda e: e.get("doorknock"))
            assert ev["doorknock"] == 10 and doorknock(ev) == {a: 5, a2: 3, b: 2}
            ev = await until(district, clock, lambda e: e.get("doorknock"))
            assert ev["doorknock"] == 8 and doorknock(ev) == {a: 5, a2: 3}  # the district head's part only
            await w.answer("A-003", "safe")  # one on the list answered after all: off it
            ev = await until(city, clock, lambda e: e["changed"])
            assert ev["doorknock"] == 9 and doorknock(ev)[a] == 4
            ev = await until(plain, clock, lambda e: e["changed"] or e["associations"])
            assert "doorknock" not in ev and all("doorknock" not in x for x in ev["associations"].values())


@pytest.mark.sqlite_only  # ticks follow the fake clock (see the test above)
async def test_the_door_knock_list_is_read_once_a_tick_and_only_while_a_city_page_listens(tmp_path: Path) -> None:
    clock = FakeClock()
    async with world(tmp_path, clock=clock, serve=False) as w:
        reads: list[int] = []

        async def doorknock_counts(campaign_id: int) -> dict[int, int]:
            reads.append(campaign_id)
            return await w.store.campaigns.doorknock_counts(campaign_id)

        hub = LiveHub(w.store.dashboard, clock, doorknock_counts=doorknock_counts)
        await w.store.campaigns.mark_doorknock(w.campaign_id, clock.now())
        aid = w.assoc_ids[ASSOC_A]
        heads = [await hub.subscribe(w.campaign_id, frozenset({aid})) for _ in range(3)]
        assert await asyncio.wait_for(heads[0].queue.get(), 5) is not None  # the first poll

        async def tick_after(key: str, sub: live.Subscription) -> dict[str, Any]:
            await w.answer(key, "safe")
            hub.poke(w.campaign_id)
            await clock.advance(0.5)
            item = await asyncio.wait_for(sub.queue.get(), 5)
            assert item is not None
            return dict(json.loads(item[1]))

        ev = await tick_after("A-001", heads[0])
        assert reads == [] and "doorknock" not in ev  # association dashboards never cost the read
        cities = [await hub.subscribe(w.campaign_id, None, doorknock=True) for _ in range(5)]
        for n, key in enumerate(("A-002", "A-003"), start=1):
            ev = await tick_after(key, cities[0])
            assert ev["associations"][str(aid)]["doorknock"] == 6 - 1 - n
            assert 1 <= len(reads) <= n  # once a tick however many listen, not once a subscriber
            items = [await asyncio.wait_for(c.queue.get(), 5) for c in cities[1:]]
            assert all(i is not None and i[1] == json.dumps(ev, ensure_ascii=False) for i in items)
        told = [heads[1].queue.get_nowait() for _ in range(heads[1].queue.qsize())]
        assert len(told) == 4 and all(i is not None and '"doorknock"' not in i[1] for i in told)
        await hub.close()

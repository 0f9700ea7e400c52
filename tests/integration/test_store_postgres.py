"""The PostgreSQL store beyond the contract suite: `init` and `store copy` from the command line,
claims of concurrent dispatchers, a read racing another process's answer, the dialect bridge."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
import structlog
from contract.support import LADDER, ROUTES, _hh, city, running_campaign, seed, token_of
from locale_helpers import terminal_locale
from pg_helpers import SERVER, TEST_DB, pg_schema, pg_store
from roster_helpers import SECRET_KEY
from structlog.testing import capture_logs

from safetynet.broadcast.ladder import LadderScheduler
from safetynet.broadcast.planner import plan_step
from safetynet.cli import main
from safetynet.clock import FakeClock
from safetynet.domain import ANSWERED, CampaignKind, Role, Status
from safetynet.domain.audit import AuditEntry
from safetynet.domain.campaigns import ChannelHealth, DispatcherBeat, StepHousehold, StepPlan
from safetynet.domain.replies import ReplyDetails, ReplyItem, ReplyTarget, TokenAnswer, UndoRefused
from safetynet.store import Store, StoreUnavailable
from safetynet.store.errors import ConnectionLost
from safetynet.store.postgres import PostgresStore, open_postgres_store
from safetynet.store.postgres.db import PgConn, connection_lost, pg_sql
from safetynet.store.sqlite import open_sqlite_store

T = TypeVar("T")

NEWCOMER = _hh("北地区", "梅町", "", "U-3", "新井 花", "梅町3", 2, False, "ja", phone="+819022220003")


def _config(tmp_path: Path, url: str = "") -> Path:
    cfg = tmp_path / "config.toml"
    store = f'url = "{url}"\n' if url else 'path = "var/safetynet.db"\n'
    cfg.write_text(f"[store]\n{store}", encoding="utf-8")
    return cfg


def test_the_bridge_turns_sqlite_idioms_into_postgresql() -> None:
    assert pg_sql("SELECT 'a?' FROM t WHERE x = ? AND y IS NOT ?") == (
        "SELECT 'a?' FROM t WHERE x = $1 AND y IS DISTINCT FROM $2")
    assert pg_sql("INSERT OR IGNORE INTO t (a) VALUES (?)") == "INSERT INTO t (a) VALUES ($1) ON CONFLICT DO NOTHING"
    assert pg_sql("SELECT max(a, b), max(c) FROM t") == "SELECT greatest(a, b), max(c) FROM t"
    assert pg_sql("SELECT max(id) FROM (SELECT id FROM t LIMIT ?)") == (
        "SELECT max(id) FROM (SELECT id FROM t LIMIT $1) AS _sub1")
    assert pg_sql("INSERT INTO c (k, n) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET n = n + excluded.n") == (
        "INSERT INTO c (k, n) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET n = c.n + excluded.n")


async def test_init_creates_the_schema_and_the_first_admin_on_postgresql(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("SAFETYNET_STORE_URL", raising=False)  # the config file names the store here
    async with pg_schema() as url:
        monkeypatch.setenv("SAFETYNET_SECRET_KEY", SECRET_KEY)
        cfg = _config(tmp_path, url)
        code = await asyncio.to_thread(main, ["init", "--config", str(cfg), "--admin-password", "kanri-Pass-2026"])
        assert code == 0
        assert "admin" in capsys.readouterr().out
        assert not (tmp_path / "var" / "safetynet.db").exists()  # nothing on file
        store = await open_postgres_store(url, FakeClock(), ROUTES)
        try:
            assert await store.auth.count_city_admins() == 1
        finally:
            await store.close()
        # a second init changes nothing
        assert await asyncio.to_thread(main, ["init", "--config", str(cfg)]) == 0
        assert "admin" not in capsys.readouterr().out


async def test_store_copy_takes_a_source_of_an_older_schema_as_it_always_migrated_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Review: once only `init`, `serve`, `demo` and `bench` migrate, `store copy` refused a SQLite city one
    migration behind (its audit entry opened the source first), though the copy migrates both sides."""
    from safetynet.store.postgres import db as pg_db
    from safetynet.store.sqlite import db as sqlite_db

    monkeypatch.delenv("SAFETYNET_STORE_URL", raising=False)
    sqlite = await open_sqlite_store(tmp_path / "var" / "safetynet.db", FakeClock(), ROUTES)
    try:
        await sqlite.roster.import_households(city())
    finally:
        await sqlite.close()
    for module in (sqlite_db, pg_db):  # this SafetyNet is one migration ahead of the city's database
        known = module._migrations()
        monkeypatch.setattr(module, "_migrations", lambda known=known: [
            *known, (known[-1][0] + 1, "later_table", "CREATE TABLE later_table (x integer);")])
    async with pg_schema() as url:
        code = await asyncio.to_thread(main, ["store", "copy", "--to", url, "--config", str(_config(tmp_path))])
        out, err = capsys.readouterr()
        assert code == 0 and "households: 7" in out.replace(" rows", ""), err


async def test_store_copy_never_gives_a_removed_staff_members_id_to_another(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review: after the copy PostgreSQL's identity went on from max(id) + 1 of the copied staff, so the
    first account made there took a removed admin's id (and with it their tokens and audit entries)."""
    from safetynet.domain import Role

    monkeypatch.delenv("SAFETYNET_STORE_URL", raising=False)
    sqlite = await open_sqlite_store(tmp_path / "var" / "safetynet.db", FakeClock(), ROUTES)
    try:
        await sqlite.roster.import_households(city())
        for login in ("a", "b", "c"):
            await sqlite.auth.add_staff(login, login, Role.CITY_ADMIN, "city", None)
        gone = [s.id for s in await sqlite.auth.list_staff() if s.login in ("b", "c")]
        for login in ("b", "c"):
            await sqlite.auth.remove_staff(login)
    finally:
        await sqlite.close()
    async with pg_schema() as url:
        assert await asyncio.to_thread(main, ["store", "copy", "--to", url, "--config", str(_config(tmp_path))]) == 0
        pg = await open_postgres_store(url, FakeClock(), ROUTES)
        try:
            newcomer = await pg.auth.add_staff("d", "d", Role.CITY_ADMIN, "city", None)
        finally:
            await pg.close()
    assert newcomer.id > max(gone), (newcomer.id, gone)


async def test_store_copy_moves_a_sqlite_city_to_postgresql_and_checks_the_counts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("SAFETYNET_STORE_URL", raising=False)  # the source is the config file's SQLite
    clock = FakeClock()
    sqlite = await open_sqlite_store(tmp_path / "var" / "safetynet.db", clock, ROUTES)
    try:
        await sqlite.roster.import_households(city())
        cid = await running_campaign(sqlite)
        before = await sqlite.campaigns.household_statuses(cid)
    finally:
        await sqlite.close()
    async with pg_schema() as schema_url:
        url = f"{schema_url}&password=s3cret-pw"  # the server trusts the test user: one it never reads
        code = await asyncio.to_thread(main, ["store", "copy", "--to", url, "--config", str(_config(tmp_path))])
        out = capsys.readouterr().out
        assert code == 0, out
        # QA (privacy walk): the whole city, audit log and staff sessions too, went to another database with
        # no entry; now an export of the store by the command line's user, to the URL without its password,
        # in the source and, copied with it, in the target
        copied = ("export", "store", f"copy to {schema_url}&password=***")
        assert [(e.action, e.what, e.detail) for e in await _audit_of(open_sqlite_store(
            tmp_path / "var" / "safetynet.db", clock, ROUTES))] == [copied]
        got = await _audit_of(open_postgres_store(url, clock, ROUTES))
        assert [(e.action, e.what, e.detail) for e in got] == [copied] and got[0].actor.startswith("cli:")
        assert "households: 7" in out.replace(" rows", "").replace(" 行", "")
        pg = await open_postgres_store(url, clock, ROUTES)
        try:
            assert await pg.campaigns.household_statuses(cid) == before
            assert (await pg.roster.summary()).households == 7
            # identity counters moved past the copied ids: new rows do not collide
            created = await pg.campaigns.create(kind=CampaignKind.DRILL, title="x", scope=["city"],
                                                messages={"ja": "x"}, ladder=())
            assert created.id > cid
        finally:
            await pg.close()
        # a second copy into the same database is refused: it never merges two cities; the source says so
        assert await asyncio.to_thread(main, ["store", "copy", "--to", url, "--config", str(_config(tmp_path))]) == 2
        got = await _audit_of(open_sqlite_store(tmp_path / "var" / "safetynet.db", clock, ROUTES))
        assert [e.detail for e in got] == [copied[2], copied[2], f"{copied[2]}: nothing copied"]


async def _audit_of(opening: Coroutine[Any, Any, Store]) -> list[AuditEntry]:
    store = await opening
    try:
        return await store.audit.entries()
    finally:
        await store.close()


async def test_store_copy_into_a_database_a_serve_ran_on_is_refused_before_copying_anything(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """QA: a `serve` had run on the target once (only its heartbeats: dispatchers, channel_health); the
    copy said only "row counts differ after the copy: dispatchers 1→3, channel_health 6→18"."""
    monkeypatch.delenv("SAFETYNET_STORE_URL", raising=False)  # the source is the config file's SQLite
    clock = FakeClock()
    sqlite = await open_sqlite_store(tmp_path / "var" / "safetynet.db", clock, ROUTES)
    try:
        await sqlite.roster.import_households(city())
        await sqlite.health.beat(DispatcherBeat("here:1", "here", 1, ("sms",), 0.0, 0.0),
                                 [ChannelHealth("here:1", "sms", "ok", 0.0)])
    finally:
        await sqlite.close()
    async with pg_schema() as url:
        pg = await open_postgres_store(url, clock, ROUTES)
        try:
            await pg.health.beat(DispatcherBeat("there:7", "there", 7, ("sms",), 0.0, 0.0),
                                 [ChannelHealth("there:7", "sms", "ok", 0.0)])
        finally:
            await pg.close()
        argv = ["store", "copy", "--to", url, "--config", str(_config(tmp_path))]
        terminal_locale(monkeypatch, "C.UTF-8")
        assert await asyncio.to_thread(main, argv) == 2
        out, err = capsys.readouterr()
        assert out == ""  # not a table's count: nothing was copied
        assert err.startswith("error: the PostgreSQL database ") and "row counts differ" not in err
        assert "dispatchers, channel_health already hold rows" in err and "nothing was copied" in err
        # a new empty database, never a ready-to-paste dropdb: a mistyped --to could name the live city's
        assert "`createdb NEW_NAME`, then give that name to --to" in err and "dropdb" not in err
        assert f"only after making sure no SafetyNet uses {TEST_DB}" in err
        terminal_locale(monkeypatch, "ja_JP.UTF-8")
        assert await asyncio.to_thread(main, argv) == 2
        err = capsys.readouterr().err
        assert "dispatchers, channel_health にすでに行があります" in err
        assert "既存のデータと混ざらないよう、何もコピーしていません" in err and "dropdb" not in err
        assert "`createdb 新しい名前` で作り、その名前を --to に指定" in err
        assert f"どの SafetyNet も {TEST_DB} を使っていないことを確かめてから" in err
        pg = await open_postgres_store(url, clock, ROUTES)
        try:  # the target is as it was: its own heartbeat, no household
            assert [b.owner for b in await pg.health.dispatchers()] == ["there:7"]
            assert (await pg.roster.summary()).households == 0
        finally:
            await pg.close()


async def test_concurrent_claimers_get_disjoint_deliveries() -> None:
    clock = FakeClock()
    async with pg_schema() as url:
        store = await open_postgres_store(url, clock, ROUTES)
        try:
            await store.roster.import_households(city())
            cid = await running_campaign(store)
            due = await store.outbox.due_count([cid])
            assert due > 0
            claims = await asyncio.gather(*(store.outbox.claim([cid], ch, 100, f"w{i}", 60)
                                            for i in range(4) for ch in ("sms", "voice", "telegram", "webpush")))
            ids = [d.id for batch in claims for d in batch]
            assert len(ids) == len(set(ids))  # nobody got a delivery twice
            assert len(ids) + await store.outbox.due_count([cid]) == due
        finally:
            await store.close()


async def _blocks_another(con: asyncpg.Connection) -> bool:
    """Whether a backend waits on a lock that `con` holds."""
    return bool(await con.fetchval("SELECT count(*) FROM pg_stat_activity"
                                   " WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))"))


@dataclass
class Race:
    """A household of a running campaign, and another process's connection to write it."""

    store: Store
    other: asyncpg.Connection
    clock: FakeClock
    campaign_id: int
    household_id: int

    async def while_another_writes(self, status: Status, work: Coroutine[Any, Any, T]) -> T:
        """Runs `work` while the other process holds `status` written and uncommitted on the household:
        returns what `work` gave once it had waited for that row and the other process committed."""
        answer = self.other.transaction()
        await answer.start()
        await self.other.execute("UPDATE campaign_households SET status = $1 WHERE campaign_id = $2"
                                 " AND household_id = $3", str(status), self.campaign_id, self.household_id)
        task = asyncio.create_task(work)
        # the other process's state, not this one's work: a bounded poll of the server's lock table
        async with asyncio.timeout(10):
            while not await _blocks_another(self.other):
                assert not task.done(), "the write did not wait for the household's row"
                await asyncio.sleep(0.02)
        await answer.commit()
        return await task


    async def confirmed(self) -> int:
        """The household confirmed in person (a head's visit): the confirmation's reply id, to undo."""
        t = await self.store.replies.target(self.campaign_id, self.household_id)
        assert t is not None
        await self.store.replies.record(ReplyItem(
            self.campaign_id, self.household_id, t.association_id, str(Status.CONFIRMED_IN_PERSON), "staff",
            "staff:1", self.clock.now(), method="visit", staff_id=None, actor="head"))
        reply_id = await self.store.replies.reply_id("staff:1")
        assert reply_id is not None
        return reply_id

    async def undo_while_another_runs(self, reply_id: int, what: str, *statements: tuple[str, tuple[Any, ...]]) -> Any:
        """The confirmation undone while the other process has run `statements` (sql, args) and not yet
        committed: the undo must wait for `what` it holds; what the undo gave once the other committed."""
        return await self.while_another_holds(what, self.store.replies.undo_confirmation(
            self.campaign_id, self.household_id, reply_id, None, "head"), *statements)

    async def while_another_holds(self, what: str, work: Coroutine[Any, Any, T], *statements: tuple[str, tuple[Any, ...]]) -> T:
        """`work` run while the other process has run `statements` (sql, args) and not yet committed: it
        must wait for `what` they hold; what it gave once the other committed."""
        held = self.other.transaction()
        await held.start()
        for sql, args in statements:
            await self.other.execute(sql, *args)
        task = asyncio.create_task(work)
        async with asyncio.timeout(10):  # the other process's state: a bounded poll of the server's lock table
            while not await _blocks_another(self.other):
                assert not task.done(), f"the work did not wait for {what}"
                await asyncio.sleep(0.02)
        await held.commit()
        return await task


@contextlib.asynccontextmanager
async def race() -> AsyncIterator[Race]:
    clock = FakeClock()
    async with pg_schema() as url:
        store = await open_postgres_store(url, clock, ROUTES)
        other = await asyncpg.connect(url)
        try:
            hid = (await seed(store))["S-1"]
            yield Race(store, other, clock, await running_campaign(store), hid)
        finally:
            await other.close()
            await store.close()


async def test_a_read_racing_an_answer_from_another_process_is_not_stored_after_it() -> None:
    """Another web process has written a household's answer and not yet committed when this one's
    batch holds a read of the same household (both requests found it unanswered): the read waits
    for that answer and is then dropped as late, as it is on SQLite's single writer."""
    async with race() as r:
        cid, hid = r.campaign_id, r.household_id
        target = await r.store.replies.target(cid, hid)
        assert target is not None
        outcome = await r.while_another_writes(Status.SAFE, r.store.replies.record(ReplyItem(
            cid, hid, target.association_id, str(Status.READ), "web", f"read:{cid}:{hid}", r.clock.now(),
            ReplyDetails())))
        assert outcome.duplicate  # late: nothing stored
        assert [h.status for h in await r.store.replies.history(cid, hid)] == []


async def test_an_answer_by_token_is_built_on_the_household_as_another_process_left_it() -> None:
    """Another web process has stored a household's need_help and not yet committed when this one's
    batch holds the same household's stale details form ("safe", refused once it asked for help): the
    answer waits for that row and is refused, as it is on SQLite's single writer."""
    async with race() as r:
        seen: list[Status] = []

        def unless_help(t: ReplyTarget) -> ReplyItem | None:
            seen.append(t.status)
            if t.status == Status.NEED_HELP:
                return None
            return ReplyItem(t.campaign_id, t.household_id, t.association_id, "safe", "web", "stale", r.clock.now())

        outcome = await r.while_another_writes(Status.NEED_HELP, r.store.replies.record_by_token(
            TokenAnswer(token_of(r.campaign_id, r.household_id), unless_help)))
        # built once, on the row as the other process left it, never on the row before its write
        assert outcome.outcome is None and seen == [Status.NEED_HELP]
        assert [h.status for h in await r.store.replies.history(r.campaign_id, r.household_id)] == []


async def test_an_undo_racing_an_answer_from_another_process_is_refused_not_written_over_it() -> None:
    """Review: a staff member takes back a confirmation while another web process has stored the
    household's own answer and not yet committed. The undo read the household unlocked, found no
    later answer, then waited on the row only for its write, and wrote the restored status over the
    answer (a need_help lost from the escalation, the counters off by two). It locks the household's
    row first, as an answer batch does, and is refused once the answer is in."""
    async with race() as r:
        cid, hid = r.campaign_id, r.household_id
        reply_id = await r.confirmed()
        with pytest.raises(UndoRefused):
            await r.undo_while_another_runs(
                reply_id, "the household's row",
                ("INSERT INTO replies (campaign_id, household_id, status, channel, dedupe_key, received_at)"
                 " VALUES ($1, $2, 'need_help', 'sms', 'other', $3)", (cid, hid, r.clock.now())),
                ("UPDATE campaign_households SET status = 'need_help' WHERE campaign_id = $1 AND household_id = $2",
                 (cid, hid)))
        assert (await r.store.campaigns.household_statuses(cid))[hid] == Status.NEED_HELP


def _list_the_silent(r: Race) -> tuple[str, tuple[Any, ...]]:
    """The other process's list of the campaign's silent households (the door-knock step's, a close's)."""
    return ("UPDATE campaign_households SET doorknock_at = $1 WHERE campaign_id = $2 AND NOT (status = ANY($3::text[]))",
            (r.clock.now(), r.campaign_id, [str(s) for s in ANSWERED]))


async def test_an_undo_racing_another_processs_door_knock_step_puts_its_household_on_the_list() -> None:
    """Review: the leader's door-knock step had recorded itself and made its list, uncommitted, when a staff
    member took back a confirmation: the undo read the ladder unlocked and saw no list made, the step's
    list had passed the household over as confirmed, and it ended unanswered and on no list. The undo
    takes the ladder's row shared first, waits for the step, and lists it."""
    async with race() as r:
        campaign = await r.store.campaigns.get(r.campaign_id)
        assert campaign is not None and campaign.ladder[-1].door_knock
        reply_id = await r.confirmed()
        await r.undo_while_another_runs(
            reply_id, "the ladder's row",
            ("UPDATE campaign_ladder SET next_step = $1 WHERE campaign_id = $2", (len(campaign.ladder), r.campaign_id)),
            _list_the_silent(r))
        assert r.household_id in await r.store.campaigns.doorknock_households(r.campaign_id)


async def test_an_undo_racing_another_processs_close_puts_its_household_on_the_list() -> None:
    """Review of the fix above: a close (its list of the silent households) under way in another process,
    uncommitted, and an undo of a confirmation there read the campaign as running: the close's list had
    passed the household over as confirmed, the undo listed it nowhere. The undo reads the campaign's row
    shared first and waits for the close."""
    async with race() as r:
        reply_id = await r.confirmed()
        await r.undo_while_another_runs(
            reply_id, "the campaign's row",
            ("UPDATE campaigns SET state = 'closed', closed_at = $1 WHERE id = $2", (r.clock.now(), r.campaign_id)),
            _list_the_silent(r))
        assert r.household_id in await r.store.campaigns.doorknock_households(r.campaign_id)


def _first_step(households: list[StepHousehold]) -> StepPlan:
    return plan_step(households, 0, LADDER[0])


async def test_a_newcomer_is_not_enrolled_in_a_campaign_another_process_is_closing() -> None:
    """A household imported during the event, its enrolment racing a close under way in another process:
    it waits for the campaign's row, then takes nobody into the closed campaign (its close made the list)."""
    async with race() as r:
        ids = await seed(r.store, [*city(), NEWCOMER])
        enrolled = await r.while_another_holds(
            "the campaign's row",
            r.store.campaigns.enrol_newcomers(r.campaign_id, ["city"], token_of, _first_step, r.clock.now()),
            ("UPDATE campaigns SET state = 'closed', closed_at = $1 WHERE id = $2", (r.clock.now(), r.campaign_id)),
            _list_the_silent(r))
        assert enrolled == []
        assert ids["U-3"] not in await r.store.campaigns.household_statuses(r.campaign_id)


async def test_a_newcomer_enrolled_while_another_process_takes_the_door_knock_step_is_listed() -> None:
    """The door-knock step under way in another process (its campaign read shared, its ladder recorded,
    its list made, uncommitted): the enrolment waits for it, sees the list made, and lists the newcomer
    with its association's notice owed; it is never left off both."""
    async with race() as r:
        ids = await seed(r.store, [*city(), NEWCOMER])
        enrolled = await r.while_another_holds(
            "the door-knock step",
            r.store.campaigns.enrol_newcomers(r.campaign_id, ["city"], token_of, _first_step, r.clock.now()),
            ("SELECT 1 FROM campaigns WHERE id = $1 AND state = 'running' FOR SHARE", (r.campaign_id,)),
            ("UPDATE campaign_ladder SET next_step = $1 WHERE campaign_id = $2", (len(LADDER), r.campaign_id)),
            _list_the_silent(r))
        assert enrolled == [ids["U-3"]]
        assert ids["U-3"] in await r.store.campaigns.doorknock_households(r.campaign_id)
        owed = await r.store.campaigns.owed_doorknock_notices()
        assert (await r.store.replies.target(r.campaign_id, ids["U-3"])).association_id in owed[r.campaign_id]  # type: ignore[union-attr]


async def test_a_database_that_takes_no_connections_is_unavailable_not_a_fault(tmp_path: Path) -> None:
    """QA: a database that stopped taking connections (ALTER DATABASE … ALLOW_CONNECTIONS false, or
    dropped) surfaced as a plain error: a 500 for residents, and /readyz still said writes work."""
    async with pg_store(tmp_path, FakeClock()) as store:
        assert isinstance(store, PostgresStore)
        pool = store.db.pool
        pool.set_connect_args(f"{SERVER}/safetynet_no_such_database")  # what a dropped database does
        await pool.expire_connections()
        with pytest.raises(StoreUnavailable):
            await store.auth.add_staff("x", "X", Role.CITY_ADMIN, "city", None)
        assert store.db.failed is not None  # /readyz: writes failing
        # template0 is a database with ALLOW_CONNECTIONS false in every cluster: the same refusal (55000)
        # as a database made so here, with no CREATE and DROP DATABASE, whose checkpoint (DROP DATABASE
        # forces one) waits on all the PostgreSQL pass beside it wrote: 23 s in the suite, 1.4 s alone
        admin = await asyncpg.connect(f"{SERVER}/postgres")
        try:
            assert await admin.fetchval("SELECT NOT datallowconn FROM pg_database WHERE datname = 'template0'")
        finally:
            await admin.close()
        pool.set_connect_args(f"{SERVER}/template0")
        await pool.expire_connections()
        with pytest.raises(StoreUnavailable):
            await store.dashboard.associations()


async def test_a_lock_not_had_in_time_refuses_the_write_but_leaves_the_store_healthy(tmp_path: Path) -> None:
    """As SQLite's lock held past its busy timeout (test_store_db): another process's lock not had in
    time (55P03, lock_timeout) refuses the write; the store is not failed (/healthz 200), but does not
    take writes (/readyz) until one goes through."""
    async with pg_store(tmp_path, FakeClock()) as store:
        assert isinstance(store, PostgresStore)
        schema = await store.db.pool.fetchval("SELECT current_schema()")
        other = await asyncpg.connect(f"{SERVER}/{TEST_DB}")
        try:
            holding = other.transaction()
            await holding.start()
            await other.execute(f'LOCK TABLE "{schema}".districts IN ACCESS EXCLUSIVE MODE')
            with capture_logs() as logs, pytest.raises(StoreUnavailable):
                async with store.db.transaction() as conn:
                    await conn.execute("SET LOCAL lock_timeout = '50ms'")
                    await conn.execute("INSERT INTO districts (name) VALUES ('answer')")
            assert [e["event"] for e in logs] == ["store_write_busy"]
            assert store.healthy and not store.takes_writes
            await holding.rollback()
        finally:
            await other.close()
        await store.db.execute("INSERT INTO districts (name) VALUES ('answer')")
        assert store.healthy and store.takes_writes


async def test_an_escalation_claim_skips_a_help_request_another_process_holds() -> None:
    """Another process holds the request's row (marking it handled, uncommitted): the claim neither
    waits for it nor takes it; once that process lets go without marking, the next claim does."""
    async with race() as r:
        cid, hid = r.campaign_id, r.household_id
        target = await r.store.replies.target(cid, hid)
        assert target is not None
        await r.store.replies.record(ReplyItem(cid, hid, target.association_id, str(Status.NEED_HELP), "web",
                                               "help-1", r.clock.now(), ReplyDetails()))
        await r.clock.advance(60)
        held = r.other.transaction()
        await held.start()
        await r.other.execute("UPDATE help_requests SET handled_at = $1 WHERE campaign_id = $2 AND household_id = $3",
                              r.clock.now(), cid, hid)
        assert await asyncio.wait_for(r.store.replies.claim_unhandled_help(r.clock.now()), 5) == []
        await held.rollback()
        assert await r.store.replies.claim_unhandled_help(r.clock.now()) == [(cid, hid)]


def test_asyncpg_words_for_a_connection_the_server_ended_are_a_lost_connection() -> None:
    """QA's line (`pg_terminate_backend` during a first wave): "cannot switch to state 15; another operation
    (2) is in progress" is asyncpg's protocol left waiting for the end of the FATAL it got while idle, not two
    coroutines on one connection (that one reads "cannot perform operation: …", and stays a fault)."""
    assert connection_lost(asyncpg.InternalClientError("cannot switch to state 15; another operation (2) is in progress"))
    assert connection_lost(asyncpg.InterfaceError("cannot call Transaction.__aexit__(): the underlying connection is closed"))
    assert connection_lost(asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"))
    assert not connection_lost(asyncpg.InterfaceError("cannot perform operation: another operation is in progress"))
    assert not connection_lost(asyncpg.InternalClientError("cannot switch to state 15; another operation (12) is in progress"))
    assert not connection_lost(asyncpg.ReadOnlySQLTransactionError("cannot execute INSERT in a read-only transaction"))


@contextlib.asynccontextmanager
async def _terminated_at(monkeypatch: pytest.MonkeyPatch, prefix: str) -> AsyncIterator[list[int]]:
    """The first statement of the store that starts with `prefix` finds its connection ended by the server,
    as `pg_terminate_backend` from psql does (waited for: the backend is gone before the statement goes);
    yields the pids ended."""
    admin = await asyncpg.connect(f"{SERVER}/{TEST_DB}")
    ended: list[int] = []
    run = PgConn.run

    async def terminating(self: PgConn, sql: str, params: Any = ()) -> Any:
        if sql.lstrip().startswith(prefix) and not ended:
            ended.append(self.raw.get_server_pid())
            assert await admin.fetchval("SELECT pg_terminate_backend($1, 10000)", ended[0])
        return await run(self, sql, params)

    monkeypatch.setattr(PgConn, "run", terminating)
    try:
        yield ended
    finally:
        monkeypatch.undo()
        await admin.close()


async def test_a_connection_ended_mid_write_is_a_lost_connection_retried_not_a_fault(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """QA: `pg_terminate_backend` of the dispatcher's connections during a first wave logged store_write_failed
    at error and ladder_tick_failed with a stack trace inside the JSON, though nothing was lost. Here the
    ladder's write of a step's progress finds its backend ended: the store says the connection was lost
    (info: the caller says what it does about it), the ladder a warning without a trace, and its next tick
    does the step; nothing at error level."""
    clock = FakeClock()
    async with pg_store(tmp_path, clock) as store:
        assert isinstance(store, PostgresStore)
        await seed(store)
        cid = await running_campaign(store)
        campaign = await store.campaigns.get(cid)
        assert campaign is not None
        await clock.advance(campaign.ladder[1].after_seconds)  # step 1 is due
        ladder = LadderScheduler(store.campaigns, clock)
        with structlog.testing.capture_logs() as logs:
            async with _terminated_at(monkeypatch, "UPDATE campaign_ladder SET next_step") as ended:
                task = asyncio.ensure_future(ladder.run())
                # ticks on the fake clock until the step is recorded; bounded in real time, not in ticks: the
                # new connection after the ended one takes what the server takes (500 ticks ran out, 1 run in 4)
                deadline = time.monotonic() + 30
                while (await store.campaigns.ladder_progress(cid)).next_step < 2 and time.monotonic() < deadline:
                    await clock.advance(1)
                ladder.stop()
                await task
        # step 1 recorded (the clock may have reached step 2 too before the loop looked)
        assert ended and (await store.campaigns.ladder_progress(cid)).next_step >= 2
        events = [(e["event"], e["log_level"]) for e in logs]
        assert ("store_connection_lost", "info") in events
        retried = [e for e in logs if e["event"] == "ladder_tick_retried"]
        assert retried and retried[0]["log_level"] == "warning"
        assert "the connection to the database was lost" in retried[0]["error"]
        assert not [e for e in logs if e["log_level"] in ("error", "critical") or "exc_info" in e], logs
        assert store.healthy  # the next write worked: /readyz is fine again


async def test_a_transaction_whose_connection_is_ended_raises_connection_lost_and_writes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with pg_store(tmp_path, FakeClock()) as store:
        assert isinstance(store, PostgresStore)
        async with _terminated_at(monkeypatch, "INSERT INTO staff") as ended:
            with pytest.raises(ConnectionLost) as lost:
                await store.auth.add_staff("x", "X", Role.CITY_ADMIN, "city", None)
        assert ended and not lost.value.while_committing and not store.healthy
        await store.auth.add_staff("y", "Y", Role.CITY_ADMIN, "city", None)  # the pool opened another
        assert store.healthy and await store.auth.count_city_admins() == 1


async def test_a_consent_recorded_before_0120_is_stated_but_an_ordinary_households_yes() -> None:
    """0120 on PostgreSQL, as on SQLite (test_trust_migrations): before it nobody can tell a stated consent
    from a defaulted one, so an ordinary household's 同意 is taken for a default, every other for stated."""
    from safetynet.store.postgres import db as pg_db

    async with pg_schema() as url:
        db = await pg_db.PgDatabase.open(url, min_size=1, max_size=1, migrate=False)
        try:
            await db.migrate([m for m in pg_db._migrations() if m[0] < 120])
            async with db.pool.acquire() as con:
                await con.execute(
                    "INSERT INTO districts (name) VALUES ('北');"
                    "INSERT INTO associations (district_id, name) SELECT id, '桜町' FROM districts;"
                    "INSERT INTO households (association_id, household_key, name, vulnerable, consent, created_at,"
                    " updated_at) SELECT a.id, k, 'n', v, c, 0, 0 FROM associations a, (VALUES ('k1', 0, 'yes'),"
                    " ('k2', 0, 'no'), ('k3', 0, 'ordinance'), ('k4', 1, 'yes'), ('k5', 1, 'no'), ('k6', 1, 'ordinance'))"
                    " AS t (k, v, c)")
            await db.migrate()
            async with db.pool.acquire() as con:
                got = await con.fetch("SELECT household_key, consent_stated FROM households ORDER BY household_key")
                assert [tuple(r) for r in got] == [("k1", 0), ("k2", 1), ("k3", 1), ("k4", 1), ("k5", 1), ("k6", 1)]
                with pytest.raises(asyncpg.CheckViolationError):
                    await con.execute("UPDATE households SET consent_stated = 2")
        finally:
            await db.close()

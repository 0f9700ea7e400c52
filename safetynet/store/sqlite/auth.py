"""Staff accounts (and their contacts), login sessions and API tokens."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping, Sequence

from safetynet.clock import Clock
from safetynet.domain import MAX_DEPUTIES_PER_ASSOCIATION, Role
from safetynet.domain.campaigns import ChannelRoutes
from safetynet.domain.roster import (
    ApiToken,
    Staff,
    StaffContactReach,
    StaffError,
    StaffRemoval,
    check_login,
    check_staff_name,
    check_token_label,
)
from safetynet.store.errors import StoreError
from safetynet.store.rules import (
    LAST_USED_EVERY_SECONDS,
    STAFF_CONTACT_CHANGED,
    STAFF_REACHED_STATES,
    STAFF_REFUSED_STATES,
    STAFF_REMOVED,
    staff_alerts_readdressed,
)
from safetynet.store.sqlite.db import Conn, Database, Row, marks


def _staff(row: Row) -> Staff:
    return Staff(
        id=row["id"],
        login=row["login"],
        display_name=row["display_name"],
        role=Role(row["role"]),
        scope=row["scope"],
        language=row["language"],
        active=bool(row["active"]),
    )


_STAFF_COLS = "id, login, display_name, role, scope, language, active"
_SESSION_STAFF_COLS = ", ".join(f"s.{c.strip()}" for c in _STAFF_COLS.split(","))
_API_TOKEN_COLUMNS = "id, role, scope, label, created_at, expires_at, last_used_at, revoked_at, created_by"  # noqa: S105 - column names


def _api_token(row: Row) -> ApiToken:
    return ApiToken(id=row["id"], role=Role(row["role"]), scope=row["scope"], label=row["label"],
                    created_at=row["created_at"], expires_at=row["expires_at"], last_used_at=row["last_used_at"],
                    revoked_at=row["revoked_at"], created_by=row["created_by"])


def _quoted(states: Sequence[str]) -> str:
    return ", ".join(f"'{s}'" for s in states)


# Per staff contact, its newest alert with an outcome: walked newest first through deliveries_staff_address
# (staff_id, address, id), stopping at the first row of a final state (almost always the newest itself).
_CONTACT_REACH_SQL = (
    "SELECT c.staff_id, c.kind, c.address, d.state, d.error, d.updated_at"
    " FROM staff_contacts c JOIN deliveries d ON d.id = ("
    "  SELECT x.id FROM deliveries x WHERE x.staff_id = c.staff_id AND x.address = c.address"
    f"  AND x.staff_id IS NOT NULL AND x.state IN ({_quoted(STAFF_REACHED_STATES + STAFF_REFUSED_STATES)})"
    "  ORDER BY x.id DESC LIMIT 1)"
    " ORDER BY c.staff_id, c.id"
)


class AuthStore:
    def __init__(self, db: Database, clock: Clock, routes: ChannelRoutes) -> None:
        """`routes`: which channels send to which contact kind (a staff alert's channel and address
        against its recipient's contacts)."""
        self.db = db
        self.clock = clock
        self.routes = routes
        self._last_used_written: dict[int, float] = {}  # token id -> when its last_used_at was written

    # -- staff -----------------------------------------------------------------

    async def scope_exists(self, scope: str) -> bool:
        kind, _, name = scope.partition(":")
        if kind == "city":
            return True
        table = {"district": "districts", "association": "associations"}.get(kind)
        if table is None:
            return False
        return await self.db.fetchval(f"SELECT 1 FROM {table} WHERE name = ?", (name,)) is not None

    async def add_staff(
        self,
        login: str,
        display_name: str,
        role: Role,
        scope: str,
        password_hash: str | None,
        contacts: Sequence[tuple[str, str]] = (),
        language: str = "ja",
    ) -> Staff:
        """A new staff member with their contacts ((kind, address), each already in its kind's form:
        the caller normalises); StaffError for a login taken or a fourth deputy, StaffInputError for a login
        or name that breaks the rules (domain.roster.check_login, check_staff_name)."""
        check_login(login)  # every way a staff member is made (the CLI, the admin page) obeys one rule
        check_staff_name(display_name)
        wanted = [(kind, address) for kind, address in contacts if address]
        async with self.db.transaction() as conn:
            async with conn.execute("SELECT 1 FROM staff WHERE login = ?", (login,)) as cur:
                if await cur.fetchone():
                    raise StaffError(f"login {login!r} already exists", "staff.error.login_taken", login=login)
            if role == Role.DEPUTY:
                async with conn.execute(
                    "SELECT count(*) FROM staff WHERE role = 'deputy' AND scope = ? AND active = 1", (scope,)
                ) as cur:
                    row = await cur.fetchone()
                if row and row[0] >= MAX_DEPUTIES_PER_ASSOCIATION:
                    raise StaffError(
                        f"{scope} already has {MAX_DEPUTIES_PER_ASSOCIATION} deputies; remove one first",
                        "staff.error.deputies_full", association=scope.partition(":")[2],
                        limit=MAX_DEPUTIES_PER_ASSOCIATION)
            now = self.clock.now()
            cur2 = await conn.execute(
                "INSERT INTO staff (login, display_name, role, scope, password_hash, language, created_at)"
                " VALUES (?,?,?,?,?,?,?)",
                (login, display_name, str(role), scope, password_hash, language, now),
            )
            staff_id = cur2.lastrowid
            await conn.executemany(
                "INSERT OR IGNORE INTO staff_contacts (staff_id, kind, address, created_at) VALUES (?,?,?,?)",
                [(staff_id, kind, address, now) for kind, address in wanted],
            )
        found = await self.staff_by_id(int(staff_id or 0))
        assert found is not None
        return found

    async def remove_staff(self, login: str) -> StaffRemoval | None:
        async with self.db.transaction() as conn:
            # the row first, by the DELETE itself: of two removals at once (/admin and the command line, on
            # PostgreSQL's read committed) the second finds nothing and says so, not a second removal (review)
            async with conn.execute("DELETE FROM staff WHERE login = ? RETURNING id, role", (login,)) as cur:
                row = await cur.fetchone()
            if row is None:
                return None
            staff_id = int(row[0])
            # no foreign key holds deliveries to staff (an alert sent stays on record): their queued
            # alerts are dropped here, with them, so that no dispatcher claims one afterwards
            dropped = await conn.execute(
                "UPDATE deliveries SET state = 'skipped', error = ?, updated_at = ?"
                " WHERE staff_id = ? AND state = 'queued'", (STAFF_REMOVED, self.clock.now(), staff_id))
            async with conn.execute(
                "SELECT id FROM api_tokens WHERE created_by = ? AND revoked_at IS NULL"
                " AND (expires_at IS NULL OR expires_at > ?) ORDER BY id", (staff_id, self.clock.now())) as cur:
                tokens = tuple(int(r[0]) for r in await cur.fetchall())
            return StaffRemoval(staff_id, Role(row[1]), alerts_dropped=max(0, dropped.rowcount), live_tokens=tokens)

    async def _with_contacts(self, staff: list[Staff]) -> list[Staff]:
        if not staff:
            return staff
        ids = [s.id for s in staff]
        found: dict[int, list[tuple[str, str]]] = defaultdict(list)
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            for staff_id, kind, address in await self.db.fetchall(
                f"SELECT staff_id, kind, address FROM staff_contacts WHERE staff_id IN ({','.join('?' * len(chunk))})"
                " ORDER BY id", chunk,
            ):
                found[staff_id].append((kind, address))
        return [dataclasses.replace(s, contacts=tuple(found.get(s.id, ()))) for s in staff]

    async def list_staff(self) -> list[Staff]:
        rows = await self.db.fetchall(f"SELECT {_STAFF_COLS} FROM staff ORDER BY role, scope, login")
        return await self._with_contacts([_staff(r) for r in rows])

    async def staff_by_id(self, staff_id: int) -> Staff | None:
        row = await self.db.fetchone(f"SELECT {_STAFF_COLS} FROM staff WHERE id = ?", (staff_id,))
        return (await self._with_contacts([_staff(row)]))[0] if row else None

    async def staff_by_login(self, login: str) -> tuple[Staff, str | None] | None:
        row = await self.db.fetchone(f"SELECT {_STAFF_COLS}, password_hash FROM staff WHERE login = ?", (login,))
        return ((await self._with_contacts([_staff(row)]))[0], row["password_hash"]) if row else None

    async def staff_for_association(self, association: str, district: str) -> list[Staff]:
        """Heads and deputies of an association (the people a need-help alert goes to)."""
        rows = await self.db.fetchall(
            f"SELECT {_STAFF_COLS} FROM staff WHERE active = 1 AND role IN ('association_head', 'deputy')"
            " AND scope = ? ORDER BY role, id",
            (f"association:{association}",),
        )
        return await self._with_contacts([_staff(r) for r in rows])

    async def set_password(self, login: str, password_hash: str) -> bool:
        async with self.db.transaction() as conn:
            cur = await conn.execute("UPDATE staff SET password_hash = ? WHERE login = ?", (password_hash, login))
            if cur.rowcount == 0:
                return False
            await conn.execute("DELETE FROM staff_sessions WHERE staff_id = (SELECT id FROM staff WHERE login = ?)",
                               (login,))
            return True

    async def add_staff_contact(self, staff_id: int, kind: str, address: str) -> None:
        """Another contact of a staff member (already in its kind's form: the caller normalises);
        the same one again changes nothing. StaffError for an unknown staff member."""
        async with self.db.transaction() as conn:
            async with conn.execute("SELECT 1 FROM staff WHERE id = ?", (staff_id,)) as cur:
                if await cur.fetchone() is None:
                    raise StaffError(f"no staff member {staff_id}")
            await conn.execute(
                "INSERT OR IGNORE INTO staff_contacts (staff_id, kind, address, created_at) VALUES (?,?,?,?)",
                (staff_id, kind, address, self.clock.now()))

    async def remove_staff_contact(self, staff_id: int, kind: str, address: str) -> bool:
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "DELETE FROM staff_contacts WHERE staff_id = ? AND kind = ? AND address = ?", (staff_id, kind, address))
            if cur.rowcount <= 0:
                return False
            await self._drop_readdressed(conn, staff_id)
            return True

    async def set_staff_contacts(self, staff_id: int, contacts: Mapping[str, str | None]) -> Staff:
        now = self.clock.now()
        async with self.db.transaction() as conn:
            async with conn.execute("SELECT 1 FROM staff WHERE id = ?", (staff_id,)) as cur:
                if await cur.fetchone() is None:
                    raise StaffError(f"no staff member {staff_id}")
            await conn.executemany("DELETE FROM staff_contacts WHERE staff_id = ? AND kind = ?",
                                   [(staff_id, kind) for kind in sorted(contacts)])
            await conn.executemany(
                "INSERT INTO staff_contacts (staff_id, kind, address, created_at) VALUES (?,?,?,?)",
                [(staff_id, kind, address, now) for kind, address in sorted(contacts.items()) if address])
            await self._drop_readdressed(conn, staff_id)
        found = await self.staff_by_id(staff_id)
        if found is None:  # removed by another admin since the commit
            raise StaffError(f"no staff member {staff_id}")
        return found

    async def _drop_readdressed(self, conn: Conn, staff_id: int) -> int:
        """In the transaction that changed a staff member's contacts: their alerts not yet sent (queued,
        or waiting to retry) to an address no longer theirs are skipped, as a removal skips a removed
        member's (review: a deputy's lost phone, replaced on /admin, still got a household's name,
        address and phones, and the new one nothing). A claimed one is the dispatcher's to drop. Returns
        how many."""
        async with conn.execute("SELECT kind, address FROM staff_contacts WHERE staff_id = ?", (staff_id,)) as cur:
            contacts = [(str(r[0]), str(r[1])) for r in await cur.fetchall()]
        async with conn.execute(
                "SELECT id, channel, address FROM deliveries WHERE staff_id = ? AND state = 'queued'",
                (staff_id,)) as cur:
            unsent = [(int(r[0]), str(r[1]), r[2]) for r in await cur.fetchall()]
        stale = staff_alerts_readdressed(unsent, contacts, self.routes.of_kind)
        if not stale:
            return 0
        # `state = 'queued'` again: on PostgreSQL a dispatcher may have claimed one since the read
        cur = await conn.execute(
            "UPDATE deliveries SET state = 'skipped', error = ?, updated_at = ?"
            f" WHERE state = 'queued' AND id IN ({marks(len(stale))})",
            (STAFF_CONTACT_CHANGED, self.clock.now(), *stale))
        return max(0, cur.rowcount)

    async def staff_contact_reach(self) -> list[StaffContactReach]:
        return [StaffContactReach(int(staff_id), kind, address, state in STAFF_REACHED_STATES, float(at), error)
                for staff_id, kind, address, state, error, at in await self.db.fetchall(_CONTACT_REACH_SQL)]

    async def count_city_admins(self) -> int:
        return int(await self.db.fetchval("SELECT count(*) FROM staff WHERE role = 'city_admin'", (), 0))

    # -- sessions ---------------------------------------------------------------

    async def create_session(self, token_hash: str, staff_id: int, csrf_token: str, ttl_seconds: float) -> None:
        now = self.clock.now()
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM staff_sessions WHERE expires_at < ?", (now,))
            await conn.execute(
                "INSERT INTO staff_sessions VALUES (?,?,?,?,?)", (token_hash, staff_id, csrf_token, now, now + ttl_seconds)
            )

    async def session(self, token_hash: str) -> tuple[Staff, str] | None:
        # every staff request asks this: one trip, on the staff pages' own reader
        row = await self.db.staff.fetchone(
            f"SELECT {_SESSION_STAFF_COLS}, ss.csrf_token FROM staff_sessions ss JOIN staff s ON s.id = ss.staff_id"
            " WHERE ss.token_hash = ? AND ss.expires_at > ?",
            (token_hash, self.clock.now()),
        )
        if row is None:
            return None
        staff = _staff(row)
        if not staff.active:
            return None
        return staff, row["csrf_token"]

    async def delete_session(self, token_hash: str) -> None:
        await self.db.execute("DELETE FROM staff_sessions WHERE token_hash = ?", (token_hash,))

    # -- API tokens -------------------------------------------------------------

    async def create_api_token(self, token_hash: str, role: Role, scope: str, label: str = "",
                               expires_at: float | None = None, created_by: int | None = None) -> int:
        check_token_label(label)  # every way a token is made (the CLI, the admin page) obeys one rule
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "INSERT INTO api_tokens (token_hash, role, scope, label, created_at, expires_at, created_by)"
                " VALUES (?,?,?,?,?,?,?)",
                (token_hash, str(role), scope, label, self.clock.now(), expires_at, created_by),
            )
            return int(cur.lastrowid or 0)

    async def api_token(self, token_hash: str) -> ApiToken | None:
        """The token with this hash if it may be used now: not revoked, not expired."""
        row = await self.db.staff.fetchone(
            f"SELECT {_API_TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL"
            " AND (expires_at IS NULL OR expires_at > ?)", (token_hash, self.clock.now())
        )
        return _api_token(row) if row else None

    async def list_api_tokens(self) -> list[ApiToken]:
        rows = await self.db.staff.fetchall(f"SELECT {_API_TOKEN_COLUMNS} FROM api_tokens ORDER BY id")
        return [_api_token(r) for r in rows]

    async def token_used(self, token_id: int) -> None:
        """Records that the token was just used (at most once a minute per token; never fails a request)."""
        now = self.clock.now()
        if now - self._last_used_written.get(token_id, float("-inf")) < LAST_USED_EVERY_SECONDS:
            return
        self._last_used_written[token_id] = now
        if len(self._last_used_written) > 10_000:  # tokens are few; this only bounds a pathological case
            self._last_used_written = {token_id: now}
        try:
            await self.db.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (now, token_id))
        except StoreError:
            pass  # the request itself is a read; a store that cannot write says so on the writes that matter

    async def revoke_api_token(self, token_id: int) -> bool:
        return (
            await self.db.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (self.clock.now(), token_id)
            )
            > 0
        )

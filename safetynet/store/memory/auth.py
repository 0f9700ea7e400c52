"""Staff accounts, login sessions and API tokens in memory (`AuthRepo`)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from safetynet.domain import MAX_DEPUTIES_PER_ASSOCIATION, Role
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
from safetynet.store.memory.tables import ApiTokenRow, DeliveryRow, StaffContactRow, StaffRow, Tables
from safetynet.store.rules import (
    LAST_USED_EVERY_SECONDS,
    STAFF_CONTACT_CHANGED,
    STAFF_REACHED_STATES,
    STAFF_REFUSED_STATES,
    STAFF_REMOVED,
    staff_alerts_readdressed,
)


def _staff(row: StaffRow, t: Tables | None = None) -> Staff:
    """The staff member; with `t`, with their contacts (the staff lists load them, a session check not)."""
    contacts = () if t is None else tuple(
        (c.kind, c.address) for c in sorted(t.staff_contacts.values(), key=lambda c: c.id) if c.staff_id == row.id)
    return Staff(id=row.id, login=row.login, display_name=row.display_name, role=Role(row.role), scope=row.scope,
                 language=row.language, active=row.active, contacts=contacts)


def _token(token_id: int, r: ApiTokenRow) -> ApiToken:
    return ApiToken(token_id, Role(r.role), r.scope, r.label, r.created_at, r.expires_at, r.last_used_at,
                    r.revoked_at, r.created_by)


class MemoryAuth:
    def __init__(self, t: Tables) -> None:
        self.t = t
        self._last_used_written: dict[int, float] = {}  # token id -> when its last_used_at was written

    # -- staff -------------------------------------------------------------------------------

    async def scope_exists(self, scope: str) -> bool:
        await asyncio.sleep(0)
        kind, _, name = scope.partition(":")
        if kind == "city":
            return True
        if kind == "district":
            return name in self.t.districts.values()
        if kind == "association":
            return self.t.association_named(name) is not None
        return False

    async def add_staff(
        self, login: str, display_name: str, role: Role, scope: str, password_hash: str | None,
        contacts: Sequence[tuple[str, str]] = (), language: str = "ja",
    ) -> Staff:
        check_login(login)  # every way a staff member is made (the CLI, the admin page) obeys one rule
        check_staff_name(display_name)
        await self.t.write()
        rows = self.t.staff.values()
        if any(s.login == login for s in rows):
            raise StaffError(f"login {login!r} already exists", "staff.error.login_taken", login=login)
        if role == Role.DEPUTY:
            deputies = sum(1 for s in rows if s.role == "deputy" and s.scope == scope and s.active)
            if deputies >= MAX_DEPUTIES_PER_ASSOCIATION:
                raise StaffError(f"{scope} already has {MAX_DEPUTIES_PER_ASSOCIATION} deputies; remove one first",
                                 "staff.error.deputies_full", association=scope.partition(":")[2],
                                 limit=MAX_DEPUTIES_PER_ASSOCIATION)
        now = self.t.clock.now()
        row = StaffRow(self.t.next_id("staff"), login, display_name, str(role), scope, password_hash, language, now)
        self.t.staff[row.id] = row
        for kind, address in contacts:
            if address:
                self._add_contact(row.id, kind, address, now)
        return _staff(row, self.t)

    def _add_contact(self, staff_id: int, kind: str, address: str, now: float) -> None:
        if not any(c.staff_id == staff_id and c.kind == kind and c.address == address
                   for c in self.t.staff_contacts.values()):
            cid = self.t.next_id("staff_contacts")
            self.t.staff_contacts[cid] = StaffContactRow(cid, staff_id, kind, address, now)

    async def remove_staff(self, login: str) -> StaffRemoval | None:
        await self.t.write()
        row = next((s for s in self.t.staff.values() if s.login == login), None)
        if row is None:
            return None
        now, dropped = self.t.clock.now(), 0
        for d in self.t.deliveries.values():  # their alerts no dispatcher claimed yet go with them
            if d.staff_id == row.id and d.state == "queued":
                d.state, d.error, d.updated_at = "skipped", STAFF_REMOVED, now
                dropped += 1
        del self.t.staff[row.id]
        for cid in [c.id for c in self.t.staff_contacts.values() if c.staff_id == row.id]:
            del self.t.staff_contacts[cid]
        self._end_sessions(row.id)
        tokens = tuple(sorted(i for i, tok in self.t.api_tokens.items()
                              if tok.created_by == row.id and _token(i, tok).usable(now)))
        return StaffRemoval(row.id, Role(row.role), alerts_dropped=dropped, live_tokens=tokens)

    def _end_sessions(self, staff_id: int) -> None:
        for token in [k for k, v in self.t.sessions.items() if v[0] == staff_id]:
            del self.t.sessions[token]

    async def list_staff(self) -> list[Staff]:
        await asyncio.sleep(0)
        return [_staff(s, self.t) for s in sorted(self.t.staff.values(), key=lambda s: (s.role, s.scope, s.login))]

    async def staff_by_id(self, staff_id: int) -> Staff | None:
        await asyncio.sleep(0)
        row = self.t.staff.get(staff_id)
        return _staff(row, self.t) if row is not None else None

    async def staff_by_login(self, login: str) -> tuple[Staff, str | None] | None:
        await asyncio.sleep(0)
        row = next((s for s in self.t.staff.values() if s.login == login), None)
        return (_staff(row, self.t), row.password_hash) if row is not None else None

    async def staff_for_association(self, association: str, district: str) -> list[Staff]:
        await asyncio.sleep(0)
        scope = f"association:{association}"
        found = [s for s in self.t.staff.values()
                 if s.active and s.role in ("association_head", "deputy") and s.scope == scope]
        return [_staff(s, self.t) for s in sorted(found, key=lambda s: (s.role, s.id))]

    async def set_password(self, login: str, password_hash: str) -> bool:
        await self.t.write()
        row = next((s for s in self.t.staff.values() if s.login == login), None)
        if row is None:
            return False
        row.password_hash = password_hash
        self._end_sessions(row.id)
        return True

    async def add_staff_contact(self, staff_id: int, kind: str, address: str) -> None:
        await self.t.write()
        if staff_id not in self.t.staff:
            raise StaffError(f"no staff member {staff_id}")
        self._add_contact(staff_id, kind, address, self.t.clock.now())

    async def remove_staff_contact(self, staff_id: int, kind: str, address: str) -> bool:
        await self.t.write()
        found = [c.id for c in self.t.staff_contacts.values()
                 if c.staff_id == staff_id and c.kind == kind and c.address == address]
        for cid in found:
            del self.t.staff_contacts[cid]
        if found:
            self._drop_readdressed(staff_id)
        return bool(found)

    async def set_staff_contacts(self, staff_id: int, contacts: Mapping[str, str | None]) -> Staff:
        await self.t.write()
        if staff_id not in self.t.staff:
            raise StaffError(f"no staff member {staff_id}")
        for cid in [c.id for c in self.t.staff_contacts.values() if c.staff_id == staff_id and c.kind in contacts]:
            del self.t.staff_contacts[cid]
        now = self.t.clock.now()
        for kind, address in sorted(contacts.items()):
            if address:
                self._add_contact(staff_id, kind, address, now)
        self._drop_readdressed(staff_id)
        return _staff(self.t.staff[staff_id], self.t)

    def _drop_readdressed(self, staff_id: int) -> int:
        """Their alerts not yet sent to an address no longer theirs are skipped (see the SQLite store's)."""
        contacts = [(c.kind, c.address) for c in self.t.staff_contacts.values() if c.staff_id == staff_id]
        unsent = {d.id: d for d in self.t.deliveries.values() if d.staff_id == staff_id and d.state == "queued"}
        stale = staff_alerts_readdressed(((d.id, d.channel, d.address) for d in unsent.values()), contacts,
                                         self.t.routes.of_kind)
        now = self.t.clock.now()
        for i in stale:
            unsent[i].state, unsent[i].error, unsent[i].updated_at = "skipped", STAFF_CONTACT_CHANGED, now
        return len(stale)

    async def staff_contact_reach(self) -> list[StaffContactReach]:
        await asyncio.sleep(0)
        final = STAFF_REACHED_STATES + STAFF_REFUSED_STATES
        last: dict[tuple[int, str], DeliveryRow] = {}
        for d in sorted(self.t.deliveries.values(), key=lambda d: d.id):
            if d.staff_id is not None and d.address is not None and d.state in final:
                last[(d.staff_id, d.address)] = d
        out = []
        for c in sorted(self.t.staff_contacts.values(), key=lambda c: (c.staff_id, c.id)):
            if (found := last.get((c.staff_id, c.address))) is not None:
                out.append(StaffContactReach(c.staff_id, c.kind, c.address, found.state in STAFF_REACHED_STATES,
                                             found.updated_at, found.error))
        return out

    async def count_city_admins(self) -> int:
        await asyncio.sleep(0)
        return sum(1 for s in self.t.staff.values() if s.role == "city_admin")

    # -- sessions ----------------------------------------------------------------------------

    async def create_session(self, token_hash: str, staff_id: int, csrf_token: str, ttl_seconds: float) -> None:
        await self.t.write()
        now = self.t.clock.now()
        for token in [k for k, v in self.t.sessions.items() if v[3] < now]:
            del self.t.sessions[token]
        if token_hash in self.t.sessions or staff_id not in self.t.staff:
            raise StoreError("session not created: token taken or staff unknown")
        self.t.sessions[token_hash] = (staff_id, csrf_token, now, now + ttl_seconds)

    async def session(self, token_hash: str) -> tuple[Staff, str] | None:
        await asyncio.sleep(0)
        found = self.t.sessions.get(token_hash)
        if found is None or found[3] <= self.t.clock.now():
            return None
        row = self.t.staff.get(found[0])
        if row is None or not row.active:
            return None
        return _staff(row), found[1]

    async def delete_session(self, token_hash: str) -> None:
        await self.t.write()
        self.t.sessions.pop(token_hash, None)

    # -- API tokens --------------------------------------------------------------------------

    async def create_api_token(
        self, token_hash: str, role: Role, scope: str, label: str = "", expires_at: float | None = None,
        created_by: int | None = None,
    ) -> int:
        check_token_label(label)  # every way a token is made (the CLI, the admin page) obeys one rule
        await self.t.write()
        if any(r.token_hash == token_hash for r in self.t.api_tokens.values()):
            raise StoreError("API token not created: its hash is taken")
        token_id = self.t.next_id("api_tokens")
        self.t.api_tokens[token_id] = ApiTokenRow(token_hash, str(role), scope, label, self.t.clock.now(),
                                                  expires_at=expires_at, created_by=created_by)
        return token_id

    async def api_token(self, token_hash: str) -> ApiToken | None:
        await asyncio.sleep(0)
        now = self.t.clock.now()
        for token_id, r in self.t.api_tokens.items():
            if r.token_hash == token_hash:
                token = _token(token_id, r)
                return token if token.usable(now) else None
        return None

    async def list_api_tokens(self) -> list[ApiToken]:
        await asyncio.sleep(0)
        return [_token(token_id, r) for token_id, r in sorted(self.t.api_tokens.items())]

    async def token_used(self, token_id: int) -> None:
        now = self.t.clock.now()
        if now - self._last_used_written.get(token_id, float("-inf")) < LAST_USED_EVERY_SECONDS:
            return
        self._last_used_written[token_id] = now
        try:
            await self.t.write()
        except StoreError:
            return  # the request itself is a read
        r = self.t.api_tokens.get(token_id)
        if r is not None:
            r.last_used_at = now

    async def revoke_api_token(self, token_id: int) -> bool:
        await self.t.write()
        r = self.t.api_tokens.get(token_id)
        if r is None or r.revoked_at is not None:
            return False
        r.revoked_at = self.t.clock.now()
        return True

"""Campaign scopes ('city', 'district:N', 'association:N', 'group:ASSOCIATION/GROUP') as SQL."""

from __future__ import annotations

from collections.abc import Iterable

from safetynet.domain.roster import UnknownScopeError
from safetynet.store.sqlite.db import Database, marks


async def _district(db: Database, name: str) -> list[int]:
    rows = await db.fetchall(
        "SELECT a.id FROM associations a JOIN districts d ON d.id = a.district_id WHERE d.name = ?", (name,)
    )
    if not rows:
        raise UnknownScopeError(f"unknown district: {name}", "district", name)
    return [int(r[0]) for r in rows]


async def _association(db: Database, name: str) -> int:
    row = await db.fetchone("SELECT id FROM associations WHERE name = ?", (name,))
    if row is None:
        raise UnknownScopeError(f"unknown association: {name}", "association", name)
    return int(row[0])


async def _group(db: Database, spec: str) -> int:
    assoc, sep, group = spec.partition("/")
    row = await db.fetchone(
        "SELECT g.id FROM household_groups g JOIN associations a ON a.id = g.association_id"
        " WHERE a.name = ? AND g.name = ?",
        (assoc, group),
    )
    if not sep or row is None:
        raise UnknownScopeError(f"unknown group: {spec} (write group:ASSOCIATION/GROUP)", "group", spec)
    return int(row[0])


async def scope_filter(db: Database, scopes: Iterable[str]) -> tuple[str, list[int]]:
    """A condition on households `h` and its parameters; raises UnknownScopeError for a name
    the roster does not have. Several scopes mean their union."""
    assoc_ids: list[int] = []
    group_ids: list[int] = []
    for raw in [scopes] if isinstance(scopes, str) else scopes:
        scope = str(raw).strip()
        kind, _, name = scope.partition(":")
        if scope == "city":
            return "1 = 1", []
        if kind == "district":
            assoc_ids += await _district(db, name)
        elif kind == "association":
            assoc_ids.append(await _association(db, name))
        elif kind == "group":
            group_ids.append(await _group(db, name))
        else:
            raise UnknownScopeError(
                f"scope must be city, district:NAME, association:NAME or group:A/G: {scope!r}"
            )
    # The unary + keeps SQLite from answering through the (association_id, household_key) index:
    # callers page through households in id order, and an index search would sort the whole
    # scope again for every page. A rowid scan stops as soon as a page is full.
    parts = []
    if assoc_ids:
        parts.append(f"+h.association_id IN ({marks(len(assoc_ids))})")
    if group_ids:
        parts.append(f"+h.group_id IN ({marks(len(group_ids))})")
    return "(" + (" OR ".join(parts) or "1 = 0") + ")", assoc_ids + group_ids

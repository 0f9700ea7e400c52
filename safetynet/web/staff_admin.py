"""The admin console (`/admin`): city admins add and remove staff, and create, list and revoke API tokens.

Only a city admin logged in with a session sees it; anyone else gets the same 404 as for a page
that does not exist. New passwords and tokens are shown once, on a no-store page.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from aiohttp import web
from multidict import MultiDictProxy

from safetynet import i18n
from safetynet.auth import (
    MAX_TOKEN_DAYS,
    Viewer,
    hash_password,
    new_token,
    removal_log_fields,
    token_expiry,
    token_hash,
    token_maker,
    validate_role_scope,
)
from safetynet.channels import registry
from safetynet.domain import Role, Scope
from safetynet.domain.audit import AuditAction
from safetynet.domain.roster import Staff, StaffError, StaffInputError, check_token_label, new_contacts_of
from safetynet.domain.vocabulary import CAMPAIGN_ROLES, default_scope_kind
from safetynet.i18n import SaidError, Sayable, Term, Text
from safetynet.i18n.scopes import scope_label
from safetynet.i18n.terms import scope_word
from safetynet.passwords import MIN_LENGTH, PasswordError, check_password
from safetynet.web.app import check_csrf, require_viewer, services
from safetynet.web.audit_api import record
from safetynet.web.bodies import read_form
from safetynet.web.dash_shell import not_found, reads, refused, render, when
from safetynet.web.dash_text import lang_of, t
from safetynet.web.ids import parse_id
from safetynet.web.staff_reach import reach_words

log = structlog.get_logger("web")

# The roles that start or approve campaigns (`CAMPAIGN_ROLES`): added by the operator at the server
# (`safetynet staff add --role …`, in the audit log as the command line's user), never on this page, where
# one city admin could add a second account and be both people.
AT_THE_SERVER = frozenset(str(r) for r in CAMPAIGN_ROLES)


def _admin(request: web.Request) -> Viewer:
    viewer = require_viewer(request)
    if not viewer.is_city_admin or viewer.staff_id is None:
        raise not_found()
    return viewer


async def _scope_options(request: web.Request) -> list[str]:
    assocs = await reads(request).associations()
    districts = sorted({a.district for a in assocs})
    return ["city"] + [f"district:{d}" for d in districts] + [f"association:{a.name}" for a in assocs]


async def _console(request: web.Request, notice: str = "", secret: str = "", status: int = 200) -> web.Response:
    lang = lang_of(request)
    auth = services(request).store.auth
    staff = await auth.list_staff()
    context = {
        "notice": notice, "secret": secret, "staff": staff,
        # beside each contact, what the last alert sent to it came to: a head whose LINE blocked the bot is
        # refused every alert, and only this page says so before an event needs them
        "reach": reach_words(lang, await auth.staff_contact_reach()),
        "tokens": await _tokens(request, lang, staff),
        "roles": [(str(r), t(lang, "role_" + r)) for r in Role],
        # the roles that start or approve campaigns are added at the server (`add_staff`): the staff form
        # offers the others
        "staff_roles": [(str(r), t(lang, "role_" + r)) for r in Role if r not in AT_THE_SERVER],
        "scopes": [(s, scope_label(lang, s)) for s in await _scope_options(request)],
        "contact_fields": [(col.key, col.kind, _contact_label(lang, col.kind)) for col in registry.roster_columns()],
        "masked": registry.mask,
        "min_length": MIN_LENGTH, "max_days": MAX_TOKEN_DAYS, "scope_label": scope_label, "when": when,
    }
    return render(request, t(lang, "admin"), template="admin.html", context=context, status=status, no_store=True)


def _contact_label(lang: str, kind: str) -> str:
    return i18n.t(lang, registry.kind(kind).label_key)


def _contacts(form: Mapping[str, Any], lang: str) -> list[tuple[str, str]]:
    """(kind, address) of the filled contact fields, in their stored form; ValueError naming the
    field that is wrong."""
    out = []
    columns = registry.roster_columns()
    labels = {c.key: _contact_label(lang, c.kind) for c in columns}  # what a message names ("put it in …")
    for col in columns:
        value = str(form.get(f"contact_{col.key}", "")).strip()
        if value:
            try:
                out.append((col.kind, col.parse(value, labels)))
            except ValueError as e:
                raise ValueError(f"{labels[col.key]}: {e}") from None
    return out


async def _tokens(request: web.Request, lang: str, staff: Sequence[Staff]) -> list[tuple[Any, str, str]]:
    """Every token (never the token itself) with its state and maker: who it is for, when it ends, when
    used, who made it (「削除済み」 for a maker removed since: their tokens keep working, QA)."""
    now = services(request).clock.now()
    logins = {s.id: s.login for s in staff}
    return [(tok, "token_revoked" if tok.revoked_at is not None else "token_active" if tok.usable(now)
             else "token_expired", token_maker(tok.created_by, logins, t(lang, "token_maker_removed")))
            for tok in await services(request).store.auth.list_api_tokens()]


async def console(request: web.Request) -> web.Response:
    _admin(request)
    return await _console(request)


def _refused(request: web.Request, said: Sayable) -> web.Response:
    return refused(request, said, 400, back="/admin")


def _wanted_word(role: Role) -> Term:
    """The kind of scope a role goes with: `association:NAME` in English, 「町会」 else."""
    kind = default_scope_kind(role)
    if kind == "city":
        return Term("city", lambda lang: i18n.t(lang, "scope.city"))
    return Term(f"{kind}:NAME", lambda lang: t(lang, kind))


async def _role_scope(request: web.Request, form: MultiDictProxy[str]) -> tuple[Role, Scope]:
    """The form's role and scope; SaidError for what its lists do not offer, or a pair that does not go together."""
    try:
        role = Role(str(form.get("role", "")))
    except ValueError:
        raise SaidError("dash.role_not_offered") from None
    try:
        scope = Scope.parse(str(form.get("scope", "")))
    except ValueError:
        raise SaidError("dash.scope_not_offered") from None
    try:
        validate_role_scope(role, scope)
    except ValueError:
        raise SaidError("dash.role_scope", role=Term(str(role), lambda lang: t(lang, f"role_{role}")),
                            kind=_wanted_word(role), scope=scope_word(str(scope))) from None
    if not await services(request).store.auth.scope_exists(str(scope)):  # gone from the roster since the page
        raise SaidError("dash.scope_unknown", scope=scope_word(str(scope)))
    return role, scope


async def add_staff(request: web.Request) -> web.Response:
    viewer = _admin(request)
    form = await read_form(request)
    await check_csrf(request, form)
    lang = lang_of(request)
    login = str(form.get("login", "")).strip()
    if str(form.get("role", "")) in AT_THE_SERVER:
        # Review: one city admin added a second account here (a city admin, or a district head, who may
        # start a real event in their district), signed in as it and approved their own real event
        log.warning("staff_add_refused", role=str(form.get("role")))
        record(request, viewer, AuditAction.STAFF, "add_refused", detail=f"{login[:100]} {form.get('role')}")
        return refused(request, Text("dash.city_admin_at_the_server"), 403, back="/admin")
    try:
        role, scope = await _role_scope(request, form)
    except SaidError as e:
        return _refused(request, e)
    if not login or len(login) > 100:  # the form's own limits (required, maxlength)
        return _refused(request, Text("dash.login_required"))
    password = str(form.get("password", "")) or None
    generated = password is None
    if password is not None:
        try:
            check_password(password, login)
        except PasswordError as e:
            return await _console(request, notice=e.text(lang), status=400)
    password = password or secrets.token_urlsafe(12)
    try:
        contacts = _contacts(form, lang)
    except ValueError as e:
        return await _console(request, notice=str(e), status=400)
    try:
        staff = await services(request).store.auth.add_staff(
            login, str(form.get("display_name", "")).strip() or login, role, str(scope), hash_password(password),
            contacts=contacts,
        )
    except StaffError as e:  # said in the viewer's language, as the CLI does: a rule broken (400), a login
        # taken or an association's deputies full (409)
        notice = i18n.t(lang, e.key, **e.values) if e.key else str(e)
        return await _console(request, notice=notice, status=400 if isinstance(e, StaffInputError) else 409)
    log.info("staff_added", staff_id=staff.id, role=str(role))
    record(request, viewer, AuditAction.STAFF, "add", detail=f"{login} {role} {scope}")
    await _catch_up(request, staff)
    if generated:
        return await _console(request, notice=t(lang, "new_password", login=login), secret=password)
    return await _console(request, notice=t(lang, "added", login=login))


async def _catch_up(request: web.Request, staff: Staff | None) -> None:
    """The open calls for help of a new head's or deputy's association (or of one given a new address:
    `new_contacts_of`), queued to them (`catch_up`); a failure is logged: the account stands, and the
    dashboard shows the requests."""
    intake = services(request).intake
    if staff is None or intake is None or intake.notifier is None:
        return
    try:
        await intake.notifier.catch_up(staff)
    except Exception:
        log.exception("help_catch_up_failed", staff_id=staff.id)


async def remove_staff(request: web.Request) -> web.Response:
    viewer = _admin(request)
    form = await read_form(request)
    await check_csrf(request, form)
    lang = lang_of(request)
    login = str(form.get("login", ""))
    if login == viewer.login:
        return await _console(request, notice=t(lang, "cannot_remove_self"), status=409)
    removal = await services(request).store.auth.remove_staff(login)
    if removal is None:
        raise not_found()
    log.info("staff_removed", **removal_log_fields(removal, "admin"))
    record(request, viewer, AuditAction.STAFF, "remove", detail=login)
    notice = t(lang, "removed", login=login)
    if removal.live_tokens:  # kept (an integration's credential), and said, with where to revoke them
        notice += " " + t(lang, "removed_tokens", login=login, count=len(removal.live_tokens),
                          ids=", ".join(map(str, removal.live_tokens)))
    return await _console(request, notice=notice)


async def change_contacts(request: web.Request) -> web.Response:
    """A staff member's alert contacts changed: a filled field replaces that kind's address, a ticked
    box removes it, anything else stays. A head's new phone must not wait for their account to be
    removed and made anew (their login, password and sessions with it)."""
    viewer = _admin(request)
    form = await read_form(request)
    await check_csrf(request, form)
    lang = lang_of(request)
    login = str(form.get("login", ""))
    found = await services(request).store.auth.staff_by_login(login)
    if found is None:
        raise not_found()
    staff = found[0]
    try:
        filled = dict(_contacts(form, lang))
    except ValueError as e:
        return await _console(request, notice=str(e), status=400)
    cleared = {col.kind: None for col in registry.roster_columns()
               if form.get(f"clear_{col.key}") == "1" and col.kind not in filled}
    changes: dict[str, str | None] = {**cleared, **filled}
    if not changes:
        return await _console(request, notice=t(lang, "contacts_unchanged", login=login), status=400)
    try:
        changed = await services(request).store.auth.set_staff_contacts(staff.id, changes)
    except StaffError:  # removed by another admin meanwhile
        raise not_found() from None
    kinds = ",".join(sorted(changes))
    log.info("staff_contacts_changed", staff_id=staff.id, kinds=kinds)
    # which kinds, never the addresses: the audit log outlives a roster's retention
    record(request, viewer, AuditAction.STAFF, "contacts", detail=f"{login} {kinds}")
    await _catch_up(request, new_contacts_of(staff, changed))
    return await _console(request, notice=t(lang, "contacts_changed", login=login))


async def create_token(request: web.Request) -> web.Response:
    viewer = _admin(request)
    form = await read_form(request)
    await check_csrf(request, form)
    try:
        role, scope = await _role_scope(request, form)
    except SaidError as e:
        return _refused(request, e)
    lang = lang_of(request)
    days_text = str(form.get("expires_days", "")).strip()
    try:
        days = int(days_text) if days_text else None
        expires_at = token_expiry(services(request).clock.now(), days)
    except ValueError:
        return await _console(request, notice=t(lang, "bad_expires_days"), status=400)
    label = str(form.get("label", "")).strip()
    try:
        check_token_label(label)  # as `token create --label`: no control character, at most 200 characters
    except StaffInputError as e:
        return await _console(request, notice=i18n.t(lang, e.key, **e.values), status=400)
    token = new_token()
    token_id = await services(request).store.auth.create_api_token(token_hash(token), role, str(scope), label,
                                                                   expires_at, created_by=viewer.staff_id)
    log.info("api_token_created", token_id=token_id, role=str(role), expires_days=days, staff_id=viewer.staff_id)
    # a token reads and acts as its role on its scope: who made one, and who ended it, is on record
    record(request, viewer, AuditAction.TOKEN, "api_token", detail=f"created {token_id} {role} {scope}")
    return await _console(request, notice=t(lang, "new_token"), secret=token)


async def revoke_token(request: web.Request) -> web.Response:
    viewer = _admin(request)
    form = await read_form(request)
    await check_csrf(request, form)
    raw = str(form.get("id", ""))
    token_id = parse_id(raw)
    if token_id is None or not await services(request).store.auth.revoke_api_token(token_id):
        raise not_found()
    log.info("api_token_revoked", token_id=token_id, staff_id=viewer.staff_id)
    record(request, viewer, AuditAction.TOKEN, "api_token", detail=f"revoked {raw}")
    return await _console(request, notice=t(lang_of(request), "revoked_token", id=raw))


def setup(app: web.Application) -> None:
    app.router.add_get("/admin", console)
    app.router.add_post("/admin/staff", add_staff)
    app.router.add_post("/admin/staff/remove", remove_staff)
    app.router.add_post("/admin/staff/contacts", change_contacts)
    app.router.add_post("/admin/tokens", create_token)
    app.router.add_post("/admin/tokens/revoke", revoke_token)

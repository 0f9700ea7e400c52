"""Whether the staff's contacts reach them, in words (`AuthRepo.staff_contact_reach`: what the last alert
sent to each came to): /admin's mark beside each contact, and /city's warning of an association none of
whose heads and deputies got their last alert on any contact (city hall phones them).

A contact no alert has gone to yet shows nothing: its reach is unknown, not bad.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

from safetynet import i18n
from safetynet.channels import registry
from safetynet.channels.base import Reason
from safetynet.domain import ChannelName
from safetynet.domain.roster import Association, Staff, StaffContactReach
from safetynet.replies.notify import association_staff, staff_messages
from safetynet.web.dash_shell import when
from safetynet.web.dash_text import t

# The refusals a person can act on, each said in its own words (`dash.unreached_reason.*`): a send
# failure's reason as the channels classify it (a test holds every `Reason` to one of these groups or
# `OTHER`, so a new one is said as it should be).
OWN_WORDS: tuple[str, ...] = tuple(str(r) for r in (
    Reason.BLOCKED, Reason.CHAT_NOT_FOUND, Reason.SUBSCRIPTION_GONE, Reason.INVALID_NUMBER, Reason.NOT_MOBILE,
    Reason.UNSUBSCRIBED, Reason.NO_SUCH_ADDRESS, Reason.CONFIGURATION))
# Our side or the provider's was down when the alert's tries ran out (the dispatcher's own `channel_down`
# too): the contact may well work.
SERVICE: tuple[str, ...] = (*(str(r) for r in (Reason.NETWORK, Reason.TIMEOUT, Reason.SERVER_ERROR,
                                               Reason.RATE_LIMITED)), "channel_down")
# Said as 送れませんでした: a request the provider refused as malformed.
OTHER: tuple[str, ...] = (str(Reason.BAD_REQUEST),)
UNREACHED_REASONS = (*OWN_WORDS, "carrier", "service", "other")

ContactKey = tuple[int, str]  # (staff id, address)


def reason_of(error: str | None) -> str:
    """The `dash.unreached_reason.*` word for a refused alert's `error`: a carrier's code
    (`provider_undelivered:30003`, from its status callback) is the carrier's word, said as one."""
    if error in OWN_WORDS:
        return error
    if error is not None and error.startswith("provider_"):
        return "carrier"
    return "service" if error in SERVICE else "other"


def by_contact(found: Iterable[StaffContactReach]) -> dict[ContactKey, StaffContactReach]:
    return {(r.staff_id, r.address): r for r in found}


def reach_words(lang: str, found: Iterable[StaffContactReach]) -> dict[ContactKey, tuple[bool, str, str]]:
    """For /admin: per contact an alert went to, (it reaches, the reason's word or '', the line shown)."""
    out: dict[ContactKey, tuple[bool, str, str]] = {}
    for r in found:
        if r.reaches:
            out[(r.staff_id, r.address)] = (True, "", t(lang, "reached", time=when(r.at)))
        else:
            reason = reason_of(r.error)
            out[(r.staff_id, r.address)] = (False, reason, t(lang, "unreached", time=when(r.at),
                                                            reason=t(lang, "unreached_reason." + reason)))
    return out


def refusing_associations(associations: Sequence[Association], staff: Sequence[Staff],
                          reach: Mapping[ContactKey, StaffContactReach],
                          channels: Collection[ChannelName]) -> list[Association]:
    """Of `associations` (in their order), those whose heads and deputies have contacts an alert goes to
    here (`staff_messages`, the notifier's own) and every one of them refused the last alert sent to it.
    One contact never tried, or one that took its last alert, and the association is not named: it may
    well be reached. An association with none to send to is `notify.reach_gaps`'s, not this."""
    own = association_staff(staff)
    out: list[Association] = []
    for a in associations:
        sent_to = staff_messages(own.get(a.name, []), channels)
        if sent_to and all((r := reach.get((m.staff_id, m.address))) is not None and not r.reaches
                           for m in sent_to):
            out.append(a)
    return out


def refused_own(lang: str, staff: Sequence[Staff], reach: Mapping[ContactKey, StaffContactReach],
                channels: Collection[ChannelName]) -> list[str]:
    """For an association's own page: a line per contact of its heads and deputies (`staff`, its own, as
    `staff_for_association` reads them) whose last alert was refused, naming who, the contact (masked, as
    /admin shows it) and why: the head sees a deputy's blocked LINE before an event needs it, where only
    city hall's /admin said so."""
    lines: list[str] = []
    kinds = {(s.id, address): kind for s in staff for kind, address in s.contacts}
    for m in staff_messages([s for s in staff if s.scope.startswith("association:")], channels):
        r = reach.get((m.staff_id, m.address))
        if r is None or r.reaches:
            continue
        who = next(s for s in staff if s.id == m.staff_id)
        kind = kinds.get((m.staff_id, m.address), r.kind)
        lines.append(t(lang, "own_unreached", name=who.display_name or who.login, role=t(lang, "role_" + who.role),
                       contact=" ".join(x for x in (_kind_label(lang, kind), registry.mask(kind, m.address)) if x),
                       time=when(r.at),
                       reason=t(lang, "unreached_reason." + reason_of(r.error))))
    return lines


def _kind_label(lang: str, kind: str) -> str:
    """The contact's kind as /admin's form names it (「Telegram」「携帯電話」); nothing for one no channel declares."""
    found = registry.kinds().get(kind)
    return i18n.t(lang, found.label_key) if found is not None else ""

"""The trigger rules: a JMA telegram or a CAP alert, what is known of earlier events, and the config
give one `Decision` with a reason a city hall official can read. Pure: no I/O, no clock.

`decide` never changes the state; `apply` folds a decision (with its campaign, once created) into it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from safetynet.config import Config
from safetynet.domain.japan_time import date_time, date_time_jst
from safetynet.domain.triggers import (
    NAMED_KINDS,
    UNRECEIVED_5LOWER,
    AreaMatch,
    Decision,
    EventState,
    JmaKind,
    ReasonPart,
    ReasonValue,
    TriggerRules,
    TriggerState,
    TsunamiGrade,
    intensity_label,
    intensity_rank,
)
from safetynet.triggers.cap import CapAlert
from safetynet.triggers.jma import JmaTelegram
from safetynet.triggers.reasons import reason_fields, say_part
from safetynet.triggers.settings import as_rules

_SEISMIC = (JmaKind.INTENSITY_FLASH, JmaKind.HYPOCENTER_INTENSITY)
_ACTED_ON = (*_SEISMIC, JmaKind.TSUNAMI)
CANCEL = "取消"  # JMA's InfoType of a telegram that cancels an earlier one


def decide(telegram: JmaTelegram | CapAlert, state: TriggerState, cfg: Config | TriggerRules) -> Decision:
    rules = as_rules(cfg)
    if isinstance(telegram, CapAlert):
        return decide_cap(telegram, state, rules)
    return decide_jma(telegram, state, rules)


# -- reasons ------------------------------------------------------------------------------------

R = ReasonPart.of  # a piece of a reason: a `trigger.reason.*` key and its values


def _decision(decision: str, parts: list[ReasonPart], **values: Any) -> Decision:
    return Decision(decision, **reason_fields(parts), **values)


def _kind_name(kind: str) -> ReasonPart:
    return R(f"trigger.reason.kind.{kind if kind in NAMED_KINDS else 'report'}")


def _listed(items: list[ReasonValue], key: str = "trigger.reason.list") -> ReasonValue:
    """Items joined as the catalog's `key` joins two ("a、b", "a and b"), for any count."""
    if len(items) == 1:
        return items[0]
    return R(key, first=items[0], rest=_listed(items[1:], key))


def _names(places: tuple[AreaMatch, ...] | list[AreaMatch], limit: int = 4) -> ReasonValue:
    names = list(dict.fromkeys(p.name for p in places))
    shown = "、".join(names[:limit])
    return R("trigger.reason.more_places", names=shown, more=len(names) - limit) if len(names) > limit else shown


def _intensity(rank: int) -> ReasonValue:
    return intensity_label(rank) if rank else R("trigger.reason.no_intensity")


def _grade(grade: int) -> ReasonValue:
    return TsunamiGrade.LABELS[grade] if grade else R("trigger.reason.no_tsunami_warning")


def place_label(m: AreaMatch) -> ReasonValue:
    if m.level == "coast":
        return _grade(m.rank)
    if m.note == UNRECEIVED_5LOWER and m.rank == intensity_rank("5-"):
        return R("trigger.reason.unreceived_5lower")
    return _intensity(m.rank)


# -- JMA ----------------------------------------------------------------------------------------


def _summary(t: JmaTelegram) -> ReasonPart:
    """"震度6弱 in 静岡県中部、焼津市" for the places at the highest rank."""
    if t.kind == JmaKind.TSUNAMI:
        top = [m for m in t.matches if m.rank == t.tsunami_grade]
        return R("trigger.reason.summary.tsunami", grade=_grade(t.tsunami_grade), places=_names(top))
    top = [m for m in t.matches if m.rank == t.max_intensity]
    return R("trigger.reason.summary.intensity", intensity=_intensity(t.max_intensity), places=_names(top))


def _title_names(places: list[AreaMatch]) -> ReasonValue:
    """The places of a campaign title: three at most, then how many more (「…ほか2地域」)."""
    names = list(dict.fromkeys(p.name for p in places))
    shown = "、".join(names[:3])
    return R("trigger.title.more_places", names=shown, more=len(names) - 3) if len(names) > 3 else shown


def _titled(title: ReasonValue, drill: bool, rules: TriggerRules) -> str:
    """A campaign title said in the city's language (a campaign keeps one title: the dashboards show it and
    the messages to residents carry it), a drill's marked 【訓練】."""
    said = say_part(title, rules.language) if isinstance(title, ReasonPart) else str(title)
    return (say_part(R("message.drill_prefix"), rules.language) if drill else "") + said


def _title(t: JmaTelegram, rules: TriggerRules) -> str:
    if t.kind == JmaKind.TSUNAMI:
        top = [m for m in t.matches if m.rank >= TsunamiGrade.WARNING]
        part = R("trigger.title.tsunami", grade=TsunamiGrade.LABELS[t.tsunami_grade], places=_title_names(top))
    else:
        top = [m for m in t.matches if m.rank >= t.max_intensity - 1]
        part = R("trigger.title.earthquake", intensity=intensity_label(t.max_intensity),
                 places=_title_names(top), time=date_time(t.report_time))
    return _titled(part, t.is_drill, rules)


def _qualifies(t: JmaTelegram, rules: TriggerRules) -> bool:
    if t.kind == JmaKind.TSUNAMI:
        return t.tsunami_grade >= TsunamiGrade.WARNING
    return t.max_intensity >= rules.min_intensity


def _not_enough(t: JmaTelegram, rules: TriggerRules) -> ReasonPart:
    if t.kind == JmaKind.TSUNAMI:
        if not rules.coasts:
            return R("trigger.reason.no_coasts_configured")
        if not t.matches:
            return R("trigger.reason.no_coast_in_report")
        if t.tsunami_grade == TsunamiGrade.ADVISORY:
            return R("trigger.reason.advisory_only", summary=_summary(t))
        return R("trigger.reason.no_tsunami_warning_for", places=_names(t.matches))
    if not t.matches:
        return R("trigger.reason.no_area_in_report", kind=_kind_name(t.kind))
    return R("trigger.reason.below_threshold", summary=_summary(t), threshold=_intensity(rules.min_intensity))


def _screen(t: JmaTelegram, state: TriggerState, rules: TriggerRules) -> list[ReasonPart] | None:
    """The reason to ignore a telegram before looking at events, or None."""
    if t.dedupe_key in state.seen:
        return [R("trigger.reason.seen")]
    if t.is_test:
        return [R("trigger.reason.test")]
    if t.is_drill and not rules.drills:
        return [R("trigger.reason.drills_off")]
    cancels = [R("trigger.reason.cancels_earlier")] if t.info_type == CANCEL else []
    if t.kind == JmaKind.EARLY_WARNING:
        return [R("trigger.reason.early_warning"), *cancels]
    if t.kind == JmaKind.HYPOCENTER:
        return [R("trigger.reason.hypocenter"), *cancels]
    if t.kind not in _ACTED_ON:
        return [R("trigger.reason.other_kind", title=t.title), *cancels]
    return None


def decide_jma(t: JmaTelegram, state: TriggerState, rules: TriggerRules) -> Decision:
    kind = "drill" if t.is_drill else "real"
    base: dict[str, Any] = {
        "source": "jma", "dedupe_key": t.dedupe_key, "event_id": t.event_id, "kind": kind,
        "evidence": str(t.kind), "info_type": t.info_type, "status": t.status, "serial": t.serial,
        "intensity": t.max_intensity, "tsunami": t.tsunami_grade, "places": t.matches,
        "reported_at": t.report_time, "qualifies": _qualifies(t, rules),
    }
    prefix = [R("trigger.reason.drill")] if t.is_drill else []
    screened = _screen(t, state, rules)
    if screened is not None:
        return _decision("ignore", screened, **base)
    key = f"{kind}:{t.event_id}"
    base["event_key"] = key
    ev = state.events.get(key)
    if t.info_type == CANCEL:
        return _cancel(t, ev, Decision("ignore", "", **base), prefix)
    if ev is not None and ev.active:
        return _follow_up(t, ev, rules, Decision("ignore", "", **base), prefix)
    opening = R("trigger.reason.qualifies", summary=_summary(t), threshold=_threshold(t, rules))
    if ev is not None and ev.ended_by_person:
        # a person cancelled or closed its campaign: what this report raises makes a new one, as a new event
        # would; the rest is ignored (no campaign to update, none to make)
        base.update(earlier=ev.campaign, ended=ev.ended)
        ended = _ended_values(ev)
        raised = _raised(t, ev, rules)
        if not raised:
            now = _summary(t) if t.max_intensity or t.tsunami_grade else R("trigger.reason.nothing_for_your_places")
            return _decision("ignore", [*prefix, R("trigger.reason.ended.same", now=now, **ended)], **base,
                             campaign=ev.campaign)
        opening = R("trigger.reason.ended.raised", places=_listed(raised), **ended)
    if not base["qualifies"]:
        return _decision("ignore", [*prefix, _not_enough(t, rules)], **base)
    if kind == "real":
        after = _aftershock(t, state, rules, key)
        if after is not None:
            return _decision("ignore", [after], **{**base, "event_key": ""})
    hazard = "tsunami" if t.kind == JmaKind.TSUNAMI else "earthquake"
    parts = [*prefix, opening, _how(rules.action, kind)]
    return _decision(
        rules.action, parts, **base,
        mode=rules.action, title=_title(t, rules), hazard=hazard, messages=(("ja", t.headline),) if t.headline else (),
    )


_ENDED_BY = {"cancelled": "trigger.reason.ended_by.cancelled", "closed": "trigger.reason.ended_by.closed"}


def _ended_values(ev: EventState) -> dict[str, ReasonValue]:
    """The campaign a person ended and how (a reason's `campaign` and `ended`)."""
    return {"campaign": str(ev.campaign), "ended": R(_ENDED_BY.get(ev.ended, "trigger.reason.ended_by.closed"))}


def _how(action: str, kind: str) -> ReasonPart:
    """What happens to the campaign a trigger asks for. A real event never goes out on one person's word
    (two-person rule): `start` makes it wait for a city admin's approval (the trigger is the first person),
    `propose` makes a draft a city admin starts and a second one approves (QA: the log and the replay said
    "started automatically" and "confirms it with one click" of real events waiting for a second admin)."""
    return R(f"trigger.reason.how.{'propose' if action == 'propose' else 'start'}_{kind}")


def _started_tail(kind: str, source: str) -> ReasonPart:
    """Why a cancelled report's campaign the trigger asked to start stays (a drill's: what a city admin does)."""
    return R("trigger.reason.started_tail.real" if kind == "real" else f"trigger.reason.started_tail.drill_{source}")


def _threshold(t: JmaTelegram, rules: TriggerRules) -> ReasonValue:
    return TsunamiGrade.LABELS[TsunamiGrade.WARNING] if t.kind == JmaKind.TSUNAMI else _intensity(rules.min_intensity)


def _aftershock(t: JmaTelegram, state: TriggerState, rules: TriggerRules, key: str) -> ReasonPart | None:
    """Why a new real event is treated as an aftershock of the last real campaign, or None."""
    prev = state.events.get(state.last_real) if state.last_real else None
    if prev is None or prev.key == key or not prev.active:
        return None
    if abs(t.report_time - prev.started_at) > rules.aftershock_window_seconds:
        return None
    hours = f"{rules.aftershock_window_seconds / 3600:g}"
    if t.kind == JmaKind.TSUNAMI:
        now, before = t.tsunami_grade, prev.tsunami
        which, now_l, before_l = "tsunami", _grade(now), _grade(before)
    else:
        now, before = t.max_intensity, prev.intensity
        which, now_l, before_l = "earthquake", _intensity(now), _intensity(before)
    if now > before:
        return None
    return R(f"trigger.reason.aftershock.{which}", hours=hours, campaign=str(prev.campaign),
             time=date_time_jst(prev.started_at), before=before_l, now=now_l)


def _raised(t: JmaTelegram, ev: EventState, rules: TriggerRules) -> list[ReasonValue]:
    """Your places that newly reach the thresholds, or rise above what was known: "焼津市 震度6弱 (new)"."""
    out: list[ReasonValue] = []
    for m in t.matches:
        floor = TsunamiGrade.WARNING if m.level == "coast" else rules.min_intensity
        known = ev.places.get(f"{m.level}:{m.code}")
        if m.rank >= floor and (known is None or m.rank > known.rank):
            out.append(R("trigger.reason.raised_place.new", place=m.name, label=place_label(m)) if known is None
                       else R("trigger.reason.raised_place.was", place=m.name, label=place_label(m), was=place_label(known)))
    return out


def _follow_up(t: JmaTelegram, ev: EventState, rules: TriggerRules, d: Decision, prefix: list[ReasonPart]) -> Decision:
    """A later telegram of an event that has a campaign: update it, never duplicate it."""
    n = str(ev.campaign)
    common: dict[str, Any] = {"campaign": ev.campaign, "mode": ev.mode}
    raised = _raised(t, ev, rules)
    hazard = "tsunami" if t.tsunami_grade >= TsunamiGrade.WARNING or ev.tsunami >= TsunamiGrade.WARNING else "earthquake"
    if t.info_type == "訂正":
        now = _summary(t) if t.matches else R("trigger.reason.none_of_your_places")
        low = [] if d.qualifies else [R("trigger.reason.corrected_below", threshold=_threshold(t, rules))]
        parts = [*prefix, R("trigger.reason.corrected", kind=_kind_name(t.kind), now=now, campaign=n), *low]
        return replace(d, decision="update", **reason_fields(parts),
                       title=_title(t, rules) if t.matches else ev.title, hazard=hazard, **common)
    if raised:
        parts = [*prefix, R("trigger.reason.raised", places=_listed(raised), campaign=n)]
        return replace(d, decision="update", **reason_fields(parts), title=_title(t, rules), hazard=hazard, **common)
    now = _summary(t) if t.max_intensity or t.tsunami_grade else R("trigger.reason.nothing_for_your_places")
    return replace(d, **reason_fields([*prefix, R("trigger.reason.same_event", now=now, campaign=n)]), **common)


def _cancel(t: JmaTelegram, ev: EventState | None, d: Decision, prefix: list[ReasonPart]) -> Decision:
    what = _kind_name(t.kind)
    if ev is not None and ev.ended_by_person:  # nothing left to withdraw, nothing left running by us
        parts = [*prefix, R("trigger.reason.cancelled.ended", kind=what, **_ended_values(ev))]
        return replace(d, **reason_fields(parts), campaign=ev.campaign, earlier=ev.campaign, ended=ev.ended)
    if ev is None or not ev.active:
        return replace(d, **reason_fields([*prefix, R("trigger.reason.cancelled.no_campaign", kind=what)]))
    n = str(ev.campaign)
    common: dict[str, Any] = {"campaign": ev.campaign, "mode": ev.mode}
    if not ev.evidence.get(str(t.kind)):
        return replace(d, **reason_fields([*prefix, R("trigger.reason.cancelled.not_relied_on", kind=what, campaign=n)]),
                       **common)
    others: list[ReasonValue] = [_kind_name(k) for k, ok in ev.evidence.items() if ok and k != str(t.kind)]
    if others:
        parts = [*prefix, R("trigger.reason.cancelled.others_remain", kind=what,
                            others=_listed(others, "trigger.reason.and"), campaign=n)]
        return replace(d, **reason_fields(parts), **common)
    tail = _started_tail(ev.kind, "jma") if ev.mode == "start" else R("trigger.reason.withdrawn")
    parts = [*prefix, R("trigger.reason.cancelled.withdraw", kind=what, campaign=n), tail]
    return replace(d, decision="withdraw", **reason_fields(parts), **common)


# -- CAP ----------------------------------------------------------------------------------------


def decide_cap(a: CapAlert, state: TriggerState, rules: TriggerRules) -> Decision:
    kind = "drill" if a.is_drill else "real"
    prefix = [R("trigger.reason.cap.drill")] if a.is_drill else []
    base: dict[str, Any] = {
        "source": "cap", "dedupe_key": a.dedupe_key, "event_id": a.identifier, "kind": kind,
        "evidence": "cap", "info_type": a.msg_type, "status": a.status, "places": a.matches,
        "reported_at": a.sent, "qualifies": bool(a.matches), "messages": a.messages,
        "title": _titled(a.title, a.is_drill, rules), "hazard": "alert", "aliases": (a.alias,),
    }
    if a.dedupe_key in state.seen:
        return _decision("ignore", [R("trigger.reason.cap.seen")], **base)
    if a.status not in ("Actual", "Exercise"):
        return _decision("ignore", [R("trigger.reason.cap.status", status=a.status)], **base)
    if a.msg_type not in ("Alert", "Update", "Cancel"):
        return _decision("ignore", [R("trigger.reason.cap.msg_type", msg_type=a.msg_type)], **base)
    key = next((state.aliases[r] for r in a.references if r in state.aliases), f"cap:{a.alias}")
    base["event_key"] = key
    ev = state.events.get(key)
    if ev is not None and ev.active:
        common: dict[str, Any] = {"campaign": ev.campaign, "mode": ev.mode}
        n = str(ev.campaign)
        if a.msg_type == "Cancel":
            tail = _started_tail(ev.kind, "cap") if ev.mode == "start" else R("trigger.reason.withdrawn")
            return _decision("withdraw", [*prefix, R("trigger.reason.cap.cancelled", campaign=n), tail],
                             **base, **common)
        gone = [] if a.matches else [R("trigger.reason.cap.areas_gone")]
        return _decision("update", [*prefix, R("trigger.reason.cap.updated", campaign=n), *gone], **base, **common)
    which = "update_unknown" if a.msg_type == "Update" else "alert"
    opening = R(f"trigger.reason.cap.{which}", places=_names(a.matches))
    if ev is not None and ev.ended_by_person:
        # as for JMA: new areas of yours make a new campaign, anything else is ignored
        ended = _ended_values(ev)
        base.update(earlier=ev.campaign, ended=ev.ended)
        new = [m for m in a.matches if f"{m.level}:{m.code}" not in ev.places]
        if a.msg_type == "Cancel" or not new:
            key = "trigger.reason.cap.cancel_ended" if a.msg_type == "Cancel" else "trigger.reason.cap.ended_same"
            return _decision("ignore", [*prefix, R(key, **ended)], **base, campaign=ev.campaign)
        opening = R("trigger.reason.cap.ended_new_places", places=_names(new), **ended)
    if a.msg_type == "Cancel":
        return _decision("ignore", [*prefix, R("trigger.reason.cap.cancel_no_campaign")], **base)
    if not a.matches:
        return _decision("ignore", [*prefix, R("trigger.reason.cap.no_code")], **base)
    parts = [*prefix, opening, _how(rules.cap_action, kind)]
    return _decision(rules.cap_action, parts, **base, mode=rules.cap_action)


# -- memory -------------------------------------------------------------------------------------


def _merge(ev: EventState, d: Decision) -> None:
    for p in d.places:
        k = f"{p.level}:{p.code}"
        if k not in ev.places or p.rank > ev.places[k].rank:
            ev.places[k] = p
    ev.intensity = max(ev.intensity, d.intensity)
    ev.tsunami = max(ev.tsunami, d.tsunami)
    if d.evidence:
        ev.evidence[d.evidence] = d.qualifies
    if d.decision == "update" and d.title:
        ev.title = d.title


def apply(state: TriggerState, d: Decision) -> None:
    """Fold a decision into the state (for propose/start, `d.campaign` is the new campaign)."""
    if d.dedupe_key:
        state.seen.add(d.dedupe_key)
    if not d.event_key:
        return
    if d.creates:
        before = state.events.get(d.event_key)
        ev = EventState(key=d.event_key, event_id=d.event_id, kind=d.kind, campaign=d.campaign,
                        mode=d.mode or d.decision, started_at=d.reported_at, title=d.title)
        if d.ended and before is not None and before.campaign == d.earlier:
            # a new campaign of an event whose campaign a person ended: what was known of the event stays
            # known, so a place reported again at the same level is no news for the new campaign
            ev.places, ev.intensity, ev.tsunami = dict(before.places), before.intensity, before.tsunami
        state.events[d.event_key] = ev
        _merge(ev, d)
        if d.kind == "real" and d.source == "jma":
            state.last_real = d.event_key
    else:
        found = state.events.get(d.event_key)
        if found is None or found.campaign is None or found.withdrawn:
            return
        ev = found
        if d.ended and ev.campaign == d.earlier:
            ev.ended = d.ended  # learnt by the service before deciding; here for the memory rebuilt
        if ev.ended:
            pass  # a person ended its campaign: the report changed nothing (one raising it made a new campaign)
        elif d.decision == "withdraw":
            ev.withdrawn = True
            if state.last_real == ev.key:
                state.last_real = None
        elif d.info_type in (CANCEL, "Cancel"):
            ev.evidence.pop(d.evidence, None)
        else:
            _merge(ev, d)
    for alias in d.aliases:
        state.aliases[alias] = d.event_key

"""The trigger rules: a JMA telegram or a CAP alert, what is known of earlier events, and the config
give one `Decision` with a reason a city hall official can read. Pure: no I/O, no clock.

`decide` never changes the state; `apply` folds a decision (with its campaign, once created) into it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from safetynet import i18n
from safetynet.config import Config
from safetynet.domain.japan_time import date_time, date_time_jst
from safetynet.domain.triggers import (
    KIND_NAMES,
    AreaMatch,
    Decision,
    EventState,
    JmaKind,
    TriggerRules,
    TriggerState,
    TsunamiGrade,
    intensity_label,
)
from safetynet.triggers.cap import CapAlert
from safetynet.triggers.jma import JmaTelegram
from safetynet.triggers.settings import as_rules

_SEISMIC = (JmaKind.INTENSITY_FLASH, JmaKind.HYPOCENTER_INTENSITY)
_ACTED_ON = (*_SEISMIC, JmaKind.TSUNAMI)
# Campaign titles are in the city's language, Japanese.
DRILL_PREFIX = i18n.t("ja", "message.drill_prefix")


def decide(telegram: JmaTelegram | CapAlert, state: TriggerState, cfg: Config | TriggerRules) -> Decision:
    rules = as_rules(cfg)
    if isinstance(telegram, CapAlert):
        return decide_cap(telegram, state, rules)
    return decide_jma(telegram, state, rules)


# -- JMA ----------------------------------------------------------------------------------------


def _kind_name(kind: str) -> str:
    return KIND_NAMES.get(kind, "report")


def _names(places: tuple[AreaMatch, ...] | list[AreaMatch], limit: int = 4) -> str:
    names = list(dict.fromkeys(p.name for p in places))
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return "、".join(names[:limit]) + more


def _summary(t: JmaTelegram) -> str:
    """"震度6弱 in 静岡県中部、焼津市" for the places at the highest rank."""
    if t.kind == JmaKind.TSUNAMI:
        top = [m for m in t.matches if m.rank == t.tsunami_grade]
        return f"{TsunamiGrade.LABELS[t.tsunami_grade]} for {_names(top)}"
    top = [m for m in t.matches if m.rank == t.max_intensity]
    return f"{intensity_label(t.max_intensity)} in {_names(top)}"


def _title(t: JmaTelegram) -> str:
    if t.kind == JmaKind.TSUNAMI:
        top = [m for m in t.matches if m.rank >= TsunamiGrade.WARNING]
        title = f"{TsunamiGrade.LABELS[t.tsunami_grade]} {_names(top, 3)}"
    else:
        top = [m for m in t.matches if m.rank >= t.max_intensity - 1]
        title = i18n.t("ja", "trigger.title.earthquake", intensity=intensity_label(t.max_intensity),
                       places=_names(top, 3), time=date_time(t.report_time))
    return (DRILL_PREFIX if t.is_drill else "") + title


def _qualifies(t: JmaTelegram, rules: TriggerRules) -> bool:
    if t.kind == JmaKind.TSUNAMI:
        return t.tsunami_grade >= TsunamiGrade.WARNING
    return t.max_intensity >= rules.min_intensity


def _not_enough(t: JmaTelegram, rules: TriggerRules) -> str:
    if t.kind == JmaKind.TSUNAMI:
        if not rules.coasts:
            return "No coasts are configured (triggers.jma.tsunami_areas), so tsunami warnings start no campaign."
        if not t.matches:
            return "None of your coasts is in this tsunami report: no campaign."
        if t.tsunami_grade == TsunamiGrade.ADVISORY:
            return f"{_summary(t)}: an advisory, not a warning, so no campaign."
        return f"No tsunami warning for your coasts ({_names(t.matches)}): no campaign."
    if not t.matches:
        return f"None of your areas or cities is in this {_kind_name(t.kind)}: no campaign."
    return f"{_summary(t)}, below your threshold of {intensity_label(rules.min_intensity)}: no campaign."


def _screen(t: JmaTelegram, state: TriggerState, rules: TriggerRules) -> str | None:
    """The reason to ignore a telegram before looking at events, or None."""
    if t.dedupe_key in state.seen:
        return "This telegram was already received (same event, serial and time): nothing to do."
    if t.is_test:
        return "Test telegram (試験): JMA sends these to check the line; never acted on."
    if t.is_drill and not rules.drills:
        return "Drill telegram (訓練), and drills are switched off (triggers.jma.drills = false): no campaign."
    cancels = " This one cancels an earlier one (取消)." if t.info_type == "取消" else ""
    if t.kind == JmaKind.EARLY_WARNING:
        return (
            "Earthquake early warning (緊急地震速報): a forecast, not a measurement. Campaigns wait for "
            f"the measured intensities (震度速報).{cancels}"
        )
    if t.kind == JmaKind.HYPOCENTER:
        return f"Hypocentre report (震源に関する情報): it has no intensities, so it neither starts nor changes a campaign.{cancels}"
    if t.kind not in _ACTED_ON:
        return f"{t.title}: this kind of report neither starts nor changes a campaign.{cancels}"
    return None


def decide_jma(t: JmaTelegram, state: TriggerState, rules: TriggerRules) -> Decision:
    kind = "drill" if t.is_drill else "real"
    base: dict[str, Any] = {
        "source": "jma", "dedupe_key": t.dedupe_key, "event_id": t.event_id, "kind": kind,
        "evidence": str(t.kind), "info_type": t.info_type, "status": t.status, "serial": t.serial,
        "intensity": t.max_intensity, "tsunami": t.tsunami_grade, "places": t.matches,
        "reported_at": t.report_time, "qualifies": _qualifies(t, rules),
    }
    prefix = "Drill (訓練): " if t.is_drill else ""
    screened = _screen(t, state, rules)
    if screened is not None:
        return Decision("ignore", screened, **base)
    key = f"{kind}:{t.event_id}"
    base["event_key"] = key
    ev = state.events.get(key)
    if t.info_type == "取消":
        return _cancel(t, ev, Decision("ignore", "", **base), prefix)
    if ev is not None and ev.active:
        return _follow_up(t, ev, rules, Decision("ignore", "", **base), prefix)
    if not base["qualifies"]:
        return Decision("ignore", prefix + _not_enough(t, rules), **base)
    if kind == "real":
        after = _aftershock(t, state, rules, key)
        if after is not None:
            return Decision("ignore", after, **{**base, "event_key": ""})
    hazard = "tsunami" if t.kind == JmaKind.TSUNAMI else "earthquake"
    how = _how(rules.action, kind)
    return Decision(
        rules.action, f"{prefix}{_summary(t)} (your threshold: {_threshold(t, rules)}): {how}", **base,
        mode=rules.action, title=_title(t), hazard=hazard, messages=(("ja", t.headline),) if t.headline else (),
    )


def _how(action: str, kind: str) -> str:
    """What happens to the campaign a trigger asks for. A real event never goes out on one person's word
    (two-person rule): `start` makes it wait for a city admin's approval (the trigger is the first person),
    `propose` makes a draft a city admin starts and a second one approves (QA: the log and the replay said
    "started automatically" and "confirms it with one click" of real events waiting for a second admin)."""
    if action == "propose":
        return ("campaign proposed: a city admin starts it, then a second city admin approves it before "
                "anything is sent." if kind == "real" else "campaign proposed: a city admin starts it with one click.")
    return ("approval asked: nothing is sent until a city admin approves it (two-person rule; the trigger "
            "counts as the first person)." if kind == "real" else "campaign started automatically.")


def _started_tail(kind: str, close: str) -> str:
    """Why a cancelled report's campaign the trigger asked to start stays (`close`: what a city admin does)."""
    if kind == "real":
        return ("It was made to wait for a city admin's approval: still waiting, it is cancelled; approved since, it "
                "is not stopped by itself and a city admin should close it on /city if nothing happened. "
                "The city admins get a staff alert either way.")
    return (f"It had already started automatically, so it is not stopped by itself: a city admin should {close}. "
            "The city admins get a staff alert.")


def _threshold(t: JmaTelegram, rules: TriggerRules) -> str:
    return "津波警報" if t.kind == JmaKind.TSUNAMI else intensity_label(rules.min_intensity)


def _aftershock(t: JmaTelegram, state: TriggerState, rules: TriggerRules, key: str) -> str | None:
    """Why a new real event is treated as an aftershock of the last real campaign, or None."""
    prev = state.events.get(state.last_real) if state.last_real else None
    if prev is None or prev.key == key or not prev.active:
        return None
    if abs(t.report_time - prev.started_at) > rules.aftershock_window_seconds:
        return None
    hours = f"{rules.aftershock_window_seconds / 3600:g} h"
    if t.kind == JmaKind.TSUNAMI:
        now, before = t.tsunami_grade, prev.tsunami
        what, where = "tsunami warning of a new earthquake", "graver for your coasts"
        now_l, before_l = TsunamiGrade.LABELS[now], TsunamiGrade.LABELS[before]
    else:
        now, before = t.max_intensity, prev.intensity
        what, where = "new earthquake", "stronger in your areas"
        now_l, before_l = intensity_label(now), intensity_label(before)
    if now > before:
        return None
    return (
        f"A {what} within {hours} of the one of campaign #{prev.campaign} "
        f"({date_time_jst(prev.started_at)}, {before_l}), and not {where} ({now_l}): "
        "treated as an aftershock, no new campaign."
    )


def _raised(t: JmaTelegram, ev: EventState, rules: TriggerRules) -> list[str]:
    """Your places that newly reach the thresholds, or rise above what was known: "焼津市 震度6弱 (new)"."""
    out = []
    for m in t.matches:
        floor = TsunamiGrade.WARNING if m.level == "coast" else rules.min_intensity
        known = ev.places.get(f"{m.level}:{m.code}")
        if m.rank >= floor and (known is None or m.rank > known.rank):
            out.append(f"{m.name} {m.label} ({'new' if known is None else 'was ' + known.label})")
    return out


def _follow_up(t: JmaTelegram, ev: EventState, rules: TriggerRules, d: Decision, prefix: str) -> Decision:
    """A later telegram of an event that has a campaign: update it, never duplicate it."""
    n = ev.campaign
    common: dict[str, Any] = {"campaign": n, "mode": ev.mode}
    raised = _raised(t, ev, rules)
    hazard = "tsunami" if t.tsunami_grade >= TsunamiGrade.WARNING or ev.tsunami >= TsunamiGrade.WARNING else "earthquake"
    if t.info_type == "訂正":
        now = _summary(t) if t.matches else "none of your places"
        low = "" if d.qualifies else f" That is below your threshold ({_threshold(t, rules)}); the campaign stays until a city admin closes it."
        return replace(d, decision="update", reason=f"{prefix}JMA corrected its {_kind_name(t.kind)} (訂正): now {now}. Campaign #{n} updated.{low}",
                       title=_title(t) if t.matches else ev.title, hazard=hazard, **common)
    if raised:
        return replace(d, decision="update", reason=f"{prefix}Same event, raised for your places: {'、'.join(raised)}. "
                       f"Campaign #{n} updated, not duplicated.", title=_title(t), hazard=hazard, **common)
    now = _summary(t) if t.max_intensity or t.tsunami_grade else "this report has nothing for them"
    return replace(d, reason=f"{prefix}Same event, no change for your places ({now}): campaign #{n} unchanged.", **common)


def _cancel(t: JmaTelegram, ev: EventState | None, d: Decision, prefix: str) -> Decision:
    what = _kind_name(t.kind)
    if ev is None or not ev.active:
        return replace(d, reason=f"{prefix}JMA cancelled its {what} (取消); no campaign was based on it.")
    n = ev.campaign
    common: dict[str, Any] = {"campaign": n, "mode": ev.mode}
    if not ev.evidence.get(str(t.kind)):
        return replace(d, reason=f"{prefix}JMA cancelled its {what} (取消); campaign #{n} does not rest on it and stays.", **common)
    others = [_kind_name(k) for k, ok in ev.evidence.items() if ok and k != str(t.kind)]
    if others:
        return replace(d, reason=f"{prefix}JMA cancelled its {what} (取消), but its {' and '.join(others)} still reports "
                       f"your places: campaign #{n} stays.", **common)
    if ev.mode == "start":
        tail = _started_tail(ev.kind, "close it if nothing happened")
    else:
        tail = "The proposed campaign is withdrawn."
    return replace(d, decision="withdraw", reason=f"{prefix}JMA cancelled its {what} (取消), the report campaign #{n} rested on. {tail}", **common)


# -- CAP ----------------------------------------------------------------------------------------


def decide_cap(a: CapAlert, state: TriggerState, rules: TriggerRules) -> Decision:
    kind = "drill" if a.is_drill else "real"
    prefix = "Drill (CAP Exercise): " if a.is_drill else ""
    base: dict[str, Any] = {
        "source": "cap", "dedupe_key": a.dedupe_key, "event_id": a.identifier, "kind": kind,
        "evidence": "cap", "info_type": a.msg_type, "status": a.status, "places": a.matches,
        "reported_at": a.sent, "qualifies": bool(a.matches), "messages": a.messages,
        "title": (DRILL_PREFIX if a.is_drill else "") + a.title, "hazard": "alert", "aliases": (a.alias,),
    }
    if a.dedupe_key in state.seen:
        return Decision("ignore", "This CAP alert was already received (same sender and identifier): nothing to do.", **base)
    if a.status not in ("Actual", "Exercise"):
        return Decision("ignore", f"CAP status {a.status}: not a real alert nor an exercise; never acted on.", **base)
    if a.msg_type not in ("Alert", "Update", "Cancel"):
        return Decision("ignore", f"CAP message type {a.msg_type}: an acknowledgement or error, nothing to act on.", **base)
    key = next((state.aliases[r] for r in a.references if r in state.aliases), f"cap:{a.alias}")
    base["event_key"] = key
    ev = state.events.get(key)
    if ev is not None and ev.active:
        common: dict[str, Any] = {"campaign": ev.campaign, "mode": ev.mode}
        if a.msg_type == "Cancel":
            tail = (_started_tail(ev.kind, "close it") if ev.mode == "start" else "The proposed campaign is withdrawn.")
            return Decision("withdraw", f"{prefix}The sender cancelled the alert of campaign #{ev.campaign}. {tail}",
                            **base, **common)
        gone = "" if a.matches else " It no longer names your areas; the campaign stays until a city admin closes it."
        return Decision("update", f"{prefix}The sender updated the alert: campaign #{ev.campaign} gets the new text.{gone}",
                        **base, **common)
    if a.msg_type == "Cancel":
        return Decision("ignore", f"{prefix}The sender cancelled an alert that started no campaign here.", **base)
    if not a.matches:
        return Decision("ignore", f"{prefix}None of your codes (triggers.cap.codes) is in the alert's areas: no campaign.", **base)
    how = _how(rules.cap_action, kind)
    unknown = " (an update of an alert never received here)" if a.msg_type == "Update" else ""
    return Decision(rules.cap_action, f"{prefix}CAP alert{unknown} for {_names(a.matches)}: {how}", **base,
                    mode=rules.cap_action)


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
        ev = EventState(key=d.event_key, event_id=d.event_id, kind=d.kind, campaign=d.campaign,
                        mode=d.mode or d.decision, started_at=d.reported_at, title=d.title)
        state.events[d.event_key] = ev
        _merge(ev, d)
        if d.kind == "real" and d.source == "jma":
            state.last_real = d.event_key
    else:
        found = state.events.get(d.event_key)
        if found is None or not found.active:
            return
        ev = found
        if d.decision == "withdraw":
            ev.withdrawn = True
            if state.last_real == ev.key:
                state.last_real = None
        elif d.info_type in ("取消", "Cancel"):
            ev.evidence.pop(d.evidence, None)
        else:
            _merge(ev, d)
    for alias in d.aliases:
        state.aliases[alias] = d.event_key

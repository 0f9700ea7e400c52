"""The preview a user sees before any send: households per channel per step, the time the provider
limits imply ("12,400 SMS at 10/s = 21 min"), and the cost estimate of the priced channels (each
channel's spec estimates one message: SMS segments, voice calls).

`PreviewCounter` runs the real planner over the scope's households (so the numbers are what the
campaign would do); later steps are counted as if nobody answered: an upper bound.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from safetynet.broadcast.messages import compose
from safetynet.channels import registry
from safetynet.channels.spec import load
from safetynet.config import Config
from safetynet.domain import ChannelName
from safetynet.domain.campaigns import LadderStep, PlannableHousehold, channel_order
from safetynet.i18n import t

# A reply URL as long as a real one, for counting SMS segments.
_SAMPLE_URL_TOKEN = "x" * 22


@dataclass(frozen=True)
class PreviewStep:
    index: int
    after_seconds: float
    door_knock: bool
    households: dict[str, int]  # channel → households sent to at once
    seconds: dict[str, float | None]  # channel → time the provider limit implies (None: no limit)
    rates: dict[str, float]  # channel → max_per_second (0 = no limit)

    @property
    def total_seconds(self) -> float | None:
        known = [s for s in self.seconds.values() if s is not None]
        return max(known) if known else None


@dataclass(frozen=True)
class Preview:
    households: int
    no_contact: int  # straight to the door-knock list
    vulnerable: int
    steps: tuple[PreviewStep, ...]
    # Priced channels: what they bill, over every step (SMS segments, calls) and its yen, plus "total".
    units: dict[str, int] = field(default_factory=dict)
    cost_jpy: dict[str, float] = field(default_factory=dict)
    # Priced channels that place a message again when it rings out (calls): channel → (at most how many
    # times, seconds apart). Not in the counts: whether a call rings out is not known beforehand.
    redials: dict[str, tuple[int, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "households": self.households, "no_contact": self.no_contact, "vulnerable": self.vulnerable,
            "steps": [{"step": s.index, "after_seconds": s.after_seconds, "door_knock": s.door_knock,
                       "households": s.households, "seconds": s.seconds, "max_per_second": s.rates,
                       "total_seconds": s.total_seconds} for s in self.steps],
            "units": self.units, "cost_jpy": self.cost_jpy,
        }

    def lines(self, lang: str = "en") -> list[str]:
        """The preview for a person, in `lang` (the command line's language; English words a script
        reads otherwise: channel names as they are)."""
        def n(x: float) -> str:
            return f"{x:,.0f}"

        out = [t(lang, "cli.preview.households", households=n(self.households), vulnerable=n(self.vulnerable),
                 no_contact=n(self.no_contact))]
        for s in self.steps:
            when = (t(lang, "cli.preview.at_once") if s.after_seconds == 0
                    else t(lang, "cli.preview.after", duration=_duration(s.after_seconds, lang)))
            if s.door_knock:
                out.append(t(lang, "cli.preview.step_door_knock", index=s.index, when=when))
                continue
            parts = [_lane_line(ch, num, s.rates[ch], s.seconds[ch], lang) for ch, num in s.households.items()]
            up_to = "" if s.index == 0 else t(lang, "cli.preview.up_to")
            out.append(t(lang, "cli.preview.step", index=s.index, when=when, up_to=up_to,
                         parts=t(lang, "cli.preview.join").join(parts) or t(lang, "cli.preview.nobody")))
        c = self.cost_jpy
        parts = [t(lang, "cli.preview.cost_part", channel=_channel(ch, lang), cost=n(c.get(ch, 0)),
                   units=n(self.units.get(ch, 0))) for ch in registry.priced()]
        out.append(t(lang, "cli.preview.cost", parts=t(lang, "cli.preview.list").join(parts),
                     total=n(c.get("total", 0))))
        return out + self.redial_notes(lang)

    def redial_notes(self, lang: str = "en") -> list[str]:
        """That calls which ring out may be placed again, adding calls the estimate does not count; one
        line a channel that has any in this preview."""
        return [t(lang, "cli.preview.redials", channel=_channel(ch, lang), redials=times,
                  minutes=math.ceil(after / 60))
                for ch, (times, after) in self.redials.items() if self.units.get(ch, 0) > 0]


def _channel(channel: str, lang: str) -> str:
    """A channel as the preview names it: its label, but in English its name (what a script reads)."""
    if lang == "en" or not registry.is_channel(channel):
        return channel
    return t(lang, registry.spec(channel).label_key)


def _duration(seconds: float, lang: str = "en") -> str:
    if seconds < 60:
        return t(lang, "cli.preview.seconds", n=math.ceil(seconds))
    if seconds < 3600:
        return t(lang, "cli.preview.minutes", n=math.ceil(seconds / 60))
    return t(lang, "cli.preview.hours", n=f"{seconds / 3600:.1f}")


def _lane_line(channel: str, n: int, rate: float, seconds: float | None, lang: str = "en") -> str:
    if seconds is None:
        return t(lang, "cli.preview.lane_unlimited", n=f"{n:,}", channel=_channel(channel, lang))
    return t(lang, "cli.preview.lane", n=f"{n:,}", channel=_channel(channel, lang), rate=f"{rate:g}",
             duration=_duration(seconds, lang))


class PreviewCounter:
    """Accumulates households batch by batch (200k households stream through in little memory)."""

    def __init__(self, cfg: Config, ladder: Sequence[LadderStep], messages: Mapping[str, str] | None,
                 drill: bool) -> None:
        self.cfg = cfg
        self.ladder = tuple(ladder)
        self.messages = dict(messages or {"ja": t("ja", "campaign.sample_body")})
        self.drill = drill
        self.routes = registry.routes()
        self.households = 0
        self.no_contact = 0
        self.vulnerable = 0
        self.per_step: list[dict[ChannelName, int]] = [{} for _ in self.ladder]
        self.units: dict[ChannelName, int] = {}
        self.cost: dict[ChannelName, float] = {}
        # (channel, language) → (units, yen) of one message
        self._estimates: dict[tuple[ChannelName, str], tuple[int, float]] = {}

    def add(self, batch: Iterable[PlannableHousehold]) -> None:
        for h in batch:
            self.households += 1
            self.vulnerable += bool(h.vulnerable)
            if not any(c.working for c in h.contacts):
                self.no_contact += 1
                continue
            for i, step in enumerate(self.ladder):
                if step.door_knock:
                    continue
                order = channel_order(h, step, self.routes)
                if order:
                    ch = order[0][0]
                    self.per_step[i][ch] = self.per_step[i].get(ch, 0) + 1
                    estimate = self._estimate(ch, getattr(h, "language", "ja"))
                    if estimate is not None:
                        self.units[ch] = self.units.get(ch, 0) + estimate[0]
                        self.cost[ch] = self.cost.get(ch, 0.0) + estimate[1]

    def _estimate(self, channel: ChannelName, language: str) -> tuple[int, float] | None:
        """One message's (units, yen) on a priced channel; None for a free one."""
        key = (channel, language)
        if key not in self._estimates:
            spec = registry.spec(channel)
            if spec.estimate is None:
                return None
            url = f"{self.cfg.server.public_url.rstrip('/')}/r/{_SAMPLE_URL_TOKEN}"
            _, text = compose(messages=self.messages, title="", language=language, drill=self.drill,
                              reply_url=url, channel=channel, default_language=self.cfg.city.default_language,
                              city=self.cfg.city.name, city_latin=self.cfg.city.name_latin)
            self._estimates[key] = load(spec.estimate)(self.cfg.channels.get(channel), text)
        return self._estimates[key]

    def result(self) -> Preview:
        steps = []
        for i, step in enumerate(self.ladder):
            counts = {str(ch): n for ch, n in sorted(self.per_step[i].items(), key=lambda kv: -kv[1])}
            rates = {ch: float(self.cfg.channels.get(ch).max_per_second) for ch in counts}
            seconds = {ch: (n / rates[ch] if rates[ch] > 0 else None) for ch, n in counts.items()}
            steps.append(PreviewStep(i, step.after_seconds, step.door_knock, counts, seconds, rates))
        priced = registry.priced()
        cost = {ch: round(self.cost.get(ch, 0.0), 1) for ch in priced}
        cost["total"] = round(sum(self.cost.values()), 1)
        rules = registry.redials({ch: self.cfg.channels.get(ch) for ch in priced})
        return Preview(self.households, self.no_contact, self.vulnerable, tuple(steps),
                       {ch: self.units.get(ch, 0) for ch in priced}, cost,
                       {str(ch): (r.redials, r.after_seconds) for ch, r in rules.items()})

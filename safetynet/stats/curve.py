"""Response curves: answered % against minutes since the start, drawn as a small SVG (pure).

Each line has its own colour (Okabe–Ito, readable by colour-blind eyes), dash pattern and end
marker, and the legend repeats all three with the name, so colour is never the only signal.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from html import escape

from safetynet.domain.campaigns import CountRow, MinuteRow
from safetynet.domain.roster import Association
from safetynet.domain.shares import percent, share

_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#8C564B")
_DASHES = ("", "7 4", "2 3", "9 3 2 3", "4 2", "1 2", "12 4", "5 2 1 2")
_MARKERS = ("circle", "square", "triangle", "diamond")


@dataclass(frozen=True)
class Series:
    label: str
    households: int
    points: tuple[tuple[int, int], ...]  # (minute bucket, cumulative answered), minutes ascending


def cumulative(by_minute: dict[int, int]) -> tuple[tuple[int, int], ...]:
    out, running = [], 0
    for m in sorted(by_minute):
        running += by_minute[m]
        out.append((m, running))
    return tuple(out)


def group_series(
    minutes: Iterable[MinuteRow],
    counts: Iterable[CountRow],
    associations: Iterable[Association],
    key: Callable[[Association], str],
    visible: Callable[[Association], bool] = lambda a: True,
) -> list[Series]:
    """One series per `key(association)` (a district, or the city), over visible associations."""
    assoc = {a.id: a for a in associations if visible(a)}
    households: dict[str, int] = defaultdict(int)
    for c in counts:
        if c.association_id in assoc:
            households[key(assoc[c.association_id])] += c.n
    per: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for m in minutes:
        if m.association_id in assoc:
            per[key(assoc[m.association_id])][m.minute] += m.n
    return [Series(label, households[label], cumulative(per.get(label, {}))) for label in sorted(households)]


def by_the_minute(points: Iterable[tuple[int, int]]) -> list[list[int]]:
    """(minute bucket, cumulative answered) as the documents give them: [minutes since the start, answered
    by then], a bucket labelled by its end, as `minutes_to_reach` and the charts read it (review: the
    stats API said 2 answered at t=0 where the report said 50 % took a minute)."""
    return [[minute + 1, answered] for minute, answered in points]


def minutes_to_reach(series: Series, fraction: float) -> int | None:
    """Minutes from the start until `fraction` of the households had answered (end of that minute)."""
    if series.households <= 0:
        return None
    for minute, answered in series.points:
        if answered >= fraction * series.households:
            return minute + 1
    return None


def _x_step(max_minute: int) -> int:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 240):
        if max_minute / step <= 8:
            return step
    return 480


def _marker(kind: str, x: float, y: float, colour: str) -> str:
    if kind == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}"/>'
    if kind == "square":
        return f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{colour}"/>'
    if kind == "triangle":
        return f'<path d="M{x:.1f} {y - 5:.1f}L{x + 5:.1f} {y + 4:.1f}L{x - 5:.1f} {y + 4:.1f}Z" fill="{colour}"/>'
    return f'<path d="M{x:.1f} {y - 5:.1f}L{x + 5:.1f} {y:.1f}L{x:.1f} {y + 5:.1f}L{x - 5:.1f} {y:.1f}Z" fill="{colour}"/>'


def render_svg(
    series: Sequence[Series],
    *,
    title: str,
    desc: str,
    minutes_label: str = "min",
    until_minute: int | None = None,
    width: int = 640,
    height: int = 300,
) -> str:
    """An accessible SVG line chart (role="img", <title>, <desc>), legend below the plot."""
    left, right, top, bottom = 44, 12, 12, 34
    legend_rows = (len(series) + 1) // 2
    total_h = height + legend_rows * 20 + 8
    pw, ph = width - left - right, height - top - bottom
    last = max([until_minute or 0] + [p[0] + 1 for s in series for p in s.points] + [10])
    step = _x_step(last)
    last = ((last + step - 1) // step) * step

    def sx(minute: float) -> float:
        return left + pw * minute / last

    def sy(fraction: float) -> float:
        return top + ph * (1 - fraction)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {total_h}" role="img" '
           f'aria-labelledby="curve-t curve-d" class="curve"><title id="curve-t">{escape(title)}</title>'
           f'<desc id="curve-d">{escape(desc)}</desc>']
    for pct in (0, 25, 50, 75, 100):
        y = sy(pct / 100)
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ccc"/>'
                   f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{pct}%</text>')
    for m in range(0, last + 1, step):
        x = sx(m)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + ph}" stroke="#eee"/>'
                   f'<text x="{x:.1f}" y="{top + ph + 16}" text-anchor="middle" font-size="11">{m}</text>')
    out.append(f'<text x="{left + pw}" y="{top + ph + 30}" text-anchor="end" font-size="11">{escape(minutes_label)}</text>')
    for i, s in enumerate(series):
        out.append(_line(i, s, sx, sy, until_minute))
        out.append(_legend(i, s, left, height + 4 + (i // 2) * 20, pw))
    out.append("</svg>")
    return "".join(out)


def _line(i: int, s: Series, sx: Callable[[float], float], sy: Callable[[float], float], until: int | None) -> str:
    colour, dash, marker = _COLOURS[i % len(_COLOURS)], _DASHES[i % len(_DASHES)], _MARKERS[i % len(_MARKERS)]
    hh = max(1, s.households)
    pts = [(0.0, 0.0)]
    for minute, answered in s.points:
        pts.append((minute + 1, answered / hh))
    if until is not None and until > pts[-1][0]:
        pts.append((until, pts[-1][1]))
    d = "M" + "L".join(f"{sx(x):.1f} {sy(y):.1f}" for x, y in pts)
    dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
    end = pts[-1]
    label = f"{s.label}: {percent(end[1])}"
    return (f'<g data-series="{escape(s.label)}"><title>{escape(label)}</title>'
            f'<path d="{d}" fill="none" stroke="{colour}" stroke-width="2.5"{dash_attr}/>'
            f"{_marker(marker, sx(end[0]), sy(end[1]), colour)}</g>")


def _legend(i: int, s: Series, left: int, y: float, pw: int) -> str:
    colour, dash, marker = _COLOURS[i % len(_COLOURS)], _DASHES[i % len(_DASHES)], _MARKERS[i % len(_MARKERS)]
    x = left + (i % 2) * (pw / 2)
    dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
    final = percent(share(s.points[-1][1], s.households) if s.points else 0.0)
    return (f'<line x1="{x:.1f}" x2="{x + 28:.1f}" y1="{y + 6:.1f}" y2="{y + 6:.1f}" stroke="{colour}" '
            f'stroke-width="2.5"{dash_attr}/>{_marker(marker, x + 28, y + 6, colour)}'
            f'<text x="{x + 38:.1f}" y="{y + 10:.1f}" font-size="12">{escape(s.label)} ({final})</text>')

"""Renderers of the drill report: JSON, CSV (one summary table, then the lists) and a
self-contained HTML page that prints on A4 (pure).

Each format is a `ReportWriter` that renders the document in pieces: the head (the summary), each
household list opened, its rows chunk by chunk, closed, then the tail. Streaming the pieces gives
the same text as `render_*` over the whole document, with the lists never held whole.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from safetynet.channels import registry
from safetynet.csvout import csv_text
from safetynet.domain.campaigns import CHECK_OUTCOMES
from safetynet.domain.japan_time import date_time
from safetynet.domain.phones import format_national
from safetynet.domain.shares import percent
from safetynet.i18n import t
from safetynet.i18n.scopes import scope_label
from safetynet.stats.curve import Series, render_svg
from safetynet.templating import ENV, Markup, call_macro

_STATUSES = ("safe", "need_help", "confirmed_in_person", "read", "notified", "pending", "unreachable")
# Where first answers came from: every channel, the reply page, staff in person.
_CHANNELS = (*registry.names(), "web", "staff")
_MILESTONES = ("25", "50", "75", "80")
# An event's lists: who asked for help (handled or not: the first question after an event), what the
# others wrote (a note with 無事, an SMS kept as a note), who was never reached, who never answered.
LISTS = ("need_help", "notes", "unreachable", "never_answered")
# A contact check asks no one whether they are safe: its one list is the households with no contact
# confirmed (`domain.campaigns.CHECK_OUTCOMES`), for the association to call on.
CHECK_LISTS = ("unconfirmed",)
FORMATS = ("html", "csv", "json")
# What the CSV appends to an event's list row: the mobile (the landline has its own column; every list
# has it, as the door-knock list), and to a help row, as its help card shows them, how many are injured
# and safe, where they are.
_HELP_EXTRA = ("mobile", "people_injured", "people_safe", "location")

Row = dict[str, Any]

def _l(lang: str, key: str) -> str:
    return t(lang, "report." + key)


def _status_label(lang: str, s: str) -> str:
    return t(lang, "report.status." + s)


def _when(epoch: float | None) -> str:
    return date_time(epoch) if epoch else "—"


def _pct(rate: float | None) -> str:
    return "—" if rate is None else percent(rate, 1)


def _m(value: int | None) -> str:
    return "—" if value is None else str(value)


class ReportWriter(Protocol):
    """One format, piece by piece. `list_open` gets the list's first row, or None if it is empty."""

    def head(self, summary: dict[str, Any]) -> str: ...
    def list_open(self, key: str, first: Row | None) -> str: ...
    def list_rows(self, key: str, rows: Sequence[Row], first_chunk: bool) -> str: ...
    def list_close(self, key: str, empty: bool) -> str: ...
    def tail(self) -> str: ...


def lists_of(kind: str) -> tuple[str, ...]:
    """The household lists of a campaign kind's report, in document order (its last keys)."""
    return CHECK_LISTS if kind == "check" else LISTS


def render_document(writer: ReportWriter, report: dict[str, Any]) -> str:
    """The whole document through `writer` (the lists as one chunk each)."""
    lists = lists_of(report["campaign"]["kind"])
    parts = [writer.head({k: v for k, v in report.items() if k not in lists})]
    for key in lists:
        rows = report[key]
        parts.append(writer.list_open(key, rows[0] if rows else None))
        if rows:
            parts.append(writer.list_rows(key, rows, True))
        parts.append(writer.list_close(key, not rows))
    parts.append(writer.tail())
    return "".join(parts)


@dataclass(frozen=True)
class PageShell:
    """What makes the HTML report a staff page on the web, as the others are (QA, heads' walk: 14 px, no
    文字を大きく, no way back, no logout): the way back, the text size and its switch, logout. The file
    the command line writes has none."""

    back_href: str
    size_href: str
    large: bool = False
    csrf: str = ""  # the session's, for the logout form ('' for none)


def writer_for(fmt: str, lang: str = "ja", shell: PageShell | None = None) -> ReportWriter:
    if fmt == "json":
        return JsonWriter()
    if fmt == "csv":
        return CsvWriter(lang)
    if fmt == "html":
        return HtmlWriter(lang, shell)
    raise ValueError(f"unknown report format {fmt!r}")


# -- JSON ---------------------------------------------------------------------------------------

_STR = json.JSONEncoder(ensure_ascii=False)
# Flat rows laid out as `indent=2` lays them out two levels deep, by the C encoder in one call a
# chunk (json.dumps with an indent falls back to the pure-Python encoder, several times slower):
# the separators carry line breaks and indentation. A raw line break only ever comes from a
# separator (strings escape theirs), so "},<break>{" is exactly the seam between two rows.
_FLAT = json.JSONEncoder(ensure_ascii=False, separators=(",\n      ", ": "))
_SEAM = "},\n      {"


def _json_rows(rows: Sequence[Row]) -> str:
    """List items exactly as `json.dumps(report, indent=2)` lays them out, joined by ",<break>"."""
    # the rows of a list share their keys and value types: the first one tells if they are flat
    if rows and (not rows[0] or any(isinstance(v, (dict, list, tuple)) for v in rows[0].values())):
        return ",\n".join("    " + json.dumps(r, ensure_ascii=False, indent=2).replace("\n", "\n    ")
                          for r in rows)
    inner = _FLAT.encode(list(rows))[2:-2]  # without the outer "[{" and "}]"
    return "    {\n      " + inner.replace(_SEAM, "\n    },\n    {\n      ") + "\n    }"


class JsonWriter:
    """The lists are the document's last keys: the head is the summary without its closing brace."""

    def head(self, summary: dict[str, Any]) -> str:
        text = json.dumps(summary, ensure_ascii=False, indent=2)
        return text[:-2]

    def list_open(self, key: str, first: Row | None) -> str:
        return f",\n  {_STR.encode(key)}: ["

    def list_rows(self, key: str, rows: Sequence[Row], first_chunk: bool) -> str:
        return ("\n" if first_chunk else ",\n") + _json_rows(rows)

    def list_close(self, key: str, empty: bool) -> str:
        return "]" if empty else "\n  ]"

    def tail(self) -> str:
        return "\n}\n"


def render_json(report: dict[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False, indent=2) + "\n"


# -- CSV ----------------------------------------------------------------------------------------


class CsvWriter:
    """The summary table (city, districts, associations), a blank line, then the lists.

    In Japanese (the default) the headers and the words in cells are what a person reads in Excel;
    in English they are the column names scripts have always read (`level`, `minutes_to_50`…).
    """

    def __init__(self, lang: str = "ja") -> None:
        self.ja = lang != "en"
        ja = self.ja
        self._level = {k: _l("ja", k) if ja else k for k in ("city", "district", "association")}
        self._list = ({"need_help": _l("ja", "help_list"), "notes": _l("ja", "notes_list"),
                       "unreachable": _l("ja", "unreachable"),
                       "never_answered": _l("ja", "never")} if ja else {k: k for k in LISTS})
        self._verdict = {k: _l("ja", "csv." + k) if ja else k for k in ("better", "worse", "same")}
        if ja:
            self._list["unconfirmed"] = _l("ja", "check_unconfirmed")
        self._check = False

    def _header(self) -> list[str]:
        if not self.ja:
            return ["level", "district", "association", "households", *_STATUSES, "answered_rate",
                    *(f"minutes_to_{p}" for p in _MILESTONES), *(f"first_answers_{c}" for c in _CHANNELS),
                    "previous_answered_rate", "comparison"]
        return [_l("ja", "level"), _l("ja", "district"), _l("ja", "association"), _l("ja", "households"),
                *(_status_label("ja", k) for k in _STATUSES), _l("ja", "csv.answered_rate"),
                *(t("ja", "report.csv.minutes_to", percent=p) for p in _MILESTONES),
                *(t("ja", "report.csv.first_answers", channel=_channel_label(c)) for c in _CHANNELS),
                _l("ja", "csv.previous_answered_rate"), _l("ja", "comparison")]

    def _list_header(self) -> list[str]:
        # a check's list says each household's outcome, then its mobile; an event's help list whether it was
        # handled, its words, then what its help card gives (appended: the columns before keep their places)
        outcome = [_l("ja", k) if self.ja else k.removeprefix("csv.") for k in ("outcome", "csv.mobile")] if self._check else [
            *(_l("ja", k) if self.ja else k for k in ("handled", "note")),
            *(_l("ja", "csv." + k) if self.ja else k for k in _HELP_EXTRA)]
        if not self.ja:
            return ["list", "district", "association", "group", "household", "name", "address", "members",
                    "vulnerable", "landline", "withheld", *outcome]
        return [*(_l("ja", k) for k in ("csv.list", "district", "association", "group", "household", "name", "address",
                                        "csv.members", "csv.vulnerable", "csv.landline", "csv.withheld")), *outcome]

    def _check_head(self, check: dict[str, Any]) -> str:
        """A contact check's table: households by outcome per level (no answers, no milestones)."""
        ja = self.ja
        header = ([_l("ja", k) for k in ("level", "district", "association", "households")]
                  + [_l("ja", "outcome." + o) for o in CHECK_OUTCOMES] + [_l("ja", "confirmed_rate")] if ja
                  else ["level", "district", "association", "households", *CHECK_OUTCOMES, "confirmed_rate"])

        def row(level: str, district: str, assoc: str, s: dict[str, Any]) -> list[Any]:
            return [self._level[level], district, assoc, s["households"], *(s["outcomes"][o] for o in CHECK_OUTCOMES),
                    s["confirmed_rate"]]

        rows: list[list[Any]] = [
            header, row("city", "", "", check),
            *(row("district", d["name"], "", d) for d in check["districts"]),
            *(row("association", a["district"], a["name"], a) for a in check["associations"]),
            [], self._list_header(),
        ]
        return csv_text(rows, "\n")

    def head(self, summary: dict[str, Any]) -> str:
        self._check = "check" in summary
        if self._check:
            return self._check_head(summary["check"])
        def row(level: str, district: str, assoc: str, s: dict[str, Any]) -> list[Any]:
            verdict = s.get("comparison")
            return [self._level[level], district, assoc, s["households"], *(s["status"].get(k, 0) for k in _STATUSES),
                    s["answered_rate"], *(_blank(s["minutes_to"].get(p)) for p in _MILESTONES),
                    *(s["channels"].get(c, 0) for c in _CHANNELS),
                    _blank(s.get("previous_answered_rate")), self._verdict.get(verdict, verdict) if verdict else ""]

        rows: list[list[Any]] = [
            self._header(),
            row("city", "", "", summary["city"]),
            *(row("district", d["name"], "", d) for d in summary["districts"]),
            *(row("association", a["district"], a["name"], a) for a in summary["associations"]),
            [],
            self._list_header(),
        ]
        return csv_text(rows, "\n")

    def list_open(self, key: str, first: Row | None) -> str:
        return ""

    def list_rows(self, key: str, rows: Sequence[Row], first_chunk: bool) -> str:
        name = self._list[key]
        return csv_text(([name, p["district"], p["association"], p["group"], p.get("household", ""), p.get("name", ""),
                          p.get("address", ""), p.get("members", ""), int(p["vulnerable"]) if "vulnerable" in p else "",
                          _phone(p.get("landline", "")), int(p["withheld"]) if "withheld" in p else "",
                          *([self._outcome(p["outcome"]), _phone(p.get("mobile", ""))] if self._check
                            else [int(p["handled"]) if "handled" in p else "", p.get("note", ""),
                                  *self._help_extra(p)])] for p in rows), "\n")

    def _help_extra(self, p: Row) -> list[Any]:
        """A row's mobile, and a help row's injured, safe and where (`_HELP_EXTRA`; blank on the other lists)."""
        where = p.get("location", "")
        return [_phone(p.get("mobile", "")), _blank(p.get("people_injured")), _blank(p.get("people_safe")),
                _location(where, "ja") if self.ja and where else where]

    def _outcome(self, outcome: str) -> str:
        return _l("ja", "outcome." + outcome) if self.ja else outcome

    def list_close(self, key: str, empty: bool) -> str:
        return ""

    def tail(self) -> str:
        return ""


def _phone(e164: str) -> str:
    """A number as a person dials it (「03-1111-0002」: QA read +81311110002 in Excel); kept as stored
    if it cannot be read back (JSON keeps E.164 for programs)."""
    try:
        return format_national(e164) if e164 else ""
    except ValueError:
        return e164


def _location(code: str, lang: str) -> str:
    """Where a household said it is, in the words of its help alert and card (`staff.location.*`); an
    unknown code as stored."""
    try:
        return t(lang, f"staff.location.{code}")
    except KeyError:
        return code


def _phones_cell(lang: str, p: Row) -> str:
    """A help row's phones as its alert gives them: the mobile first (it goes where they are), each marked."""
    return " / ".join(f"{_phone(p[kind])} ({t(lang, 'staff.phone_' + kind)})"
                      for kind in ("mobile", "landline") if p.get(kind))


def _details_cell(lang: str, p: Row) -> str:
    """How many are safe and injured and where they are, as the help alert's line of facts says them."""
    facts = []
    if p.get("people_safe") is not None:
        facts.append(t(lang, "staff.safe_people", n=p["people_safe"]))
    if p.get("people_injured"):
        facts.append(t(lang, "staff.injured", n=p["people_injured"]))
    if p.get("location"):
        facts.append(f"{t(lang, 'staff.where')}: {_location(p['location'], lang)}")
    return " / ".join(facts)


def _channel_label(channel: str, lang: str = "ja") -> str:
    """A channel's label (its spec's key), or the report's words for the reply page and staff."""
    if registry.is_channel(channel):
        return t(lang, registry.spec(channel).label_key)
    try:
        return t(lang, f"report.channel.{channel}")
    except KeyError:  # a channel since removed: its name is all there is
        return channel


def render_csv(report: dict[str, Any], lang: str = "ja") -> str:
    """The summary table (city, districts, associations), a blank line, then the lists."""
    return render_document(CsvWriter(lang), report)


def _blank(v: Any) -> Any:
    return "" if v is None else v


_CSS = """
@page { size: A4; margin: 14mm 12mm; }
body { font-family: "Noto Sans JP", "Hiragino Sans", "Yu Gothic", sans-serif; font-size: 10.5pt; color: #000;
       max-width: 190mm; margin: 0 auto; line-height: 1.45; }
h1 { font-size: 16pt; margin: 0 0 4pt; } h2 { font-size: 12.5pt; margin: 12pt 0 4pt; border-bottom: 1.5pt solid #000; }
table { border-collapse: collapse; width: 100%; margin: 4pt 0; } th, td { border: 0.6pt solid #777; padding: 2pt 4pt;
text-align: left; } td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
thead { display: table-header-group; } tr { break-inside: avoid; } .meta { color: #333; }
svg.curve { width: 100%; height: auto; max-height: 95mm; } section { break-inside: auto; }
.better { font-weight: bold; } .worse { font-weight: bold; text-decoration: underline; }
th { word-break: keep-all; overflow-wrap: normal; }
/* on a screen, the staff pages' size (base.css): the reader's own default text size, larger by the page's switch;
   a wide table scrolls in its box (QA, heads' walk: 14 px, the first table cut off at 360 px) */
@media screen { html { font-size: 112.5%; } body { font-size: 1rem; max-width: 60rem; padding: 0 1rem; }
  body.large { font-size: 1.3rem; } h1 { font-size: 1.5em; } h2 { font-size: 1.2em; }
  table { display: block; overflow-x: auto; max-width: 100%; } .meta { overflow-wrap: anywhere; }
  header.top { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; padding: .5rem 0;
               border-bottom: 1px solid #ccc; }
  header.top a { display: inline-block; padding: .3rem 0; } header.top form { margin: 0 0 0 auto; }
  header.top button { font: inherit; padding: .4rem .8rem; min-height: 2.5rem; } }
@media print { header.top { display: none; } }
"""


_TEMPLATE = "report.html"


class HtmlWriter:
    """The HTML report, each piece a macro of `stats/templates/report.html` (autoescaped)."""

    def __init__(self, lang: str = "ja", shell: PageShell | None = None) -> None:
        self.lang = lang
        self.shell = shell
        self._cols: list[str] = []

    def head(self, summary: dict[str, Any]) -> str:
        lang = self.lang
        scopes = ", ".join(scope_label(lang, x) for x in summary["campaign"]["scope"])
        if "check" in summary:
            return str(_call("check_head", lang, summary, Markup(_CSS), scopes, self.shell))
        series = [Series(s["label"], s["households"], tuple((p[0] - 1, p[1]) for p in s["points"]))  # buckets again
                  for s in summary["curve"]]
        # render_svg escapes every text it draws
        svg = render_svg(series, title=_l(lang, "curve"), desc=_l(lang, "curve_desc"), minutes_label=_l(lang, "min"))
        levels = [(_l(lang, "city"), summary["city"])] + [(d["name"], d) for d in summary["districts"]]
        return str(_call("head", lang, summary, Markup(_CSS), Markup(svg), scopes, levels, self.shell))

    def list_open(self, key: str, first: Row | None) -> str:
        # the columns follow the first row: every row of a report has the same keys
        self._cols = _people_cols(self.lang, first) if first is not None else []
        return str(_call("list_open", self.lang, key, self._cols if first is not None else None))

    def list_rows(self, key: str, rows: Sequence[Row], first_chunk: bool) -> str:
        return str(_call("list_rows", self.lang, self._cols, rows))

    def list_close(self, key: str, empty: bool) -> str:
        return "" if empty else "</tbody></table>"

    def tail(self) -> str:
        return "</body></html>\n"


def _call(name: str, *args: object) -> Markup:
    return call_macro(_TEMPLATE, name, *args)


# the report's own formats (one decimal, "—" for none), beside the pages' helpers
ENV.globals.update(r_when=_when, r_pct=_pct, r_m=_m, r_channel=_channel_label, r_statuses=_STATUSES,
                   r_phones=_phones_cell, r_details=_details_cell,
                   r_milestones=_MILESTONES, r_outcomes=CHECK_OUTCOMES,
                   r_list_titles={"need_help": "help_list", "notes": "notes_list", "unreachable": "unreachable", "never_answered": "never",
                                  "unconfirmed": "check_unconfirmed"})


def _people_cols(lang: str, row: Row) -> list[str]:
    return (["association", "group", "household"] + (["name", "address"] if "name" in row else [])
            + (["phones"] if "mobile" in row else []) + (["details"] if "people_injured" in row else [])
            + (["outcome"] if "outcome" in row else []) + (["handled"] if "handled" in row else [])
            + (["note"] if "note" in row else []))


def report_cut_notice(lang: str = "ja") -> str:
    """What an HTML report that could not be finished ends with, before its connection is cut."""
    return str(_call("cut_notice", lang))


def render_html(report: dict[str, Any], lang: str = "ja") -> str:
    return render_document(HtmlWriter(lang), report)

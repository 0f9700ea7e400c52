"""Scenario files (TOML): a campaign as data — title, kind, scope, messages, ladder.

A bad scenario is refused with the key and the reason (`ScenarioError`). Tables the broadcast
engine does not read (`simulate`/`simulation`, `options`) are kept in `options` for the drills and demo work.

    title = "さくら市 一斉地震訓練"
    kind = "drill"                      # drill | real
    scope = ["city"]                    # city | district:NAME | association:NAME | group:ASSOC/GROUP;
                                        # [] = none of its own: the one who starts it names it
    [messages]
    ja = "震度6強の地震が発生したという想定の訓練です。…"
    [[ladder]]
    after_minutes = 0
    channels = ["webpush", "telegram"]
    fallback = ["sms", "voice"]
    [[ladder]]
    after_minutes = 30
    door_knock = true
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetynet.channels import registry
from safetynet.domain import CampaignKind, ChannelName, Scope
from safetynet.domain.campaigns import LadderStep
from safetynet.domain.roster import BAD_CHARACTER, character_name
from safetynet.i18n import SaidError, Text

_TOP_KEYS = {"title", "kind", "scope", "messages", "ladder", "description", "simulate", "simulation", "options"}
# Tables kept for the demo and simulated residents, not read by the broadcast.
_PASSTHROUGH = ("simulate", "simulation", "options")
_STEP_KEYS = {"after_minutes", "after_seconds", "channels", "fallback", "door_knock"}
MAX_MESSAGE_CHARS = 1000
# A title heads a push, a chat message and every page of the campaign: one line a phone can show.
MAX_TITLE_CHARS = 120
# A later step after a week is no safety check any more; past this, a typo (1e300) or NaN.
MAX_STEP_MINUTES = 7 * 24 * 60
# A message keeps its line breaks and tabs (a form's textarea sends CR LF; Word and PDFs paste U+2028
# and U+2029, made plain line breaks); every other control character and the bidi overrides are
# invisible and can reorder what a resident reads.
_MESSAGE_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_PASTED_BREAKS = str.maketrans({"\u2028": "\n", "\u2029": "\n"})


class ScenarioError(SaidError, ValueError):
    """A scenario that cannot be used: the file, the key and the reason, a catalog text (`scenario.error.*`,
    its reason `scenario.reason.*` or `campaign.problem.*`) and its values."""


# What refuses one key of a scenario or an API body: (the key, why) -> the error naming where it is.
Fail = Callable[[str, Text], ScenarioError]


def reason(key: str, /, **values: object) -> Text:
    """Why a key of a scenario is refused (`scenario.reason.{key}`): said inside its ScenarioError."""
    return Text(f"scenario.reason.{key}", **values)


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    kind: CampaignKind
    scope: tuple[str, ...]  # () for a scenario meant for one association or district: named at start
    messages: dict[str, str]
    ladder: tuple[LadderStep, ...]
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict)


def load_scenario(path: str | Path, fitted: bool = False) -> Scenario:
    """The scenario at `path`; `fitted`: its title and messages fitted to the rules, not refused (a
    trigger's scenario, read at the moment of a real event: a long title or a stray character must
    not send the city's fallback instead)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ScenarioError("scenario.error.not_found", path=str(p)) from None
    except OSError as e:  # a folder, a file it may not read: every reader (the CLI, a trigger, the API) says so
        raise ScenarioError("scenario.error.unreadable", path=str(p), reason=e.strerror or str(e)) from None
    try:
        table = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        # the parser's own words (line and column) stay as it writes them
        raise ScenarioError("scenario.error.not_toml", path=str(p), detail=str(e)) from None
    return parse_scenario(table, name=p.stem, where=str(p), fitted=fitted)


def parse_scenario(table: Mapping[str, Any], name: str = "inline", where: str = "scenario",
                   fitted: bool = False) -> Scenario:
    def fail(key: str, why: Text) -> ScenarioError:
        return ScenarioError("scenario.error.at", where=where, key=key, reason=why)

    unknown = sorted(set(table) - _TOP_KEYS)
    if unknown:
        raise fail(unknown[0], reason("unknown_top_key", known=", ".join(sorted(_TOP_KEYS))))
    raw_title, messages = table.get("title"), table.get("messages")
    if fitted:
        raw_title = fit_title(raw_title) if isinstance(raw_title, str) else raw_title
        if isinstance(messages, dict):  # a text that fits to nothing is dropped; a non-text is parse_messages's to refuse
            messages = {k: fit for k, v in messages.items()
                        if (fit := fit_message(v) if isinstance(v, str) else v) != ""}
    title = parse_title(raw_title, fail)
    try:
        kind = CampaignKind(table.get("kind", "drill"))
    except ValueError:
        raise fail("kind", reason("kind")) from None
    options = {k: table[k] for k in _PASSTHROUGH if k in table}
    scope = table.get("scope", ["city"])
    return Scenario(
        name=name, title=title, kind=kind, scope=() if scope == [] else parse_scope(scope, fail),
        messages=parse_messages(messages, fail), ladder=parse_ladder(table.get("ladder"), fail),
        description=str(table.get("description", "")), options=options,
    )


def parse_scope(value: Any, fail: Fail) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(s, str) for s in items):
        raise fail("scope", reason("scope_type"))
    out = []
    for s in items:
        if s.startswith("group:"):
            if "/" not in s[6:]:
                raise fail("scope", reason("group", value=repr(s)))
            out.append(s.strip())
            continue
        try:
            out.append(str(Scope.parse(s)))
        except ValueError:  # as the CLI's --scope says it
            raise fail("scope", Text("scope.invalid", value=repr(s.strip()))) from None
    return tuple(out)


def _text_problem(text: str, what: str, limit: int, bad: re.Pattern[str]) -> Text | None:
    """`what` names the catalog texts (`campaign.problem.{what}_empty`, `…_character`): said in the
    reader's language by the console and the CLI, in English (`str()`) by the API and scenario files."""
    if not text.strip():
        return Text(f"campaign.problem.{what}_empty")
    if len(text) > limit:
        return Text("campaign.problem.too_long", limit=limit)
    m = bad.search(text)
    if m:
        return Text(f"campaign.problem.{what}_character", char=character_name(m.group()), position=m.start() + 1)
    return None


def title_problem(title: str) -> Text | None:
    """Why `title` cannot head a campaign, or None."""
    return _text_problem(title, "title", MAX_TITLE_CHARS, BAD_CHARACTER)


def message_problem(text: str) -> Text | None:
    """Why `text` cannot be a campaign's message, or None (U+2028/2029 count as line breaks: `plain_breaks`)."""
    return _text_problem(text, "message", MAX_MESSAGE_CHARS, _MESSAGE_BAD)


def fit_title(text: str) -> str:
    """What a machine wrote (a CAP headline, a JMA telegram) made a title `title_problem` takes: a real
    event must go out, not be refused for a long headline. One line, clipped with 「…」; "" if nothing is left."""
    line = " ".join(BAD_CHARACTER.sub(" ", text).split())
    return line if len(line) <= MAX_TITLE_CHARS else line[:MAX_TITLE_CHARS - 1] + "…"


def plain_breaks(text: str) -> str:
    """U+2028 and U+2029 (pasted from Word or a PDF) as the line breaks they are: an SMS or a mail
    would show them as boxes or nothing."""
    return text.translate(_PASTED_BREAKS)


def fit_message(text: str) -> str:
    """`fit_title` for a message: line breaks and tabs kept, the rest of the controls blanked, clipped."""
    clean = _MESSAGE_BAD.sub(" ", plain_breaks(text)).strip()
    return clean if len(clean) <= MAX_MESSAGE_CHARS else clean[:MAX_MESSAGE_CHARS - 1] + "…"


def parse_title(value: Any, fail: Fail) -> str:
    if not isinstance(value, str):
        raise fail("title", Text("campaign.problem.title_empty"))
    problem = title_problem(value)
    if problem:
        raise fail("title", problem)
    return value.strip()


def parse_messages(value: Any, fail: Fail) -> dict[str, str]:
    if not isinstance(value, dict) or not value:
        raise fail("messages", reason("messages"))
    for lang, text in value.items():
        if not isinstance(text, str):
            raise fail(f"messages.{lang}", Text("campaign.problem.message_empty"))
        problem = message_problem(text)
        if problem:
            raise fail(f"messages.{lang}", problem)
    if "ja" not in value:
        raise fail("messages.ja", reason("japanese"))
    return {str(k): plain_breaks(v).strip() for k, v in value.items()}


def _channels(raw: Any, key: str, fail: Fail) -> tuple[ChannelName, ...]:
    known = ", ".join(registry.names())
    if not isinstance(raw, list):
        raise fail(key, reason("channels", known=known))
    if registry.unknown(raw):
        raise fail(key, reason("unknown_channel", value=repr(raw), known=known))
    return tuple(str(c) for c in raw)


def parse_step(raw: Any, i: int, fail: Fail) -> LadderStep:
    key = f"ladder[{i}]"
    if not isinstance(raw, dict):
        raise fail(key, reason("step_table"))
    unknown = sorted(set(raw) - _STEP_KEYS)
    if unknown:
        raise fail(f"{key}.{unknown[0]}", reason("unknown_key"))
    if "after_seconds" in raw and "after_minutes" in raw:
        raise fail(key, reason("after_both"))
    unit, per = ("after_seconds", 1) if "after_seconds" in raw else ("after_minutes", 60)
    after = raw.get(unit, 0)
    # NaN passes every comparison and 1e300 overflows a timestamp: both would be stored as given
    if (not isinstance(after, int | float) or isinstance(after, bool)
            or (isinstance(after, float) and not math.isfinite(after)) or not 0 <= after * per <= MAX_STEP_MINUTES * 60):
        raise fail(f"{key}.{unit}", reason("after_range", max=f"{MAX_STEP_MINUTES * 60 // per:,}"))
    after = after * per
    door = raw.get("door_knock", False)
    if not isinstance(door, bool):
        raise fail(f"{key}.door_knock", reason("door_knock_bool"))
    channels = _channels(raw.get("channels", []), f"{key}.channels", fail)
    fallback = _channels(raw.get("fallback", []), f"{key}.fallback", fail)
    if door and (channels or fallback):
        raise fail(key, reason("door_knock_channels"))
    if not door and not channels:
        raise fail(f"{key}.channels", reason("no_channel"))
    return LadderStep(float(after), channels, fallback, door)


def parse_ladder(value: Any, fail: Fail) -> tuple[LadderStep, ...]:
    if value is None:
        return registry.default_ladder()
    if not isinstance(value, list) or not value:
        raise fail("ladder", reason("ladder"))
    steps = tuple(parse_step(raw, i, fail) for i, raw in enumerate(value))
    if steps[0].after_seconds != 0:
        raise fail("ladder[0].after_minutes", reason("first_at_once"))
    if steps[0].door_knock:
        raise fail("ladder[0]", reason("first_sends"))
    for i in range(1, len(steps)):
        if steps[i].after_seconds <= steps[i - 1].after_seconds:
            raise fail(f"ladder[{i}].after_minutes", reason("later"))
        if steps[i - 1].door_knock:
            raise fail(f"ladder[{i - 1}]", reason("door_knock_last"))
    if not steps[-1].door_knock:
        # a ladder that never makes the list leaves its silent households to no one until the close
        # (review: no head is told, /city shows none to visit); the last step hands them to people
        raise fail(f"ladder[{len(steps) - 1}]", reason("door_knock_missing"))
    return steps

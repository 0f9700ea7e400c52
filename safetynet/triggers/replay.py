"""Replay: a folder of telegrams, in time order, through the rules, with the decision and why.

`safetynet triggers replay DIR [--json]`; the same `replay()` backs the tests.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from safetynet.config import Config
from safetynet.console import cli_language, print_error, say
from safetynet.domain.japan_time import date_time_jst
from safetynet.domain.triggers import ReasonPart, TriggerInputError, TriggerRules, TriggerState
from safetynet.triggers.inputs import Telegram, parse_telegram, sort_key
from safetynet.triggers.reasons import say_reason
from safetynet.triggers.rules import apply, decide
from safetynet.triggers.settings import TriggerConfigError, as_rules, rules_from_config

SUFFIXES = (".xml", ".cap")


@dataclass(frozen=True)
class ReplayRow:
    file: str
    event_id: str
    decision: str
    reason: str
    campaign: int | None  # the campaign this replay would create or change, numbered from 1; None when ignored
    kind: str = "real"
    reported_at: float | None = None
    parts: tuple[ReasonPart, ...] = ()  # `reason` as catalog keys, said in the terminal's language

    def said(self, lang: str) -> str:
        """The reason in `lang`; the English text when it has no parts."""
        return say_reason(self.parts, lang) if self.parts else self.reason

    def as_json(self) -> dict[str, object]:
        return {"file": self.file, "event_id": self.event_id, "decision": self.decision,
                "reason": self.reason, "campaign": self.campaign}


def _read(files: Iterable[str | Path], rules: TriggerRules) -> tuple[list[tuple[Telegram, str]], list[ReplayRow]]:
    good: list[tuple[Telegram, str]] = []
    bad: list[ReplayRow] = []
    for f in files:
        path = Path(f)
        try:
            good.append((parse_telegram(path.read_bytes(), rules), path.name))
        except (TriggerInputError, OSError) as e:
            # the parser's own words stay English: they name the XML's elements as the schema spells them
            parts = (ReasonPart.of("trigger.reason.unusable", error=str(e)),)
            bad.append(ReplayRow(path.name, "", "ignore", say_reason(parts, "en"), None, parts=parts))
    good.sort(key=lambda item: (*sort_key(item[0]), item[1]))
    bad.sort(key=lambda row: row.file)
    return good, bad


def replay(files: Iterable[str | Path], cfg: Config | TriggerRules) -> list[ReplayRow]:
    """Decide every file in report-time order with a fresh in-memory state; unreadable files come last."""
    rules = as_rules(cfg)
    telegrams, bad = _read(files, rules)
    state = TriggerState()
    rows: list[ReplayRow] = []
    created = 0
    for telegram, name in telegrams:
        d = decide(telegram, state, rules)
        if d.creates:
            created += 1
            d = replace(d, campaign=created)
        apply(state, d)
        campaign = None if d.decision == "ignore" else d.campaign
        rows.append(ReplayRow(name, d.event_id, d.decision, d.reason, campaign, d.kind, d.reported_at, d.parts))
    return rows + bad


def folder_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", help=say("cli.triggers.replay.dir"))
    parser.add_argument("--json", action="store_true", help=say("cli.json_lines"))


_NO_TIME = "-" * len("YYYY-MM-DD HH:MM JST")  # as wide as a time: the columns stay in line


def _line(row: ReplayRow, lang: str) -> str:
    when = date_time_jst(row.reported_at) if row.reported_at is not None else _NO_TIME
    campaign = f"#{row.campaign}" if row.campaign is not None else "-"
    return f"{when}  {row.decision:<8} {campaign:<4} {row.file}  {row.event_id}\n    {row.said(lang)}"


def main(cfg: Config, args: argparse.Namespace) -> int:
    folder = Path(args.dir)
    if not folder.is_dir():
        print_error(say("cli.not_a_folder", path=folder))
        return 2
    try:
        rules = rules_from_config(cfg)
    except TriggerConfigError as e:
        print_error(e)
        return 2
    # The lines are read by the city's 防災担当, in the terminal's language; --json is for scripts and
    # stays English, as the log, trigger_events and the API say a reason.
    lang = cli_language()
    for row in replay(folder_files(folder), rules):
        if args.json:
            print(json.dumps(row.as_json(), ensure_ascii=False))
        else:
            print(_line(row, lang))
    return 0

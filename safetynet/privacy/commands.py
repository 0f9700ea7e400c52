"""`safetynet privacy purge` and `safetynet audit export`: parse, call, print.

Both run with the database at hand, like every command: whoever can run them can read the file.
The export is itself an export of personal data and is recorded in the audit log (as `cli:USER`), before
it goes out (`export_command`); a purge after it erased, with what it erased.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from typing import IO, Any

from safetynet.admin import CommandError
from safetynet.auth import cli_audit_entry
from safetynet.config import Config
from safetynet.console import cli_language, say
from safetynet.csvout import CsvWriter, check_output, private_text
from safetynet.domain.audit import AUDIT_COLUMNS, AuditAction, AuditEntry
from safetynet.domain.japan_time import day_bound, iso_seconds
from safetynet.privacy.retention import PurgeReport, purge
from safetynet.store import Store, store_session

PAGE = 2000


def add_privacy_arguments(sub: Any) -> None:
    p = sub.add_parser("purge", help=say("cli.privacy.purge.help"), description=say("cli.privacy.purge.description"),
                       epilog="example:\n  safetynet privacy purge --json",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help=say("cli.privacy.purge.json"))
    p.set_defaults(func=purge_command)


def add_audit_arguments(sub: Any) -> None:
    p = sub.add_parser("export", help=say("cli.audit.export.help"), description=say("cli.audit.export.description"),
                       epilog="examples:\n  safetynet audit export --since 2026-04-01 --output audit.csv\n"
                              "  safetynet audit export --format json | jq .",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--since", metavar="DATE", help=say("cli.audit.export.since"))
    p.add_argument("--until", metavar="DATE", help=say("cli.audit.export.until"))
    p.add_argument("--format", choices=("csv", "json"), default="csv", help=say("cli.audit.export.format"))
    p.add_argument("--output", metavar="FILE", help=say("cli.audit.export.output"))
    p.set_defaults(func=export_command)


def _purge_entries(at: float, report: PurgeReport) -> list[AuditEntry]:
    """Who erased what (QA, privacy walk: `privacy purge` left only a log line): an entry per campaign
    with its counts, then the run's own, written even when nothing was due."""
    done = [cli_audit_entry(at, AuditAction.PURGE, "campaign", campaign_id=r.campaign_id,
                            detail=f"{r.replies} replies, {r.deliveries} deliveries, {r.attempts} attempts")
            for r in report.campaigns]
    return [*done, cli_audit_entry(at, AuditAction.PURGE, "retention", detail=(
        f"{len(report.campaigns)} campaigns, {report.removed_households} removed households,"
        f" {report.audit_entries} audit entries"))]


def purge_command(cfg: Config, args: argparse.Namespace) -> int:
    async def run() -> dict[str, object]:
        async with store_session(cfg) as store:
            done = await purge(store, cfg.privacy, store.clock.now())
            await store.audit.append(_purge_entries(store.clock.now(), done))
            return done.as_json()

    report = asyncio.run(run())
    if args.json:
        print(json.dumps(report))
    else:
        campaigns: Any = report["campaigns"]
        print(say("cli.privacy.purged", campaigns=len(campaigns), days=cfg.privacy.retention_days,
                  audit=report["audit_entries"], audit_days=cfg.privacy.audit_retention_days))
        for c in campaigns:
            print("  " + say("cli.privacy.purged_campaign", id=c["id"], replies=c["replies"],
                             deliveries=c["deliveries"], attempts=c["attempts"]))
        if report["removed_households"]:  # the officer's question after a move-away: are they gone?
            print(say("cli.privacy.purged_households", count=report["removed_households"]))
    return 0


def _day(text: str | None, flag: str, end: bool = False) -> float | None:
    if text is None:
        return None
    try:
        return day_bound(text, end=end)
    except ValueError:
        raise CommandError(say("cli.audit.bad_day", flag=flag, text=repr(text))) from None
    except OverflowError:  # the day after 9999-12-31 (QA: a traceback)
        raise CommandError(say("cli.audit.day_range", flag=flag, text=repr(text))) from None


async def _pages(store: Store, since: float | None, until: float | None) -> AsyncIterator[list[AuditEntry]]:
    after = 0
    while True:
        page = await store.audit.entries(since=since, until=until, after_id=after, limit=PAGE)
        if page:
            yield page
        if len(page) < PAGE:
            return
        after = page[-1].id



async def _write(store: Store, out: IO[str], fmt: str, since: float | None, until: float | None) -> int:
    n = 0
    writer = CsvWriter(out) if fmt == "csv" else None
    if writer is not None:
        # what a person opens in Excel reads in the terminal's language (QA: English under a Japanese
        # locale); in English, the names scripts have always read
        lang = cli_language()
        writer.writerow([say("cli.audit.col.time"), *(say(f"cli.audit.col.{k}") for k in AUDIT_COLUMNS)]
                        if lang != "en" else ["time", *AUDIT_COLUMNS])
    async for page in _pages(store, since, until):
        for e in page:
            row = e.as_json()
            if writer is not None:
                writer.writerow([iso_seconds(e.at), *("" if row[k] is None else row[k] for k in AUDIT_COLUMNS)])
            else:
                out.write(json.dumps({"time": iso_seconds(e.at), **row}, ensure_ascii=False) + "\n")
            n += 1
    return n


def export_command(cfg: Config, args: argparse.Namespace) -> int:
    since, until = _day(args.since, "--since"), _day(args.until, "--until", end=True)
    if since is not None and until is not None and since >= until:  # QA: an empty export, exit 0
        raise CommandError(say("cli.audit.since_after_until", since=args.since, until=args.until))

    def record(store: Store, detail: str) -> list[AuditEntry]:
        return [cli_audit_entry(store.clock.now(), AuditAction.EXPORT, "audit", detail=f"{args.format}, {detail}")]

    # The export's own entry is written before the log goes out: before its first line on stdout (QA:
    # `| tail` or `| head` left it unrecorded), before the file takes its name (the count known). An
    # entry that cannot be written stops the export: nothing shown, no file.
    async def run() -> int:
        async with store_session(cfg) as store:
            if not args.output:
                await store.audit.append(record(store, "stdout"))
                n = await _write(store, sys.stdout, args.format, since, until)
                sys.stdout.flush()
            else:
                target = check_output(args.output)
                part = target.with_name(f".{target.name}.part")
                try:
                    with private_text(part, "utf-8-sig" if args.format == "csv" else "utf-8", newline="") as f:
                        n = await _write(store, f, args.format, since, until)
                    check_output(target)
                    await store.audit.append(record(store, f"{n} entries"))
                    os.replace(part, target)
                finally:
                    with contextlib.suppress(FileNotFoundError):
                        part.unlink()
            return n

    try:
        n = asyncio.run(run())
    except OSError as e:
        if isinstance(e, BrokenPipeError):
            raise  # stdout closed (`| head`): the CLI's own answer to a broken pipe (QA: "cannot write None")
        # a full disk or quota under `> file` too (review: a traceback)
        raise CommandError(say("cli.cannot_write", path=args.output or say("cli.stdout"), error=e.strerror or e)) from None
    if args.output:
        print(say("cli.audit.wrote", count=n, path=args.output))
    return 0

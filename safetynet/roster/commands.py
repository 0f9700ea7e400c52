"""`safetynet roster import|check|export|codes|generate`.

Each entry point takes the config and the parsed arguments, prints a short human summary and
returns the exit code: 0 done, 1 the data was refused (every problem is listed), 2 the command
could not run (usage, unreadable file, missing secret key, database unavailable).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from safetynet.channels import registry
from safetynet.config import Config
from safetynet.roster import csvio
from safetynet.roster.codes import MissingSecretKey
from safetynet.roster.csvio import ParseResult, RosterWriteError
from safetynet.roster.enrol_letters import issue_codes
from safetynet.roster.generate import generate_roster
from safetynet.roster.model import HouseholdRecord, ImportSummary, UnknownScopeError
from safetynet.store import StoreError, store_session

OK, DATA_ERROR, USAGE = 0, 1, 2
Command = Callable[[Config, argparse.Namespace], int]


def _err(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def _store_errors(fn: Command) -> Command:
    """A database that cannot be written (locked, read-only, disk full) is one line, not a traceback."""

    @functools.wraps(fn)
    def run(cfg: Config, args: argparse.Namespace) -> int:
        try:
            return fn(cfg, args)
        except StoreError as e:
            _err(f"the database cannot be used: {e}")
            return USAGE

    return run


def _read(path: str, cfg: Config) -> ParseResult | None:
    try:
        result = csvio.read_roster(path, default_language=cfg.city.default_language)
    except OSError as e:
        _err(f"cannot read {path}: {e.strerror or e}")
        return None
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if not result.ok:
        for issue in result.errors:
            print(str(issue), file=sys.stderr)
        n = len(result.errors)
        print(f"{path}: {n} problem{'s' if n != 1 else ''}; nothing was imported", file=sys.stderr)
    return result


def _contact_line(records: Sequence[HouseholdRecord]) -> str:
    """How many rows have each contact column filled, and how many none."""
    columns = registry.roster_columns()
    counts = dict.fromkeys((c.kind for c in columns), 0)
    for r in records:
        for kind in {k for k, _ in r.contacts}:
            counts[kind] = counts.get(kind, 0) + 1
    none = sum(1 for r in records if not r.contacts)
    filled = ", ".join(f"{counts[c.kind]} with {c.key}" for c in columns)
    return f"{filled}; {none} with no contact (they need enrolment or a door knock)"


# -- check -----------------------------------------------------------------------


def check(cfg: Config, args: argparse.Namespace) -> int:
    result = _read(args.file, cfg)
    if result is None:
        return USAGE
    if not result.ok:
        return DATA_ERROR
    recs = result.records
    print(
        f"ok: {args.file} ({result.encoding}): {len(recs)} households, "
        f"{len({r.association for r in recs})} associations, {len({r.district for r in recs})} districts"
    )
    print(f"  {_contact_line(recs)}")
    print(f"  {sum(1 for r in recs if r.vulnerable)} households with vulnerable members")
    return OK


# -- import ----------------------------------------------------------------------


async def _count_missing(cfg: Config, records: Sequence[HouseholdRecord]) -> dict[str, int]:
    async with store_session(cfg) as store:
        return await store.roster.count_missing(records)


async def _import(cfg: Config, records: Sequence[HouseholdRecord], replace: bool) -> ImportSummary:
    async with store_session(cfg) as store:
        return await store.roster.import_households(records, replace=replace)


def _confirm_removal(cfg: Config, records: Sequence[HouseholdRecord], yes: bool) -> bool:
    missing = asyncio.run(_count_missing(cfg, records))
    total = sum(missing.values())
    if not total:
        print("--replace: every current household of these associations is in the file; none will be removed")
        return True
    print(f"--replace will remove {total} household{'s' if total != 1 else ''} missing from the file:")
    for assoc, n in missing.items():
        print(f"  {assoc}: {n}")
    if yes:
        return True
    if sys.stdin.isatty():
        return input("remove them? [y/N] ").strip().lower() in ("y", "yes")
    _err("add --yes to remove them (no terminal to ask)")
    return False


def print_import_summary(path: str, s: ImportSummary) -> None:
    print(f"imported {path}: {s.districts} districts, {s.associations} associations")
    print(
        f"  households: {s.households_added} added, {s.households_updated} updated, "
        f"{s.households_unchanged} unchanged, {s.households_removed} removed"
    )
    print(
        f"  contacts: {s.contacts} on these households ({s.contacts_added} added, {s.contacts_removed} removed)"
    )
    print(f"  households with no working channel: {s.households_without_channel}")


@_store_errors
def import_(cfg: Config, args: argparse.Namespace) -> int:
    result = _read(args.file, cfg)
    if result is None:
        return USAGE
    if not result.ok:
        return DATA_ERROR
    replace = bool(getattr(args, "replace", False))
    if replace and not _confirm_removal(cfg, result.records, bool(getattr(args, "yes", False))):
        print("nothing was imported")
        return USAGE
    summary = asyncio.run(_import(cfg, result.records, replace))
    print_import_summary(args.file, summary)
    return OK


# -- export ----------------------------------------------------------------------


async def _export_records(cfg: Config) -> list[HouseholdRecord]:
    async with store_session(cfg) as store:
        return await store.roster.export_records()


@_store_errors
def export(cfg: Config, args: argparse.Namespace) -> int:
    encoding = getattr(args, "encoding", "utf-8")
    records = asyncio.run(_export_records(cfg))
    try:
        n = csvio.write_roster(args.file, records, encoding=encoding, headers=getattr(args, "headers", "ja"))
    except RosterWriteError as e:
        for issue in e.issues:
            print(str(issue), file=sys.stderr)
        _err(f"{len(e.issues)} cells cannot be written to {args.file}; nothing was written")
        return DATA_ERROR
    except OSError as e:
        _err(f"cannot write {args.file}: {e.strerror or e}")
        return USAGE
    print(f"exported {n} households to {args.file} ({'UTF-8 with BOM' if encoding == 'utf-8' else encoding})")
    return OK


# -- codes -----------------------------------------------------------------------


@_store_errors
def codes(cfg: Config, args: argparse.Namespace) -> int:
    associations = getattr(args, "association", None) or None
    try:
        n = asyncio.run(
            issue_codes(cfg, Path(args.output), rotate=bool(args.rotate), associations=associations)
        )
    except MissingSecretKey as e:
        _err(str(e))
        return USAGE
    except UnknownScopeError as e:
        _err(str(e))
        return USAGE
    except OSError as e:
        _err(f"cannot write {args.output}: {e.strerror or e}")
        return USAGE
    if n == 0:
        print("every household already has an enrolment code; nothing written (--rotate issues new ones)")
        return OK
    print(f"wrote {n} enrolment codes to {args.output}")
    print("  keep this file safe: the codes are stored only as keyed hashes and cannot be shown again")
    if args.rotate:
        print("  the previous codes of these households no longer work")
    return OK


# -- generate --------------------------------------------------------------------


def generate(cfg: Config, args: argparse.Namespace) -> int:
    if args.households < 1:
        _err("--households must be at least 1")
        return USAGE
    records = generate_roster(
        args.households,
        args.seed,
        city=cfg.city.name,
        households_per_association=args.per_association,
        associations_per_district=args.per_district,
    )
    try:
        n = csvio.write_roster(args.output, records, encoding=args.encoding, headers=args.headers)
    except OSError as e:
        _err(f"cannot write {args.output}: {e.strerror or e}")
        return USAGE
    print(f"wrote {n} fictional households to {args.output} (seed {args.seed})")
    return OK


# -- argument parsing --------------------------------------------------------------


def _parser(sub: Any, name: str, help_: str, examples: Sequence[str]) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help_,
        description=help_,
        epilog="examples:\n" + "\n".join(f"  {e}" for e in examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return p


def _file_format_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--encoding",
        choices=("utf-8", "cp932"),
        default="utf-8",
        help="utf-8 (with a BOM, so Excel opens it) or cp932 (Shift_JIS); default utf-8",
    )
    p.add_argument("--headers", choices=("ja", "en"), default="ja", help="column names in Japanese or English")  # fmt: skip


def add_arguments(subparsers: Any) -> None:
    """Adds import, check, export, codes and generate to the `roster` sub-command."""
    p = _parser(subparsers, "import", "import households from a roster CSV (all or nothing)",
                ["safetynet roster import examples/roster-sample.csv",
                 "safetynet roster import city.csv --replace --yes"])  # fmt: skip
    p.add_argument(
        "file", help="roster CSV: UTF-8 (with or without BOM) or CP932, English or Japanese headers"
    )
    p.add_argument("--replace", action="store_true",
                   help="also remove households of the file's associations that the file does not list")  # fmt: skip
    p.add_argument("--yes", action="store_true", help="do not ask before removing households with --replace")
    p.set_defaults(func=import_)

    p = _parser(subparsers, "check", "check a roster CSV without writing anything",
                ["safetynet roster check examples/roster-sample.csv"])  # fmt: skip
    p.add_argument("file")
    p.set_defaults(func=check)

    p = _parser(subparsers, "export", "write the roster back to a CSV (importing it again changes nothing)",
                ["safetynet roster export roster.csv", "safetynet roster export roster-sjis.csv --encoding cp932"])  # fmt: skip
    p.add_argument("file")
    _file_format_options(p)
    p.set_defaults(func=export)

    p = _parser(subparsers, "codes", "write enrolment codes and join URLs for households without one",
                ["safetynet roster codes --output letters.csv",
                 "safetynet roster codes --output letters.csv --rotate --association 桜町一丁目町会"])  # fmt: skip
    p.add_argument("--output", required=True, help="CSV to write (created readable by you only)")
    p.add_argument(
        "--rotate", action="store_true", help="issue new codes for every household (old codes stop working)"
    )
    p.add_argument(
        "--association", action="append", metavar="NAME", help="only this association (repeatable)"
    )
    p.set_defaults(func=codes)

    p = _parser(subparsers, "generate", "write a fictional city's roster (for demos and benchmarks)",
                ["safetynet roster generate --households 200000 --output big.csv"])  # fmt: skip
    p.add_argument("--households", type=int, default=600, help="number of households (default 600)")
    p.add_argument("--output", required=True)
    p.add_argument("--seed", type=int, default=1, help="the same seed gives the same city (default 1)")
    p.add_argument(
        "--per-association", type=int, default=200, help="households per association (default 200)"
    )
    p.add_argument("--per-district", type=int, default=12, help="associations per district (default 12)")
    _file_format_options(p)
    p.set_defaults(func=generate)

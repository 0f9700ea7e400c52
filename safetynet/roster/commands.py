"""`safetynet roster import|check|export|codes|letters|generate`.

Each entry point takes the config and the parsed arguments, prints a short human summary and
returns the exit code: 0 done, 1 the data was refused (every problem is listed), 2 the command
could not run (usage, unreadable file, missing secret key, database unavailable).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import structlog

from safetynet.auth import cli_audit_entry
from safetynet.channels import registry
from safetynet.config import Config, check_store_url, database_unwritable
from safetynet.console import cli_language, count_argument, print_error, say, unwritable_message
from safetynet.csvout import Unwritable
from safetynet.domain import CampaignKind
from safetynet.domain.audit import AuditAction, AuditEntry
from safetynet.domain.moves import MovePlan
from safetynet.domain.roster import HouseholdRecord, ImportSummary, UnknownScopeError
from safetynet.roster import csvio
from safetynet.roster.codes import MissingSecretKey
from safetynet.roster.csvio import ParseResult, RosterWriteError
from safetynet.roster.enrol_letters import issue_codes
from safetynet.roster.generate import generate_roster
from safetynet.roster.names import MovedAssociation, NewAssociation, moved_associations, new_associations
from safetynet.store import SchemaBehind, SchemaTooNew, StoreError, store_session
from safetynet.store.errors import ConnectionLost

log = structlog.get_logger("roster")

OK, DATA_ERROR, USAGE = 0, 1, 2
INTERRUPTED = 130  # Ctrl-C, as a shell reports a command stopped by SIGINT
Command = Callable[[Config, argparse.Namespace], int]


def _store_errors(fn: Command) -> Command:
    """A database that cannot be written (locked, read-only, disk full) is one line, not a traceback: for a
    SQLite file that cannot be written, the line every command says (`config.database_unwritable`: the
    file and what to check)."""

    @functools.wraps(fn)
    def run(cfg: Config, args: argparse.Namespace) -> int:
        try:
            return fn(cfg, args)
        except (SchemaTooNew, SchemaBehind):
            raise  # the command line says it in the terminal's language
        except StoreError as e:
            print_error(database_unwritable(cfg, e) or say("cli.db_unusable", error=e))
            return USAGE

    return run


def _read(path: str, cfg: Config, checking: bool = False) -> ParseResult | None:
    """The file read and checked, its warnings and problems said on stderr; None if it cannot be opened.
    The last line of a refused file says what follows: nothing imported, or (`checking`, as `roster check`,
    which never imports) that an import would refuse the file."""
    try:
        result = csvio.read_roster(path, default_language=cfg.city.default_language)
    except OSError as e:
        print_error(say("cli.cannot_read", path=path, error=e.strerror or e))
        return None
    lang = cli_language()
    for w in result.warnings:
        print(say("cli.roster.warning", warning=w.text(lang)), file=sys.stderr)
    if not result.ok:
        for issue in result.errors:
            print(issue.text(lang), file=sys.stderr)
        n = len(result.errors)
        key = ("cli.roster.check_problem" if n == 1 else "cli.roster.check_problems") if checking else (
            "cli.roster.problem" if n == 1 else "cli.roster.problems")
        print(say(key, path=path, count=n), file=sys.stderr)
    return result


def _contact_line(records: Sequence[HouseholdRecord]) -> str:
    """How many rows have each contact column filled, and how many none."""
    columns = registry.roster_columns()
    counts = dict.fromkeys((c.kind for c in columns), 0)
    for r in records:
        for kind in {k for k, _ in r.contacts}:
            counts[kind] = counts.get(kind, 0) + 1
    none = sum(1 for r in records if not r.contacts)
    filled = say("cli.list_separator").join(
        say("cli.roster.contact_count", kind=say(f"contact.kind.{c.kind}"), n=counts[c.kind]) for c in columns)
    return say("cli.roster.contacts", counts=filled, none=none)


def _households(n: int) -> str:
    return say("cli.roster.n_households_one" if n == 1 else "cli.roster.n_households", count=n)


def _associations(n: int) -> str:
    return say("cli.roster.n_associations_one" if n == 1 else "cli.roster.n_associations", count=n)


def _districts(n: int) -> str:
    return say("cli.roster.n_districts_one" if n == 1 else "cli.roster.n_districts", count=n)


# -- check -----------------------------------------------------------------------


def check(cfg: Config, args: argparse.Namespace) -> int:
    result = _read(args.file, cfg, checking=True)
    if result is None:
        return USAGE
    if not result.ok:
        return DATA_ERROR
    recs = result.records
    # what `import` with the same options would refuse against the city, refused here too and said the
    # same (review: `check` said ok, exit 0, of a file `import` then refused)
    refused = _refused_by_the_city(cfg, result, args)
    if refused:
        key = "cli.roster.check_problem" if refused == 1 else "cli.roster.check_problems"
        print(say(key, path=args.file, count=refused), file=sys.stderr)
        return DATA_ERROR
    print(say("cli.roster.check_ok", path=args.file, encoding=result.encoding, households=_households(len(recs)),
              associations=_associations(len({r.association for r in recs})),
              districts=_districts(len({r.district for r in recs}))))
    print(f"  {_contact_line(recs)}")
    vulnerable = sum(1 for r in recs if r.vulnerable)
    print("  " + say("cli.roster.vulnerable_one" if vulnerable == 1 else "cli.roster.vulnerable", count=vulnerable))
    plan = _moves_in_the_city(cfg, recs)
    if plan.moves:
        print("  " + say("cli.roster.check_moves", count=len(plan.moves)))
    if plan.ambiguous:
        print("  " + say("cli.roster.check_moves_ambiguous", count=plan.ambiguous))
    return OK


def _refused_by_the_city(cfg: Config, result: ParseResult, args: argparse.Namespace) -> int:
    """`check`: the associations the file would move to another district or that look like the city's,
    said as `import` says them (how many), where there is a city to compare with and it can be read."""
    if check_store_url(cfg.store.url) == "sqlite" and not cfg.db_path.exists():
        return 0
    try:
        found, moved = asyncio.run(_against_the_city(cfg, result.records))
    except (StoreError, SchemaBehind, SchemaTooNew) as e:
        log.warning("roster_check_city_unread", error=type(e).__name__)
        return 0
    return (_refuse_moves(result, moved, bool(getattr(args, "move_district", False)), checking=True)
            + _refuse_look_alikes(found or (), bool(getattr(args, "yes", False)), checking=True))


def _moves_in_the_city(cfg: Config, records: Sequence[HouseholdRecord]) -> MovePlan:
    """The moves `import --replace` would make, where there is a city to compare with: `check` runs without
    one too (it must not make an empty database), and a store it cannot read only leaves this line out."""
    if check_store_url(cfg.store.url) == "sqlite" and not cfg.db_path.exists():
        return MovePlan()

    async def read() -> MovePlan:
        async with store_session(cfg) as store:
            return await store.roster.plan_moves(records)

    try:
        return asyncio.run(read())
    except (StoreError, SchemaBehind, SchemaTooNew) as e:
        log.warning("roster_check_moves_unread", error=type(e).__name__)
        return MovePlan()


# -- import ----------------------------------------------------------------------


async def _count_missing(cfg: Config, records: Sequence[HouseholdRecord]) -> tuple[dict[str, int], int]:
    """The households `--replace` takes out of each association, and how many of them move to another
    association of the file (`domain.moves`): those keep what their residents gave, and are not gone."""
    async with store_session(cfg) as store:
        missing = await store.roster.count_missing(records)
        return missing, len((await store.roster.plan_moves(records)).moves) if missing else 0


async def _against_the_city(cfg: Config, records: Sequence[HouseholdRecord]) -> tuple[
        list[NewAssociation] | None, dict[MovedAssociation, int]]:
    """The file's new associations (None on a first import: every one is new), and those it moves to
    another district with the households the city has in each now (all of them move, whatever rows the
    file has: QA got "its 2 households" for an association of 65)."""
    async with store_session(cfg) as store:
        known = await store.roster.list_associations()
        if not known:
            return None, {}
        moved = {m: await store.roster.count_in_scope([f"association:{m.name}"])
                 for m in moved_associations(records, known)}
    return new_associations(records, known), moved


def _refuse_moves(result: ParseResult, moved: dict[MovedAssociation, int], allowed: bool,
                  checking: bool = False) -> int:
    """How many associations the file moves to another district without --move-district, each said at
    its row and column (`checking`: as `roster check`, which imports nothing). A district is a district
    head's scope: QA's `中央 地区` (one space) made a new district and took a whole association out of
    its head's sight, exit 0."""
    if not moved or allowed:
        return 0
    for m, households in moved.items():
        print_error(say("cli.roster.moved_district", row=result.association_rows.get(m.name, "?"),
                 column=result.district_column, name=m.name, old=m.old, new=m.new, households=households))
    print_error(say("cli.roster.check_moved_district_fix" if checking else "cli.roster.moved_district_fix"))
    return len(moved)


def _refuse_look_alikes(found: Sequence[NewAssociation], yes: bool, checking: bool = False) -> int:
    """How many new associations of the file the city has under another spelling, each said, when --yes
    does not say they are different ones (`checking`: as `roster check`, which imports nothing)."""
    alike = [n for n in found if n.like]
    if not alike or yes:
        return 0
    for n in alike:
        print_error(say("cli.roster.look_alike", name=n.name, households=n.households, like=n.like))
    print_error(say("cli.roster.check_look_alike_fix" if checking else "cli.roster.look_alike_fix"))
    return len(alike)


def import_detail(s: ImportSummary, households: int, replace: bool, consent_column: bool = True) -> str:
    """The import's audit detail: counts only, never a name, an address or a phone."""
    parts = [f"{households} households: {s.households_added} added, {s.households_updated} updated,"
             f" {s.households_unchanged} unchanged, {s.households_removed} removed" + (" (--replace)" if replace else ""),
             f"contacts: {s.contacts_added} added, {s.contacts_removed} removed,"
             f" {s.contacts_not_restored} removed by residents not added back"]
    if s.consent_kept:
        why = "empty consent cells" if consent_column else "no consent column"
        parts.append(f"{why}: {s.consent_kept} kept as recorded")
    if s.consent_now_stated:
        parts.append(f"consents now stated: {s.consent_now_stated}")
    if s.consent_changes:
        parts.append("consent: " + ", ".join(f"{a}→{b} {n}" for a, b, n in s.consent_changes))
    if s.households_moved or s.moves_ambiguous:
        parts.append(f"moved to another association: {s.households_moved} ({s.moved_consent_kept} kept no),"
                     f" not moved (several candidates): {s.moves_ambiguous}")
    return "; ".join(parts)


def import_audit(at: float, s: ImportSummary, households: int, replace: bool,
                 consent_column: bool = True) -> list[AuditEntry]:
    """The import's audit entries (DESIGN §9): one with its counts, and one a household whose consent it
    changed, naming the household by id (QA, privacy walk: a records officer could not tell who changed
    a consent, or when)."""
    entry = cli_audit_entry(at, AuditAction.IMPORT, "roster", detail=import_detail(s, households, replace,
                                                                                       consent_column))
    return [entry, *(dataclasses.replace(entry, action=str(AuditAction.CONSENT), what="import", household_id=h,
                                         association_id=a, detail=f"{before}→{after}")
                     for h, a, before, after in s.consent_changed)]


async def _import(cfg: Config, records: Sequence[HouseholdRecord], replace: bool,
                  done: list[ImportSummary], consent_stated: bool = True) -> ImportSummary:
    """The import, its summary also put in `done` as soon as it is written: a Ctrl-C after that (while
    the store closes) must not be reported as nothing imported. Its audit entries follow it (the import
    is its own transaction, sized for 200,000 households): one that cannot be written is said, and
    the import stands. Households added while campaigns run are said to be enrolled in them by the server."""
    async with store_session(cfg) as store:
        summary = await store.roster.import_households(records, replace=replace, consent_stated=consent_stated)
        done.append(summary)
        try:
            await store.audit.append(import_audit(store.clock.now(), summary, len(records), replace, consent_stated))
        except StoreError as e:
            print_error(say("cli.roster.import_unaudited", error=e))
        if summary.households_added or summary.households_moved:  # a moved household is a new one to campaigns
            # the leader's ladder enrols them in the running campaigns whose scope takes them, within a
            # minute (`CampaignService.enrol_newcomers`): said, since this command does not do it itself.
            # The import stands whatever this read does.
            try:
                running = [c.id for c in await store.campaigns.running() if c.kind != CampaignKind.CHECK]
            except StoreError as e:
                log.warning("roster_import_running_unread", error=str(e))
                running = []
            if running:
                n = summary.households_added + summary.households_moved
                print(say("cli.roster.added_while_running_one" if n == 1 else "cli.roster.added_while_running",
                          n=f"{n:,}", campaigns=say("cli.roster.campaign_ids_sep").join(f"#{c}" for c in running)),
                      file=sys.stderr)
    return summary


def _confirm_removal(cfg: Config, records: Sequence[HouseholdRecord], yes: bool) -> bool:
    missing, moving = asyncio.run(_count_missing(cfg, records))
    total = sum(missing.values())
    if not total:
        print(say("cli.roster.replace_none"))
        return True
    print(say("cli.roster.replace_will_remove_one" if total == 1 else "cli.roster.replace_will_remove", count=total))
    for assoc, n in missing.items():
        print(f"  {assoc}: {n}")
    if moving:  # the question counted them as removed (the moves' reread): said before it is asked
        print(say("cli.roster.replace_of_which_move", count=moving))
    if yes:
        return True
    if sys.stdin.isatty():
        return input(say("cli.roster.replace_ask")).strip().lower() in ("y", "yes")
    print_error(say("cli.roster.replace_needs_yes"))
    return False


def print_import_summary(path: str, s: ImportSummary, consent_column: bool = True) -> None:
    print(say("cli.roster.imported", path=path, districts=_districts(s.districts),
              associations=_associations(s.associations)))
    print("  " + say("cli.roster.imported_households", added=s.households_added, updated=s.households_updated,
                     unchanged=s.households_unchanged, removed=s.households_removed))
    print("  " + say("cli.roster.imported_contacts", contacts=s.contacts, added=s.contacts_added,
                     removed=s.contacts_removed))
    if s.contacts_not_restored:
        print("  " + say("cli.roster.imported_not_restored", count=s.contacts_not_restored))
    if s.households_moved:
        print("  " + say("cli.roster.imported_moved", count=s.households_moved, kept=s.moved_consent_kept))
    if s.moves_ambiguous:
        print("  " + say("cli.roster.imported_moves_ambiguous", count=s.moves_ambiguous))
    print("  " + say("cli.roster.imported_no_channel", count=s.households_without_channel))
    if s.consent_kept:
        # rows that state no consent: the file has no such column, or (row by row) an empty cell
        key = "cli.roster.imported_consent_kept" if not consent_column else "cli.roster.imported_consent_kept_empty"
        print("  " + say(key, count=s.consent_kept))
    if s.consent_now_stated:
        # said: a file exported before 0120 states every ordinary row's 同意 (review: silently, 0120's
        # protection of a defaulted 同意 was lost for the whole roster)
        print("  " + say("cli.roster.imported_consent_now_stated", count=s.consent_now_stated))
    if s.consent_changes:
        # each way named: a 不同意 turned 同意 is a household's details reaching its heads (QA: "69 updated")
        ways = say("cli.list_separator").join(
            say("cli.roster.consent_change", before=say(f"cli.roster.consent_word.{before}"),
                after=say(f"cli.roster.consent_word.{after}"), count=n) for before, after, n in s.consent_changes)
        print("  " + say("cli.roster.imported_consent_changed", changes=ways))


@_store_errors
def import_(cfg: Config, args: argparse.Namespace) -> int:
    """`roster import`. Ctrl-C before the import is written (reading the file, checking it against the city,
    the question before --replace removes households, the import's transaction) stops it with nothing
    imported, and says so (QA: it ended silently; the operator could not tell). The import is one
    transaction, which the cancel asyncio.run delivers on SIGINT rolls back; once its COMMIT has begun, the
    store lets it finish (`import_households`). Once it is written, the summary is printed whatever comes
    after."""
    done: list[ImportSummary] = []
    columns: list[bool] = []  # whether the file has a consent column, once read
    try:
        outcome = _checked_import(cfg, args, done, columns)
    except KeyboardInterrupt:
        if not done:
            print(say("cli.roster.import_stopped"), file=sys.stderr)
            return INTERRUPTED
        outcome = done[0], []  # stopped while the store closed: imported all the same
    except ConnectionLost as e:
        # PostgreSQL ended the connection (restarted, the backend terminated): the import's transaction
        # was rolled back, or, cut off in its COMMIT, nobody can tell; either way running it again is
        # right, as an import of the same file twice leaves the roster as once (QA: asyncpg's "cannot call
        # Transaction.__aexit__(): the underlying connection is closed" after a JSON log line)
        if not done:
            print_error(say("cli.roster.import_lost_committing" if e.while_committing else "cli.roster.import_lost"))
            return USAGE
        outcome = done[0], []  # lost while the store closed: imported all the same
    if isinstance(outcome, int):
        return outcome
    summary, found = outcome
    print_import_summary(args.file, summary, all(columns))
    if found is None:
        # a first import: every association is new, and a city's thousand would bury the summary one a
        # line; one line says what is still to do for all of them (QA: nothing said it)
        print("  " + say("cli.roster.first_import", associations=_associations(summary.associations)))
    for n in found or ():  # a later import's new association is worth a look (its head, its letters)
        print("  " + say("cli.roster.new_association", name=n.name, district=n.district, households=n.households))
    return OK


def _checked_import(cfg: Config, args: argparse.Namespace, done: list[ImportSummary],
                    columns: list[bool]) -> int | tuple[ImportSummary, list[NewAssociation] | None]:
    """The file read, checked against the city and imported: its summary and new associations (None on
    a first import: every one is new), or the exit code of a refusal (said). Whether the file has a
    consent column goes in `columns`."""
    result = _read(args.file, cfg)
    if result is None:
        return USAGE
    columns.append(result.consent_column)
    if not result.ok:
        return DATA_ERROR
    replace, yes = bool(getattr(args, "replace", False)), bool(getattr(args, "yes", False))
    found, moved = asyncio.run(_against_the_city(cfg, result.records))
    # the file's content refused: 1, as a file with bad rows (review: these said 2, "could not run")
    if _refuse_moves(result, moved, bool(getattr(args, "move_district", False))):
        print(say("cli.roster.nothing_imported"))
        return DATA_ERROR
    if _refuse_look_alikes(found or (), yes):
        print(say("cli.roster.nothing_imported"))
        return DATA_ERROR
    if replace and not _confirm_removal(cfg, result.records, yes):
        print(say("cli.roster.nothing_imported"))
        return USAGE
    return asyncio.run(_import(cfg, result.records, replace, done, result.consent_column)), found


# -- export ----------------------------------------------------------------------


def _export_entry(what: str, detail: Callable[[int], str]) -> Callable[[float, int], AuditEntry]:
    """The audit entry (DESIGN §9) of a file of households' details, given when and how many it holds:
    each export writes it before the file takes its name, so no file is without its entry."""
    return lambda at, n: cli_audit_entry(at, AuditAction.EXPORT, what, detail=detail(n))


def _audit_export(cfg: Config, entry: Callable[[float, int], AuditEntry], n: int) -> None:
    async def run() -> None:
        async with store_session(cfg) as store:
            await store.audit.append([entry(store.clock.now(), n)])

    asyncio.run(run())


async def _export_records(cfg: Config) -> list[HouseholdRecord]:
    async with store_session(cfg) as store:
        return await store.roster.export_records(csvio.contact_kinds())


@_store_errors
def export(cfg: Config, args: argparse.Namespace) -> int:
    encoding = getattr(args, "encoding", "utf-8")
    records = asyncio.run(_export_records(cfg))
    try:
        entry = _export_entry("roster", lambda n: f"{n} households")
        n = csvio.write_roster(args.file, records, encoding=encoding, headers=getattr(args, "headers", "ja"),
                               before_publish=functools.partial(_audit_export, cfg, entry))
    except RosterWriteError as e:
        lang = cli_language()
        for issue in e.issues:
            print(issue.text(lang), file=sys.stderr)
        print_error(say("cli.roster.export_unwritable", count=len(e.issues), path=args.file))
        return DATA_ERROR
    except OSError as e:
        print_error(say("cli.cannot_write", path=args.file, error=e.strerror or e))
        return USAGE
    shown = say("cli.utf8_bom") if encoding == "utf-8" else encoding
    print(say("cli.roster.exported", count=n, path=args.file, encoding=shown))
    return OK


# -- codes -----------------------------------------------------------------------


@_store_errors
def codes(cfg: Config, args: argparse.Namespace) -> int:
    associations = getattr(args, "association", None) or None
    try:
        n = asyncio.run(
            issue_codes(cfg, Path(args.output), rotate=bool(args.rotate), associations=associations,
                        headers=getattr(args, "headers", "ja"), encoding=getattr(args, "encoding", "utf-8"),
                        audit=_export_entry("codes", lambda n: f"{n} households"))
        )
    except Unwritable as e:
        print_error(unwritable_message(e) + "; " + say("cli.codes.none_stored"))
        return DATA_ERROR
    except MissingSecretKey as e:
        print_error(str(e))
        return USAGE
    except UnknownScopeError as e:
        print_error(str(e))
        return USAGE
    except OSError as e:
        print_error(say("cli.cannot_write", path=args.output, error=e.strerror or e))
        return USAGE
    if n == 0:
        print(say("cli.codes.none_new"))
        return OK
    print(say("cli.codes.wrote", count=n, path=args.output))
    print("  " + say("cli.codes.keep_safe"))
    if args.rotate:
        print("  " + say("cli.codes.rotated"))
    return OK


# -- letters ---------------------------------------------------------------------


@_store_errors
def letters(cfg: Config, args: argparse.Namespace) -> int:
    from safetynet.roster.letters import LettersError, format_of, issue_letters, sample_reasons

    scopes = args.scope or ["city"]
    try:
        # the format written (QA: "None, 10 households" when it came from the file's name)
        chosen, where = format_of(Path(args.output), args.format), ", ".join(scopes)
        n = issue_letters(cfg, Path(args.output), fmt=args.format, scopes=scopes, rotate=bool(args.rotate),
                          audit=_export_entry("letters", lambda n: f"{chosen}, {n} households, {where}"))
    except (LettersError, MissingSecretKey, UnknownScopeError) as e:
        print_error(str(e))
        return USAGE
    except OSError as e:
        print_error(say("cli.cannot_write", path=args.output, error=e.strerror or e))
        return USAGE
    if n == 0:
        print(say("cli.letters.none"))
        return OK
    print(say("cli.letters.wrote", n=n, output=args.output))
    if reasons := sample_reasons(cfg, cli_language()):
        print(" ".join([say("letters.page_sample"), *reasons]), file=sys.stderr)
    print("  " + say("cli.letters.keep_safe"))
    if args.rotate:
        print("  " + say("cli.letters.rotated"))
    return OK


# -- generate --------------------------------------------------------------------


def generate(cfg: Config, args: argparse.Namespace) -> int:
    if args.households < 1:
        print_error(say("cli.generate.households_min"))
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
        print_error(say("cli.cannot_write", path=args.output, error=e.strerror or e))
        return USAGE
    print(say("cli.generate.wrote", count=n, path=args.output, seed=args.seed))
    return OK


# -- argument parsing --------------------------------------------------------------


def _parser(sub: Any, name: str, help_: str, examples: Sequence[str]) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help_,
        description=help_,
        epilog=say("cli.examples") + "\n" + "\n".join(f"  {e}" for e in examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return p


def _file_format_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--encoding",
        choices=("utf-8", "cp932"),
        default="utf-8",
        help=say("cli.file.encoding"),
    )
    p.add_argument("--headers", choices=("ja", "en"), default="ja", help=say("cli.file.headers"))


def add_arguments(subparsers: Any) -> None:
    """Adds import, check, export, codes, letters and generate to the `roster` sub-command."""
    p = _parser(subparsers, "import", say("cli.roster.import.help"),
                ["safetynet roster import examples/roster-sample.csv",
                 "safetynet roster import city.csv --replace --yes"])  # fmt: skip
    p.add_argument(
        "file", help=say("cli.roster.import.file")
    )
    p.add_argument("--replace", action="store_true", help=say("cli.roster.import.replace"))
    p.add_argument("--yes", action="store_true", help=say("cli.roster.import.yes"))
    p.add_argument("--move-district", action="store_true", help=say("cli.roster.import.move_district"))
    p.set_defaults(func=import_)

    p = _parser(subparsers, "check", say("cli.roster.check.help"),
                ["safetynet roster check examples/roster-sample.csv"])  # fmt: skip
    p.add_argument("file")
    # as `import` takes them, so a file meant for `import --move-district` (or `--yes`) checks as it imports
    p.add_argument("--yes", action="store_true", help=say("cli.roster.check.yes"))
    p.add_argument("--move-district", action="store_true", help=say("cli.roster.check.move_district"))
    p.set_defaults(func=check)

    p = _parser(subparsers, "export", say("cli.roster.export.help"),
                ["safetynet roster export roster.csv", "safetynet roster export roster-sjis.csv --encoding cp932"])  # fmt: skip
    p.add_argument("file")
    _file_format_options(p)
    p.set_defaults(func=export)

    p = _parser(subparsers, "codes", say("cli.roster.codes.help"),
                ["safetynet roster codes --output letters.csv",
                 "safetynet roster codes --output letters.csv --rotate --association 花園町一丁目町会"])  # fmt: skip
    p.add_argument("--output", required=True, help=say("cli.roster.codes.output"))
    p.add_argument("--rotate", action="store_true", help=say("cli.roster.codes.rotate"))
    p.add_argument("--association", action="append", metavar="NAME", help=say("cli.roster.codes.association"))
    _file_format_options(p)
    p.set_defaults(func=codes)

    p = _parser(subparsers, "letters", say("cli.roster.letters.help"),
                ["safetynet roster letters --output letters.pdf",
                 "safetynet roster letters --output sakura.html --scope association:花園町一丁目町会 --rotate"])  # fmt: skip
    p.add_argument("--output", required=True, help=say("cli.roster.letters.output"))
    p.add_argument("--format", choices=("pdf", "html"), help=say("cli.roster.letters.format"))
    p.add_argument("--scope", action="append", metavar="SCOPE", help=say("cli.roster.letters.scope"))
    p.add_argument("--rotate", action="store_true", help=say("cli.roster.letters.rotate"))
    p.set_defaults(func=letters)

    p = _parser(subparsers, "generate", say("cli.roster.generate.help"),
                ["safetynet roster generate --households 200000 --output big.csv"])  # fmt: skip
    p.add_argument("--households", type=count_argument, default=600, help=say("cli.roster.generate.households"))
    p.add_argument("--output", required=True)
    p.add_argument("--seed", type=int, default=1, help=say("cli.roster.generate.seed"))
    p.add_argument("--per-association", type=count_argument, default=200, help=say("cli.roster.generate.per_association"))
    p.add_argument("--per-district", type=count_argument, default=12, help=say("cli.roster.generate.per_district"))
    _file_format_options(p)
    p.set_defaults(func=generate)

"""Issuing enrolment codes: the letters file (clear codes) and the stored hashes, kept in step.

The file is written first under a temporary name, the hashes are committed next, and only then
does the file take its final name: a failure at any point leaves no code that nobody can read,
and no file whose codes do not work.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from safetynet.config import Config
from safetynet.csvout import CsvWriter, check_output, excel_codec, open_excel
from safetynet.domain.audit import AuditEntry
from safetynet.domain.roster import CodeTarget
from safetynet.roster.codes import MissingSecretKey, hash_code, join_url, new_code
from safetynet.store import store_session

LETTER_HEADERS = {
    "ja": ["地区", "町会", "班", "世帯番号", "世帯主", "住所", "登録コード", "登録URL"],
    "en": ["district", "association", "group", "household", "name", "address", "code", "url"],
}


def letter_rows(issued: Sequence[tuple[CodeTarget, str]], public_url: str) -> list[list[str]]:
    return [
        [t.district, t.association, t.group, t.household_key, t.name, t.address, code, join_url(public_url, code)]
        for t, code in issued
    ]


def write_private_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8") -> None:
    """UTF-8 with BOM (Excel, mail merge) or CP932, created with mode 0600: the codes are secrets.
    Raises `Unwritable` when CP932 cannot hold a name or an address."""
    with open_excel(path, encoding) as f:
        w = CsvWriter(f)
        w.writerow(header)
        w.writerows(rows)


async def issue_codes(
    cfg: Config,
    output: Path,
    rotate: bool = False,
    associations: Sequence[str] | None = None,
    headers: str = "ja",
    encoding: str = "utf-8",
    audit: Callable[[float, int], AuditEntry] | None = None,
) -> int:
    """New codes for households without one (all of them with `rotate`), optionally only in
    `associations`; writes the letters file and returns how many codes were issued. A cell the
    file's encoding cannot hold (`Unwritable`) stops it before any code is stored. `audit(at, n)`, the
    export's audit entry, is written before the codes are stored and the file takes its name: one
    that cannot be written leaves no file and no new code."""
    excel_codec(encoding)
    check_output(output)  # before any code is drawn: a file that cannot be written strands none
    key = cfg.secrets.secret_key
    if not key:
        raise MissingSecretKey("no secret key: run `safetynet init` or set SAFETYNET_SECRET_KEY")
    async with store_session(cfg) as store:
        targets = await store.roster.code_targets(associations, only_without_code=not rotate)
        if not targets:
            return 0
        issued = [(t, new_code()) for t in targets]
        tmp = output.with_name(f".{output.name}.partial")
        try:
            write_private_csv(tmp, LETTER_HEADERS[headers], letter_rows(issued, cfg.server.public_url), encoding)
            check_output(output)  # again: what is there now is what the rename after the commit replaces
            if audit is not None:
                await store.audit.append([audit(store.clock.now(), len(issued))])
            await store.roster.set_enrolment_codes((t.household_id, hash_code(c, key)) for t, c in issued)
            os.replace(tmp, output)
        finally:
            tmp.unlink(missing_ok=True)
    return len(issued)

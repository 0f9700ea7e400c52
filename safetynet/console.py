"""What the `safetynet` command says, in the language of the terminal: Japanese when the locale is
Japanese (`LANG=ja_JP.UTF-8`), English otherwise. The texts are the catalogs' `cli.*` keys, complete
in both ja and en (a test checks), so a Japanese operator never reads a half-translated screen.

The locale is read as gettext reads it: the first of LANGUAGE, LC_ALL, LC_MESSAGES and LANG that is
set. `C`, `POSIX` and anything not Japanese is English: an English message is what a search finds.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import unicodedata
from collections.abc import Mapping

from safetynet.csvout import Unwritable
from safetynet.i18n import t

CLI_LANGUAGES = ("ja", "en")


def cli_language(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "").split(":")[0].strip()
        if value:
            return "ja" if value.lower().startswith("ja") else "en"
    return "en"


def say(key: str, /, **values: object) -> str:
    """The text `key` in the terminal's language."""
    return t(cli_language(), key, **values)


def error_line(message: object) -> str:
    """A command's error as the terminal reads it: `error: …`, 「エラー: …」 in a Japanese terminal."""
    return say("cli.error", message=message)


def print_error(message: object) -> None:
    """The error line of a command (`error_line`), on stderr: every command's one way of saying it."""
    print(error_line(message), file=sys.stderr)


def columns(text: str) -> int:
    """How many terminal columns `text` takes: East Asian wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pad(text: str, width: int) -> str:
    """`text` padded with spaces to `width` columns (`str.ljust` counts 「無事」 as two, not four)."""
    return text + " " * max(0, width - columns(text))


def unwritable_message(e: Unwritable) -> str:
    if e.row is None:
        return say("cli.csv.unwritable", char=e.char, cell=e.cell, encoding=e.encoding)
    return say("cli.csv.unwritable_row", row=e.row, char=e.char, cell=e.cell, encoding=e.encoding)


# Ids are stored as 64-bit integers by both engines: a larger one can name nothing, and reaches the
# database driver as an OverflowError traceback (QA: `campaign status 99999999999999999999`).
INT64_MAX = 2**63 - 1


_WHOLE = re.compile(r"-?[0-9]{1,20}")


def _whole(text: str) -> int:
    """`text` as a whole number written in ASCII digits: int() also takes 「１」, "1_0" and " 1", which
    the web's ids refuse (one rule for both)."""
    if not _WHOLE.fullmatch(text):
        raise argparse.ArgumentTypeError(say("cli.arg.not_whole", value=text))
    return int(text)


def id_argument(text: str) -> int:
    """argparse `type=` of an id (a campaign, a token): a whole number from 1 to 2**63-1."""
    value = _whole(text)
    if not 1 <= value <= INT64_MAX:
        raise argparse.ArgumentTypeError(say("cli.arg.id_range", value=text))
    return value


def int64_argument(text: str) -> int:
    """argparse `type=` of a whole number a command checks itself, bounded to what the store holds."""
    value = _whole(text)
    if not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise argparse.ArgumentTypeError(say("cli.arg.id_range", value=text))
    return value


def port_argument(text: str) -> int:
    """argparse `type=` of a TCP port: 1 to 65535, or 0 for any free one (a larger number would be
    bound modulo 65536, QA's 99999 listening on 34463)."""
    value = _whole(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(say("cli.arg.port_range", value=text))
    return value


def count_argument(text: str) -> int:
    """argparse `type=` of a count that must be at least one (households, households per association):
    QA's `--per-association 0` was a ZeroDivisionError, `bench --households -1` a traceback."""
    value = _whole(text)
    if not 1 <= value <= INT64_MAX:
        raise argparse.ArgumentTypeError(say("cli.arg.count", value=text))
    return value


def share_argument(text: str) -> float:
    """argparse `type=` of a share of households or answers: a number from 0 to 1 (QA: `--push-share 2`
    and `--fail-5xx 2` were taken)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(say("cli.arg.share", value=text)) from None
    if not 0.0 <= value <= 1.0:  # nan fails both comparisons
        raise argparse.ArgumentTypeError(say("cli.arg.share", value=text))
    return value

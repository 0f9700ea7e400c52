"""Ctrl-C before the command line's own handling is in place: no traceback.

Imported first by `safetynet.cli`, before the imports that take most of a command's first second
(QA: a Ctrl-C then printed a `KeyboardInterrupt` traceback). A KeyboardInterrupt that reaches the top
of the program ends it with nothing printed; Python then exits as a process stopped by SIGINT does
(status 130 in the shell). One raised where Python can only report it (a thread joined at exit) is
not reported either. Every other exception is reported as before.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any


def _excepthook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        return
    sys.__excepthook__(kind, value, tb)


def _unraisablehook(unraisable: Any) -> None:
    if isinstance(unraisable.exc_type, type) and issubclass(unraisable.exc_type, KeyboardInterrupt):
        return
    sys.__unraisablehook__(unraisable)


def install() -> None:
    """Quiet on Ctrl-C; a hook someone else set is left as it is."""
    if sys.excepthook is sys.__excepthook__:
        sys.excepthook = _excepthook
    if sys.unraisablehook is sys.__unraisablehook__:
        sys.unraisablehook = _unraisablehook


install()

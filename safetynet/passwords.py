"""What a staff password must be: at least 10 characters, not a common password, not holding the login.

Checked wherever a person chooses one (`init`, `staff add`, the admin console); generated
passwords pass by construction. The common list ships as package data
(`safetynet/data/common-passwords.txt`) and catches its words with digits or symbols added
around them ("Password2026!", "bousai12345").
"""

from __future__ import annotations

import functools
import re
from importlib import resources

from safetynet.i18n import t

MIN_LENGTH = 10

# Digits and symbols people put before or after a word to pass a rule.
_PADDING = re.compile(r"^[\d\W_]+|[\d\W_]+$")


class PasswordError(ValueError):
    """A password the policy refuses; `text(lang)` says why, for the person choosing it."""

    def __init__(self, key: str, **values: object) -> None:
        self.key = key
        self.values = values
        super().__init__(self.text("en"))

    def text(self, lang: str) -> str:
        return t(lang, self.key, **self.values)

    def __str__(self) -> str:
        return f"{self.text('ja')} ({self.text('en')})"


@functools.cache
def common_passwords() -> frozenset[str]:
    text = (resources.files("safetynet") / "data" / "common-passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip().casefold() for line in text.splitlines()
                     if line.strip() and not line.startswith("#"))


def check_password(password: str, login: str = "") -> None:
    """Raises PasswordError when `password` is too short, too common or the login itself."""
    if len(password) < MIN_LENGTH:
        raise PasswordError("password.too_short", min=MIN_LENGTH)
    folded = password.casefold()
    name = login.casefold()
    if name and (folded == name or (len(name) >= 3 and name in folded)):
        raise PasswordError("password.contains_login")
    common = common_passwords()
    if folded in common or _PADDING.sub("", folded) in common or len(set(folded)) < 4:
        raise PasswordError("password.too_common")

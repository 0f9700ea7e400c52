"""A store URL as a person sees it (error lines that say the password is not shown): never its password."""

from __future__ import annotations

import pytest

from safetynet.store.postgres.db import redact


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://safetynet:pw@127.0.0.1:5432/safetynet", "postgresql://safetynet:***@127.0.0.1:5432/safetynet"),
    ("postgresql://u@127.0.0.1:1/db?password=s3cret", "postgresql://u@127.0.0.1:1/db?password=***"),
    ("postgresql://u:p@ss3cret@host/db", "postgresql://u:***@host/db"),  # an @ in the password, unescaped
    ("postgresql://:pw@host/db", "postgresql://:***@host/db"),  # no user
    ("postgresql://u:pw@host", "postgresql://u:***@host"),
    ("postgresql://postgres@127.0.0.1:5432/x?search_path=t_1&Password=a&sslmode=disable",
     "postgresql://postgres@127.0.0.1:5432/x?search_path=t_1&password=***&sslmode=disable"),
    ("postgresql://host/db", "postgresql://host/db"),
])
def test_the_password_is_never_shown(url: str, shown: str) -> None:
    assert redact(url) == shown

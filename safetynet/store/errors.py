"""What any store adapter raises when it cannot do its job (callers catch these, never a driver's errors)."""

from __future__ import annotations


class StoreError(Exception):
    """The store could not do what was asked (disk full, read-only file, corrupt database)."""


class StoreUnavailable(StoreError):
    """Writes are failing; callers must stop acknowledging work they cannot store."""


class CannotOpen(StoreUnavailable):
    """The database could not be opened at all, so the operator has a setting or a server to check:
    `why` is "no_database", "refused" (nothing listens there), "auth" (login refused) or "other";
    `url` is the URL without its password and `reason` the driver's words (they never hold it)."""

    def __init__(self, url: str, reason: str, why: str) -> None:
        super().__init__(f"cannot open the database {url}: {reason}")
        self.url, self.reason, self.why = url, reason, why


class ConnectionLost(StoreUnavailable):
    """The database ended the connection under a statement (restarted, the backend terminated): the work
    on it was rolled back, unless `while_committing` (its COMMIT was sent: written or not, nobody can
    tell). Expected in a long night, and said by whoever runs the work again, as a retry, not a fault."""

    def __init__(self, message: str, while_committing: bool = False) -> None:
        super().__init__(message)
        self.while_committing = while_committing


class SchemaTooNew(StoreError):
    """The database was migrated by a newer SafetyNet than this one: its tables may mean things this
    code does not know, so nothing opens it (an older database is migrated instead)."""

    def __init__(self, found: int, known: int) -> None:
        super().__init__(f"the database is at schema version {found}, newer than this SafetyNet knows ({known}): "
                         "run the SafetyNet that migrated it, or restore a backup made for this one")
        self.found, self.known = found, known


class SchemaBehind(StoreError):
    """The database's schema is older than this SafetyNet's (`found` 0: it has none yet) and whoever opened
    it does not migrate: only the commands that set up or run the system do (`safetynet init`, `serve`,
    the demo). A report run from an operator's laptop must not migrate a database older servers still use."""

    def __init__(self, found: int, known: int) -> None:
        super().__init__(f"the database is at schema version {found}, older than this SafetyNet's ({known}): "
                         "nothing was changed; run `safetynet init` to migrate it")
        self.found, self.known = found, known

"""What any store adapter raises when it cannot do its job (callers catch these, never a driver's errors)."""

from __future__ import annotations


class StoreError(Exception):
    """The store could not do what was asked (disk full, read-only file, corrupt database)."""


class StoreUnavailable(StoreError):
    """Writes are failing; callers must stop acknowledging work they cannot store."""

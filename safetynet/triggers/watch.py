"""A watched folder: telegrams dropped in it (by a JMA receiver, an L-Alert gateway, a person) are ingested.

The folder is scanned on a `Clock` interval; a file is taken again only when its size or time
changes, so a file caught half-written is read once more when complete. Files are never moved
or deleted; the store's dedupe key keeps a re-read file from being decided twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from safetynet.clock import Clock
from safetynet.domain.triggers import Decision, TriggerInputError
from safetynet.store.errors import StoreError
from safetynet.triggers.xmlsafe import MAX_BODY_BYTES

log = structlog.get_logger("triggers.watch")

SUFFIXES = (".xml", ".cap")
SCAN_SECONDS = 5.0  # a local folder: cheap to look at often

Ingest = Callable[[bytes, str], Awaitable[Decision]]


@dataclass(frozen=True)
class WatchedFile:
    name: str
    decision: Decision | None
    error: str = ""
    again: bool = False  # not decided (the store failed): read again on the next scan


def _signature(path: Path) -> tuple[str, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (path.name, st.st_size, st.st_mtime_ns)


def _listing(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file())
    except OSError:
        return []


def _read_limited(path: Path) -> bytes:
    with path.open("rb") as f:
        body = f.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise TriggerInputError(f"{path.name}: larger than the limit of {MAX_BODY_BYTES} bytes")
    return body


class DirectoryWatcher:
    def __init__(
        self,
        ingest: Ingest,
        folder: Path,
        clock: Clock,
        interval_seconds: float = SCAN_SECONDS,
        on_scan: Callable[[list[WatchedFile]], None] | None = None,
    ) -> None:
        self.ingest = ingest
        self.folder = folder
        self.clock = clock
        self.interval = max(1.0, interval_seconds)
        self.on_scan = on_scan
        self._seen: set[tuple[str, int, int]] = set()

    async def _take(self, path: Path) -> WatchedFile:
        try:
            body = await asyncio.to_thread(_read_limited, path)
            return WatchedFile(path.name, await self.ingest(body, f"file:{path.name}"))
        except TriggerInputError as e:
            log.warning("trigger_file_refused", file=path.name, error=str(e)[:200])
            return WatchedFile(path.name, None, str(e))
        except OSError as e:
            log.warning("trigger_file_unreadable", file=path.name, error=str(e)[:200])
            return WatchedFile(path.name, None, str(e))
        except StoreError as e:  # its decision not recorded (the store busy or gone a moment): the next scan
            log.warning("trigger_file_not_recorded", file=path.name, error=str(e)[:200])
            return WatchedFile(path.name, None, str(e), again=True)
        except Exception as e:  # a fault of ours with this one: logged, read again on the next scan, and the
            # files after it still taken
            log.exception("trigger_file_failed", file=path.name)
            return WatchedFile(path.name, None, f"{type(e).__name__}: {e}"[:200], again=True)

    async def scan_once(self) -> list[WatchedFile]:
        """Ingests the new or changed files, in name order."""
        paths = await asyncio.to_thread(_listing, self.folder)
        taken: list[WatchedFile] = []
        for path in paths:
            sig = _signature(path)
            if sig is None or sig in self._seen:
                continue
            self._seen.add(sig)
            taken.append(await self._take(path))
            if taken[-1].again:
                self._seen.discard(sig)
        return taken

    async def run(self) -> None:
        """Scans until cancelled."""
        while True:
            taken = await self.scan_once()
            if self.on_scan is not None:
                with contextlib.suppress(Exception):
                    self.on_scan(taken)
            await self.clock.sleep(self.interval)

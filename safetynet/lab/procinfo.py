"""What the benchmarks read about a process from /proc (Linux): memory, CPU, open files.

Every reader answers 0 when the process is gone or /proc is not there, so a figure is missing
rather than a benchmark failing at its end.
"""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _status_mb(pid: int | str, field: str) -> float:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def peak_rss_mb(pid: int | str = "self") -> float:
    """Peak resident set (VmHWM), in MB."""
    return _status_mb(pid, "VmHWM:")


def rss_mb(pid: int | str = "self") -> float:
    """Current resident set (VmRSS), in MB."""
    return _status_mb(pid, "VmRSS:")


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU a process has used so far, in seconds."""
    return _task_cpu(Path(f"/proc/{pid}/stat"))


def _task_cpu(path: Path) -> float:
    """utime + stime of a /proc stat file, in seconds (0 if it is gone)."""
    try:
        fields = path.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS
    except (OSError, IndexError, ValueError):
        return 0.0


def main_thread_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process's main thread so far, in seconds (the server's event loop;
    the rest of the process is its other threads: the store's, where SQLite runs its statements)."""
    return _task_cpu(Path(f"/proc/{pid}/task/{pid}/stat"))


def open_fds(pid: int | str = "self") -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0

"""What the benchmarks read of a process from /proc (Linux): the CPU of its main thread apart."""

from __future__ import annotations

import os
import threading
import time

from safetynet.lab.procinfo import cpu_seconds, main_thread_cpu_seconds


def _burn(seconds: float) -> None:
    start = time.thread_time()
    while time.thread_time() - start < seconds:
        sum(range(1000))


def test_the_main_threads_cpu_leaves_out_what_other_threads_spend() -> None:
    pid = os.getpid()
    main_before, process_before = main_thread_cpu_seconds(pid), cpu_seconds(pid)
    t = threading.Thread(target=_burn, args=(0.3,))
    t.start()
    t.join()
    main_spent, process_spent = main_thread_cpu_seconds(pid) - main_before, cpu_seconds(pid) - process_before
    assert process_spent >= 0.25  # the clock ticks in 10 ms steps
    assert main_spent < 0.1  # the main thread only waited for it
    _burn(0.2)
    assert main_thread_cpu_seconds(pid) - main_before >= 0.15


def test_a_process_that_is_gone_reads_as_nothing() -> None:
    assert main_thread_cpu_seconds(2**22 + 12345) == 0.0

"""Facts about the machine a run happened on, and whole-machine CPU use.

On 2 cores the client, the server and (embedded mode) Postgres and Redis all
share the CPU; knowing how busy the machine was tells whether a number is the
server's limit or the machine's.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

#: Reads a cumulative CPU-seconds counter; None where it cannot be read.
CpuProbe = Callable[[], "float | None"]

PROC_STAT = Path("/proc/stat")
#: /proc/stat's idle and iowait columns (after the "cpu" label): time no task ran.
IDLE_COLUMNS = (3, 4)
#: utime and stime in /proc/PID/stat, counted from the field after the command name.
STAT_UTIME, STAT_STIME = 11, 12
#: user, nice, system, idle, iowait, irq, softirq, steal; guest time is already in user.
COUNTED_COLUMNS = 8


def busy_cpu_seconds() -> float | None:
    """CPU-seconds all cores spent busy since boot, or None where /proc is absent."""
    try:
        first = PROC_STAT.read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    ticks = [int(v) for v in first[1 : 1 + COUNTED_COLUMNS]]
    busy = sum(v for i, v in enumerate(ticks) if i not in IDLE_COLUMNS)
    return busy / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> CpuProbe:
    """A probe for one process's user+system CPU time (not its children's).

    For a server that is the Python process bound by the GIL; Postgres and
    Redis are counted in the machine's busy time instead.
    """
    stat = Path(f"/proc/{pid}/stat")

    def read() -> float | None:
        try:
            # Fields after the parenthesised command name; utime and stime are 14 and 15.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return (int(fields[STAT_UTIME]) + int(fields[STAT_STIME])) / os.sysconf("SC_CLK_TCK")

    return read


def background_cpu_cores(sample_s: float) -> float | None:
    """Cores busy while this harness idles for ``sample_s``: other jobs on the machine.

    Anything above zero is taken from whichever server is measured next, so
    the report carries it and the harness warns when it is large.
    """
    before = busy_cpu_seconds()
    time.sleep(sample_s)
    after = busy_cpu_seconds()
    if before is None or after is None:
        return None
    return round((after - before) / sample_s, 2)


def cpu_count() -> int:
    """Cores this process may run on (what the load actually competes for)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def python_info() -> dict[str, str]:
    """Interpreter facts that change the numbers."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(terse=True),
    }

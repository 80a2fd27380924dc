"""The one way every benchmark reads a process's peak memory."""

from __future__ import annotations

import resource
from pathlib import Path


def peak_mib() -> float:
    """This process's peak resident set (VmHWM), in MiB.

    Not ``ru_maxrss``: Linux carries that over from the parent through fork and exec, so a child
    spawned by a parent that once held 1.6 GB (say, while generating the benchmark's Parquet file)
    reports at least 1.6 GB whatever it does; every engine then shows the same "peak".
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

"""Plain memory pages for NumPy's large arrays (unless the user chose otherwise).

NumPy asks Linux for transparent huge pages (``madvise``) for every large array. Where the kernel
cannot grant them, as on this project's machines (THP on ``madvise``, ``AnonHugePages: 0 kB``),
first touching such memory is about 5x slower than with plain pages: filling a fresh 800 MB array
took 1.9 s against 0.35 s, and a 30M-event funnel's per-user pass 0.67 s against 0.28 s. The
arrays metrics compute are written once and read a few times, so plain pages cost nothing where
huge pages do work. NumPy's own switch, ``NUMPY_MADVISE_HUGEPAGE``, wins when it is set.
"""

from __future__ import annotations

import os

import numpy as np


def use_plain_pages() -> bool:
    """Turn NumPy's huge-page request off unless ``NUMPY_MADVISE_HUGEPAGE`` is set; whether it
    is off now."""
    multiarray = getattr(getattr(np, "_core", None), "multiarray", None)
    switch = getattr(multiarray, "_set_madvise_hugepage", None)
    state = getattr(multiarray, "_get_madvise_hugepage", None)
    if switch is None or state is None:  # another NumPy: leave it be
        return False
    if os.environ.get("NUMPY_MADVISE_HUGEPAGE") is None:
        switch(False)
    return not state()

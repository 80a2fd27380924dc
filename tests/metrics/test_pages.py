"""metrics turns NumPy's huge-page request off (metrics/_pages.py says why), unless the user set
NumPy's own switch."""

from __future__ import annotations

import os
import subprocess
import sys

ASK = "import metrics, numpy; print(numpy._core.multiarray._get_madvise_hugepage())"


def _ask(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    done = subprocess.run(
        [sys.executable, "-c", ASK],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_numpy_asks_for_plain_pages_once_metrics_is_imported():
    assert _ask() == "False"


def test_the_users_own_numpy_setting_wins():
    assert _ask(NUMPY_MADVISE_HUGEPAGE="1") == "True"
    assert _ask(NUMPY_MADVISE_HUGEPAGE="0") == "False"

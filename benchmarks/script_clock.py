"""``streamlit`` with a clock on every script run: the server's own part of a redraw.

    NORTHSTAR_SCRIPT_CLOCK=/tmp/runs.log python -m benchmarks.script_clock run app.py ...

Benchmarks only (``benchmarks.browser.start_server(..., clock=path)``). Each script run of every
session appends one line to the file: its start and end on the wall clock (epoch milliseconds, so
a browser's ``performance.timeOrigin + performance.now()`` on the same machine compares with
them) and how it ended. The app itself is not changed: the ScriptRunner's start and stop events,
which Streamlit already sends, are listened to.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

ENV = "NORTHSTAR_SCRIPT_CLOCK"
_STOPS = {
    "SCRIPT_STOPPED_WITH_SUCCESS",
    "SCRIPT_STOPPED_WITH_COMPILE_ERROR",
    "SCRIPT_STOPPED_FOR_RERUN",
    "FRAGMENT_STOPPED_WITH_SUCCESS",
}


def install(path: Path) -> None:
    from streamlit.runtime.scriptrunner import script_runner

    lock = threading.Lock()
    started: dict[int, float] = {}
    original = script_runner.ScriptRunner.__init__

    def on_event(sender, event=None, **_) -> None:
        name = getattr(event, "name", "")
        now = time.time() * 1000
        if name == "SCRIPT_STARTED":
            started[id(sender)] = now
        elif name in _STOPS and id(sender) in started:
            begun = started.pop(id(sender))
            with lock, path.open("a") as log:
                log.write(f"{begun:.1f} {now:.1f} {name}\n")

    def __init__(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        self.on_event.connect(on_event, weak=False)

    script_runner.ScriptRunner.__init__ = __init__


def read(path: Path) -> list[tuple[float, float, str]]:
    """Every run logged so far: (start, end, how it ended), epoch milliseconds."""
    if not path.exists():
        return []
    runs = []
    for line in path.read_text().splitlines():
        start, end, how = line.split()
        runs.append((float(start), float(end), how))
    return runs


def main() -> None:
    install(Path(os.environ[ENV]))
    from streamlit.web.cli import main as streamlit

    sys.argv = ["streamlit", *sys.argv[1:]]
    streamlit()


if __name__ == "__main__":
    main()

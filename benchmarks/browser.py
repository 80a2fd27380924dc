"""What the browser benchmarks share: the app started on a free port, Debian's Chromium, and the
page-state checks that say when Streamlit has finished drawing a page.

Used by ``shared_link.py`` (a fresh tab to a drawn page) and ``redraw.py`` (a control changed to
the page redrawn). Playwright's own browser download does not work here; Debian's does.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: True once the page is drawn: the run is over, nothing is loading, every visible chart drew.
DRAWN_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') === 'running') return false;
  if (document.querySelector('[data-testid="stStatusWidget"], [data-testid="stSpinner"],'
      + ' [data-testid="stSkeleton"]')) return false;
  if (!document.querySelector('h1')) return false;
  const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
    .filter(c => c.offsetParent !== null);
  return charts.every(c => c.querySelector('.main-svg'));
}"""

#: True once the script run is over (the server's part): the page's content has all arrived.
RUN_OVER_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.getAttribute('data-test-script-state') !== 'running'
    && !document.querySelector('[data-testid="stStatusWidget"]') && !!document.querySelector('h1');
}"""

#: Charts on the page (drawn ones) and the points their traces hold, and exception boxes.
CHARTS_JS = """() => {
  const drawn = [...document.querySelectorAll('.js-plotly-plot')];
  let points = 0;
  for (const gd of drawn) for (const t of (gd.data || [])) {
    const n = (t.x && t.x.length) || (t.y && t.y.length) || (t.z && t.z.length) || 0;
    points += t.z && t.z.length && t.z[0] && t.z[0].length ? t.z.length * t.z[0].length : n;
  }
  const errors = document.querySelectorAll('[data-testid="stException"]').length;
  return [drawn.length, points, errors];
}"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    port: int,
    *,
    env: Mapping[str, str] | None = None,
    clock: Path | None = None,
    timeout_s: float = 120,
) -> subprocess.Popen:
    """``streamlit run app.py`` from the repository on ``port``, once its health check answers.

    ``env`` is added to the process environment (``NORTHSTAR_SOURCES`` points the app at
    another sources.toml); with ``clock``, every script run's start and end are appended to that
    file (``benchmarks/script_clock.py``)."""
    extra = dict(env or {})
    runner = ["streamlit"]
    if clock is not None:
        runner = ["benchmarks.script_clock"]
        extra["NORTHSTAR_SCRIPT_CLOCK"] = str(clock)
    server = subprocess.Popen(
        [sys.executable, "-m", *runner, "run", "app.py", "--server.headless=true",
         "--server.address=127.0.0.1", f"--server.port={port}",
         "--browser.gatherUsageStats=false", "--server.fileWatcherType=none"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **extra},
    )  # fmt: skip
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health").read() == b"ok":
                return server
        except OSError:
            time.sleep(0.3)
    stop_server(server)
    raise RuntimeError("streamlit did not start")


def stop_server(server: subprocess.Popen) -> None:
    server.terminate()
    server.wait(timeout=30)


def launch(playwright):
    """Debian's Chromium, headless, through Playwright."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)


def wait_drawn(page, timeout_s: float = 300) -> float:
    """Wait until the script run is over and the page fully drawn; seconds from the call to the
    run's end (the drawing is waited for after it)."""
    started = time.perf_counter()
    page.wait_for_function(RUN_OVER_JS, timeout=timeout_s * 1000, polling=50)
    served = time.perf_counter() - started
    page.wait_for_function(DRAWN_JS, timeout=timeout_s * 1000, polling=50)
    return served


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} / {five:.1f} / {fifteen:.1f}"

"""Redraw after a control changes: milliseconds from the click to the page drawn again, per control.

    python -m benchmarks.redraw [--source demo|10M] [--repeat 3] [--width 1400] [--debug]

Issue 12 item 5: once the source is loaded, changing a control redraws within 300 ms on the demo
and within 1 s on 10M events. The app is started (``benchmarks/browser.py``) and Debian's Chromium
opens each page (Engagement, Retention, Funnels, Experiments, Overview) and waits until it is
fully drawn; then each of the page's main controls (:data:`CONTROLS`) is changed through the UI as
a user would (a click on a segment, an option, a calendar day; a number typed and Enter) and timed
in the page, from the user's last press (``pointerdown``/``keydown``) until the script run is over,
no spinner, skeleton or running indicator is left, every visible Plotly chart has its SVG and the
page's DOM has been still for a second (the time stops at the last change of the DOM, not at the
end of that second; changes inside a screen reader's ``aria-live`` region are not counted: the
select boxes clear their invisible "9 options available." note up to seconds after closing, which
session 7's runs counted as drawing). The same change is made twice: **cold** (first time: the
page computes) and, after changing back, **warm** (the server's caches hold the result). A date
range is two clicks in the calendar and the first already reruns the page (with a one-day range):
that redraw is waited for, untimed, and the second click's is timed.

Where the time goes is printed too: the server is started through ``benchmarks/script_clock.py``,
which logs each script run's start and end, so each redraw splits into the *request* (the press
to the server's run starting), the server's *script* run, *delivered* (its end to the browser
seeing the run over: the last deltas' trip and React) and the *drawing* after it (stale elements
cleared, Plotly). While the script runs the browser already draws what has arrived; on a 2-core
machine the two compete for the cores.

Each repeat starts a new server (so "cold" is cold again) and a new browser context; the table is
the median of the repeats. ``--source 10M`` points the app at ``benchmarks/data/events_10000000
.parquet`` through a temporary sources.toml (``NORTHSTAR_SOURCES``) with generated experiment
assignments (``bench_experiments``) and a copy of ``benchmarks/vision_bench.toml`` as its vision
file; the repository's own sources.toml and vision files are never touched.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks import script_clock
from benchmarks.browser import (
    DRAWN_JS,
    ROOT,
    free_port,
    launch,
    load_average,
    start_server,
    stop_server,
)

GOAL_MS = {"demo": 300, "10M": 1000}

#: Milliseconds the DOM must stay still (and the script stopped) before a redraw counts as over.
QUIET_MS = 1000
#: A change that starts no script run within this long is reported as such.
NO_RUN_MS = 5000


@dataclass(frozen=True)
class Control:
    """One control of a page, and the change made to it.

    ``kind``: ``choice`` (a segmented control or radio: ``label``'s option ``to``, back to
    ``back``), ``select`` (a selectbox: the first of ``to`` that is offered and not picked, back
    to what was picked), ``add`` (a multiselect: ``to[0]`` added, then removed), ``number`` (typed
    ``to[0]`` and Enter, back to the old value) or ``range`` (the date range: its last ``days``
    days, picked in the calendar, back to the old range). ``key`` is the widget's Streamlit key
    (tests/benchmarks/test_redraw.py checks that it exists on the page with ``label``).
    """

    page: str
    name: str
    kind: str
    label: str
    key: str
    to: tuple[str, ...] = ()
    back: str | None = None
    days: int = 60


#: The pages in the order they are opened, by URL path and title.
PAGES = {
    "engagement": "Engagement",
    "retention": "Retention",
    "funnels": "Funnels",
    "experiments": "Experiments",
    "": "Overview",
}

CONTROLS = [
    Control("engagement", "Interval: Day → Week", "choice", "Interval", "eng_interval",
            ("Week",), "Day"),
    Control("engagement", "Break down by: platform", "select", "Break down by", "eng_breakdown",
            ("platform",)),
    Control("engagement", "Sidebar date range: last 60 days", "range", "Date range", "range"),
    Control("engagement", "Sidebar filter: Platform = web", "add", "Platform", "f_platform",
            ("web",)),
    Control("retention", "Interval: Week → Month", "choice", "Interval", "ret_interval",
            ("Month",), "Week"),
    Control("retention", "Cohorts: Recurring → First time", "choice", "Cohorts", "ret_type",
            ("First time",), "Recurring"),
    Control("funnels", "Step 2: another event", "select", "Step 2", "fun_step_2",
            ("search", "view_item", "page_view")),
    Control("funnels", "Conversion window: 14 → 7 days", "number", "Conversion window",
            "fun_window", ("7",)),
    Control("funnels", "Break down by: platform", "select", "Break down by", "fun_breakdown",
            ("platform",)),
    Control("experiments", "Metrics: add add_to_cart conversion", "add", "Metrics", "exp_metrics",
            ("add_to_cart conversion",)),
    Control("experiments", "Effect over time: another metric", "select", "Metric",
            "exp_daily_metric", ("revenue per user (purchase)", "add_to_cart conversion")),
    Control("experiments", "Method: Fixed horizon → Bayesian", "choice", "How to read the test",
            "exp_method", ("Bayesian: chance to win and risk",),
            "Fixed horizon (t-test): read once, at the planned end"),
    Control("", "Sidebar date range: last 60 days", "range", "Date range", "range"),
]  # fmt: skip

#: Installed in every page before Streamlit loads: the script runs' start and end, the last DOM
#: change and the user's last press after the benchmark armed it (all on performance.now()).
RECORDER_JS = """
window.__rd = {runs: [], lastMut: 0, armed: false, t0: null, muts: []};
(function hook() {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app) { setTimeout(hook, 5); return; }
  new MutationObserver(() => window.__rd.runs.push(
    [performance.now(), app.getAttribute('data-test-script-state')]))
    .observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
  new MutationObserver(records => {
    const r = window.__rd, now = performance.now();
    // A screen reader's live region (react-aria announces "9 options available." and clears it
    // about a second after a select closes) is invisible: not a redraw.
    const seen = records.filter(m => {
      const el = m.target.nodeType === 1 ? m.target : m.target.parentElement;
      return !(el && el.closest('[aria-live]'));
    });
    if (!seen.length) return;
    r.lastMut = now;
    for (const m of seen.slice(0, 3)) {
      const el = m.target.nodeType === 1 ? m.target : m.target.parentElement;
      const owner = el && el.closest('[data-testid]');
      r.muts.push([Math.round(now), m.type + (m.attributeName ? ':' + m.attributeName : ''),
                   owner ? owner.getAttribute('data-testid') : (el ? el.tagName : '?')]);
    }
    if (r.muts.length > 60) r.muts.splice(0, r.muts.length - 60);
  }).observe(document.body, {subtree: true, childList: true, attributes: true,
                             characterData: true});
})();
for (const type of ['pointerdown', 'keydown']) window.addEventListener(type, () => {
  const r = window.__rd;
  if (r.armed) { r.t0 = performance.now(); r.armed = false; }
}, true);
"""

ARM_JS = "() => { window.__rd.armed = true; window.__rd.t0 = null; }"

#: True once the redraw after the armed press is over (see the module docstring).
SETTLED_JS = (
    """([quiet, noRun]) => {
  const r = window.__rd;
  if (!r || r.t0 === null) return false;
  const now = performance.now();
  const after = r.runs.filter(([t]) => t >= r.t0);
  if (!after.some(([, s]) => s === 'running') && now - r.t0 < noRun) return false;
  if (after.length && after[after.length - 1][1] === 'running') return false;
  if (!("""
    + DRAWN_JS
    + """)()) return false;
  const last = Math.max(r.lastMut, after.length ? after[after.length - 1][0] : 0);
  return now - last >= quiet;
}"""
)

RESULT_JS = """() => {
  const r = window.__rd;
  const after = r.runs.filter(([t]) => t >= r.t0);
  const ran = after.some(([, s]) => s === 'running');
  const runEnd = ran ? after[after.length - 1][0] : r.t0;
  const end = Math.max(r.lastMut, runEnd);
  const errors = document.querySelectorAll('[data-testid="stException"]').length;
  return {total: end - r.t0, run: runEnd - r.t0, ran: ran, errors: errors,
          t0Epoch: performance.timeOrigin + r.t0, endEpoch: performance.timeOrigin + end,
          tail: r.muts.filter(([t]) => t >= end - 400)};
}"""


@dataclass
class Timing:
    """One redraw, in ms from the user's press (browser clock; the server's runs on its clock)."""

    total: float  # to the last DOM change: the page redrawn
    run: float  # to the end of the script run, as the browser saw it
    ran: bool
    errors: int
    request: float = 0.0  # to the start of the server's first script run
    script: float = 0.0  # the server's script runs after the press, added up
    script_end: float = 0.0  # to the end of the server's last script run
    kib: float = 0.0  # KiB the browser received over the websocket for the redraw

    @property
    def rest(self) -> float:
        """What is not the script: the rerun's request, the deltas' trip, React and Plotly."""
        return self.total - self.script

    @property
    def delivered(self) -> float:
        """From the server's end of the run to the browser's (the last deltas' trip, React)."""
        return self.run - self.script_end

    @property
    def drawing(self) -> float:
        """After the run is over in the browser: stale elements cleared, Plotly's drawing."""
        return self.total - self.run


def settle(page, timeout_s: float, clock: Path | None = None, *, debug: bool = False) -> Timing:
    page.wait_for_function(
        SETTLED_JS, arg=[QUIET_MS, NO_RUN_MS], timeout=timeout_s * 1000, polling=50
    )
    found = page.evaluate(RESULT_JS)
    if debug:
        print("    last DOM changes:", found["tail"][-8:], flush=True)
    timing = Timing(found["total"], found["run"], found["ran"], found["errors"])
    timing.kib = _received["bytes"] / 1024
    t0 = found["t0Epoch"]
    # The server's runs that began after the press (20 ms of slack between the two clocks).
    runs = [
        (start, end)
        for start, end, _ in (script_clock.read(clock) if clock is not None else [])
        if t0 - 20 <= start <= found["endEpoch"]
    ]
    if runs:
        timing.request = runs[0][0] - t0
        timing.script = sum(end - start for start, end in runs)
        timing.script_end = runs[-1][1] - t0
    return timing


def open_page(page, url: str, timeout_s: float) -> None:
    """Go to ``url`` and wait until it is fully drawn and still (every run of its opening)."""
    page.goto(url)
    page.evaluate("() => { window.__rd.t0 = 0; }")
    settle(page, timeout_s)


# -- changing controls like a user ---------------------------------------------------------------


#: Bytes the browser received over Streamlit's websocket since the last press was armed.
_received = {"bytes": 0}


def _count(payload: bytes | str) -> None:
    _received["bytes"] += len(payload)


def _arm(page) -> None:
    page.evaluate(ARM_JS)
    _received["bytes"] = 0


def _rest_mouse(page) -> None:
    page.mouse.move(2, 2)  # off the charts: a hover label is no redraw


def _pick_choice(page, label: str, option: str) -> None:
    """A segment of ``st.segmented_control`` or an option of ``st.radio`` (whose input is
    hidden: the user clicks its label)."""
    group = page.get_by_role("radiogroup", name=label, exact=True).first
    radio = group.locator('[data-testid="stRadioOption"], button[role="radio"]').filter(
        has_text=re.compile(f"^{re.escape(option)}$")
    )
    radio.scroll_into_view_if_needed()
    _arm(page)
    radio.click()


def _open_select(page, label: str):
    box = page.get_by_role("combobox", name=label, exact=True).first
    box.scroll_into_view_if_needed()
    box.click()
    listbox = page.locator(f'[id="{box.get_attribute("aria-controls")}"]')
    listbox.wait_for()
    return box, listbox


def _pick_option(page, label: str, option: str, *, armed: bool = True) -> None:
    box, listbox = _open_select(page, label)
    choice = listbox.get_by_role("option", name=option, exact=True)
    if not choice.count():  # a long list draws only the options in view: type, as a user would
        box.press_sequentially(option)
        choice.wait_for()
    if armed:
        _arm(page)
    choice.click()


def _offered(page, label: str) -> list[str]:
    _, listbox = _open_select(page, label)
    names = [text.strip() for text in listbox.get_by_role("option").all_inner_texts()]
    page.keyboard.press("Escape")
    return names


def _add(page, label: str, option: str) -> None:
    _pick_option(page, label, option)
    page.keyboard.press("Escape")  # close the list, as a user would


def _remove(page, label: str, option: str) -> None:
    widget = page.get_by_test_id("stMultiSelect").filter(
        has=page.get_by_role("combobox", name=label, exact=True)
    )
    button = widget.get_by_role("button", name=f"Remove {option}", exact=True)
    button.scroll_into_view_if_needed()
    _arm(page)
    button.click()


def _type_number(page, label: str, value: str) -> None:
    field = page.get_by_role("spinbutton", name=label, exact=True).first
    field.scroll_into_view_if_needed()
    field.fill(value)
    _arm(page)
    field.press("Enter")


def _date_input(page, label: str):
    return page.get_by_test_id("stDateInput").filter(
        has=page.get_by_test_id("stWidgetLabel").filter(has_text=re.compile(f"^{label}$"))
    )


def _current_range(page, label: str) -> tuple[dt.date, dt.date]:
    days = _date_input(page, label).locator('input[type="date"]')
    first, last = (dt.date.fromisoformat(v) for v in days.evaluate_all("l => l.map(e => e.value)"))
    return first, last


def _calendar_day(page, calendar, day: dt.date, *, armed: bool) -> None:
    for _ in range(36):
        shown = dt.datetime.strptime(calendar.locator("h2").last.inner_text().strip(), "%B %Y")
        step = (day.year - shown.year) * 12 + day.month - shown.month
        if step == 0:
            break
        calendar.get_by_role("button", name="Next month" if step > 0 else "Previous month").click()
    cell = calendar.locator(
        f'[role="button"][aria-label*=", {day:%B} {day.day}, {day.year}"]:not([data-outside-month])'
    )
    if armed:
        _arm(page)
    cell.click()


def _pick_range(page, label: str, first: dt.date, last: dt.date, timeout_s: float) -> None:
    _date_input(page, label).get_by_test_id("stDateInputCalendarButton").click()
    calendar = page.get_by_test_id("stDateInputCalendar")
    calendar.wait_for()
    # The first day picked is already a change (a one-day range; the page reruns with it, the
    # calendar stays open): wait for that redraw, then time the second day's.
    _calendar_day(page, calendar, first, armed=True)
    _rest_mouse(page)
    settle(page, timeout_s)
    _calendar_day(page, calendar, last, armed=True)
    if calendar.count():  # the calendar stays open on some versions: close it
        page.keyboard.press("Escape")


def actions(
    page, control: Control, timeout_s: float
) -> tuple[Callable[[], None], Callable[[], None]]:
    """(make the change, undo it) for ``control`` on the page as it is drawn now."""
    label = control.label
    if control.kind == "choice":
        return (
            lambda: _pick_choice(page, label, control.to[0]),
            lambda: _pick_choice(page, label, control.back or ""),
        )
    if control.kind == "select":
        was = page.get_by_role("combobox", name=label, exact=True).first.input_value()
        offered = _offered(page, label)
        target = next((o for o in control.to if o in offered and o != was), None)
        target = target or next(o for o in offered if o != was)
        return (
            lambda: _pick_option(page, label, target),
            lambda: _pick_option(page, label, was),
        )
    if control.kind == "add":
        return (
            lambda: _add(page, label, control.to[0]),
            lambda: _remove(page, label, control.to[0]),
        )
    if control.kind == "number":
        was = page.get_by_role("spinbutton", name=label, exact=True).first.input_value()
        return (
            lambda: _type_number(page, label, control.to[0]),
            lambda: _type_number(page, label, was),
        )
    if control.kind == "range":
        first, last = _current_range(page, label)
        new_first = last - dt.timedelta(days=control.days - 1)
        return (
            lambda: _pick_range(page, label, new_first, last, timeout_s),
            lambda: _pick_range(page, label, first, last, timeout_s),
        )
    raise ValueError(f"unknown control kind {control.kind!r}")


def measure(
    page, control: Control, timeout_s: float, clock: Path, debug: bool
) -> tuple[Timing, Timing]:
    """(cold, warm): the change, then back, then the same change again."""
    change, undo = actions(page, control, timeout_s)
    timings = []
    for step in (change, undo, change):
        step()
        _rest_mouse(page)
        timings.append(settle(page, timeout_s, clock, debug=debug))
    return timings[0], timings[2]


# -- the 10M source ------------------------------------------------------------------------------

SOURCE_10M = "bench_10m"


def sources_10m(folder: Path) -> dict[str, str]:
    """A sources.toml in ``folder`` naming the 10M log (and its assignments, a vision file):
    the environment that points the app at it."""
    from benchmarks.bench_experiments import EXPERIMENT, assignments_path
    from benchmarks.generate import ensure

    events = ensure(10_000_000)
    assignments = assignments_path(events, None)
    (folder / "sources.toml").write_text(
        f'default = "{SOURCE_10M}"\n\n'
        f"[sources.{SOURCE_10M}]\n"
        f"path = {json.dumps(str(events))}\n"
        'description = "benchmarks: 10M generated events"\n\n'
        f"[sources.{SOURCE_10M}.assignments]\n"
        f"path = {json.dumps(str(assignments))}\n"
    )
    # The generated product's KPIs (bench_pages.py's), copied: the app never writes a repo file.
    vision = (ROOT / "benchmarks" / "vision_bench.toml").read_text()
    assert EXPERIMENT in vision, "vision_bench.toml judges the assignments' experiment"
    (folder / "visions").mkdir()
    (folder / "visions" / f"{SOURCE_10M}.toml").write_text(vision)
    return {"NORTHSTAR_SOURCES": str(folder / "sources.toml")}


# -- one run and the table ----------------------------------------------------------------------


def run_once(
    browser, env: dict[str, str], width: int, timeout_s: float, debug: bool
) -> dict[tuple[str, str], tuple[Timing, Timing] | str]:
    """Every control's (cold, warm) on a new server, or why it could not be measured."""
    found: dict[tuple[str, str], tuple[Timing, Timing] | str] = {}
    port = free_port()
    clock = Path(tempfile.mkdtemp(prefix="northstar-clock-")) / "runs.log"
    server = start_server(port, env=env, clock=clock)
    context = browser.new_context(viewport={"width": width, "height": 1000})
    context.add_init_script(RECORDER_JS)
    page = context.new_page()
    page.on("websocket", lambda socket: socket.on("framereceived", _count))
    try:
        for path, title in PAGES.items():
            started = time.perf_counter()
            open_page(page, f"http://127.0.0.1:{port}/{path}", timeout_s)
            print(f"  {title}: drawn in {time.perf_counter() - started:.1f} s", flush=True)
            for control in (c for c in CONTROLS if c.page == path):
                try:
                    found[(title, control.name)] = measure(page, control, timeout_s, clock, debug)
                except Exception as exc:  # a control missing on this source: say so, go on
                    found[(title, control.name)] = f"not measured: {type(exc).__name__}"
                    print(f"    {control.name}: {exc}".splitlines()[0], flush=True)
                    open_page(page, f"http://127.0.0.1:{port}/{path}", timeout_s)
                    continue
                cold, warm = found[(title, control.name)]
                print(f"    {control.name}: cold {said(cold)}; warm {said(warm)}", flush=True)
    finally:
        context.close()
        stop_server(server)
        shutil.rmtree(clock.parent, ignore_errors=True)
    return found


def said(t: Timing) -> str:
    return (
        f"{t.total:.0f} ms (request {t.request:.0f}, script {t.script:.0f}, delivered "
        f"{t.delivered:.0f}, drawing {t.drawing:.0f}; {t.kib:,.0f} KiB)"
    )


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f}"


def _measured(runs: list[dict], control: Control) -> tuple[list[Timing], list[Timing]] | str:
    measured = [run[(PAGES[control.page], control.name)] for run in runs]
    pairs = [m for m in measured if not isinstance(m, str)]
    if not pairs:
        return str(measured[0])
    return [c for c, _ in pairs], [w for _, w in pairs]


def split_table(runs: list[dict]) -> list[str]:
    """Where the time goes, median ms: press to the server's run, the run, its end to the
    browser's, the drawing after it; and what the browser received."""
    lines = [
        "| page | control | cold: request / script / delivered / drawing "
        "| warm: request / script / delivered / drawing | KiB to the browser (cold / warm) |",
        "|---|---|---|---|---|",
    ]
    for control in CONTROLS:
        found = _measured(runs, control)
        if isinstance(found, str):
            continue
        parts = [
            " / ".join(
                _median([getattr(t, part) for t in ts])
                for part in ("request", "script", "delivered", "drawing")
            )
            for ts in found
        ]
        kib = " / ".join(_median([t.kib for t in ts]) for ts in found)
        lines.append(
            f"| {PAGES[control.page]} | {control.name} | {parts[0]} | {parts[1]} | {kib} |"
        )
    return lines


def table(runs: list[dict], goal_ms: int) -> list[str]:
    lines = [
        "| page | control | cold ms | warm ms | goal | within goal? "
        "| cold: server script + the rest | warm: server script + the rest |",
        "|---|---|---|---|---|---|---|---|",
    ]
    goal = f"{goal_ms:,} ms" if goal_ms < 1000 else f"{goal_ms / 1000:g} s"
    for control in CONTROLS:
        title = PAGES[control.page]
        found = _measured(runs, control)
        if isinstance(found, str):
            lines.append(f"| {title} | {control.name} | {found} | | {goal} | | | |")
            continue
        cold, warm = found
        cold_ms, warm_ms = (statistics.median(t.total for t in ts) for ts in (cold, warm))
        verdict = (
            "yes"
            if cold_ms <= goal_ms and warm_ms <= goal_ms
            else "warm only"
            if warm_ms <= goal_ms
            else "no"
        )
        notes = []
        if any(not t.ran for t in cold + warm):
            notes.append("no script run seen")
        if any(t.errors for t in cold + warm):
            notes.append("exception box")
        flag = f" ({', '.join(notes)})" if notes else ""
        split = [
            f"{_median([t.script for t in ts])} + {_median([t.rest for t in ts])}"
            for ts in (cold, warm)
        ]
        lines.append(
            f"| {title} | {control.name}{flag} | {cold_ms:,.0f} | {warm_ms:,.0f} | {goal} "
            f"| {verdict} | {split[0]} | {split[1]} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=sorted(GOAL_MS), default="demo")
    parser.add_argument("--repeat", type=int, default=3, help="runs, each on a new server")
    parser.add_argument("--width", type=int, default=1400, help="window width in px")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per page or change")
    parser.add_argument("--debug", action="store_true", help="print the last DOM changes")
    args = parser.parse_args(argv)
    timeout_s = args.timeout or (300 if args.source == "demo" else 1200)
    from playwright.sync_api import sync_playwright

    load_before = load_average()
    runs = []
    with tempfile.TemporaryDirectory(prefix="northstar-redraw-") as folder:
        env = sources_10m(Path(folder)) if args.source == "10M" else {}
        with sync_playwright() as pw:
            browser = launch(pw)
            try:
                for number in range(1, args.repeat + 1):
                    print(f"run {number} of {args.repeat}", flush=True)
                    runs.append(run_once(browser, env, args.width, timeout_s, args.debug))
            finally:
                browser.close()
    print()
    print(
        f"Redraw after a change, {args.source} source, median of {args.repeat} run(s), "
        f"{args.width} px; load average (1/5/15 min) {load_before} before, "
        f"{load_average()} after. The split columns are medians of each part, so they need "
        "not add up to the median total."
    )
    print()
    print("\n".join(table(runs, GOAL_MS[args.source])))
    print()
    print(
        "Where the time goes (median ms): the press to the server's script run starting, the "
        "run, its end to the browser's, the drawing after it"
    )
    print()
    print("\n".join(split_table(runs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

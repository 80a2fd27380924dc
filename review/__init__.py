"""The leadership review: one self-contained HTML file with the scorecard and the key charts.

    python -m review --start 2026-08-01 --end 2026-10-31 --out review.html

The file carries its own styles and one copy of Plotly's JavaScript, so it opens offline and can
be attached to an email. The copy is plotly.js's *basic* bundle (scatter, bar and pie traces,
1.2 MB, ``review/plotly-basic.min.js``, MIT, refreshed with
``npm pack plotly.js-basic-dist-min@<the version plotly.py bundles>``) rather than the full 4.8 MB
one: the review draws lines only, and the demo's review stays under 1.5 MB and opens in well
under a second. Each figure is a div drawn by that one copy; a figure with any other trace type
makes the review carry the full bundle instead.

The scorecard is judged as of the day after ``end`` (the same rule as the Overview page, whose
"Download the leadership review" button writes the same file); the charts show ``start`` ..
``end`` and each KPI's projection to its deadline.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping, Sequence
from pathlib import Path

import plotly.graph_objects as go
import polars as pl

from metrics import targets
from metrics.annotations import KIND_LABELS, Annotation, in_window
from ui.charts import targets as charts
from ui.charts.annotations import annotate
from ui.text import safe_figure

__all__ = ["build", "render"]

#: plotly.js's basic bundle and the trace types it draws.
PLOTLY_BASIC = Path(__file__).with_name("plotly-basic.min.js")
BASIC_TRACES = frozenset({"scatter", "bar", "pie"})

_STYLE = """
body { font-family: "Liberation Sans", Arial, Helvetica, sans-serif; color: #24292f; margin: 0;
       background: #f6f8fa; }
main { max-width: 1080px; margin: 0 auto; padding: 32px 24px 48px; background: #fff; }
.eyebrow { text-transform: uppercase; letter-spacing: .06em; font-size: 12px; color: #57606a; }
h1 { margin: 4px 0 8px; font-size: 30px; }
.vision { font-size: 21px; line-height: 1.4; margin: 0 0 24px; }
h2 { font-size: 19px; margin: 32px 0 12px; border-bottom: 1px solid #d0d7de; padding-bottom: 6px; }
.north-star { border: 2px solid #d0d7de; border-radius: 10px; padding: 16px 20px; display: flex;
              gap: 24px; align-items: flex-start; flex-wrap: wrap; }
.north-star .facts { flex: 1 1 260px; }
.north-star .chart { flex: 2 1 480px; }
.big { font-size: 40px; font-weight: 700; margin: 6px 0; }
.badge { display: inline-block; border-radius: 999px; padding: 2px 10px; color: #fff;
         font-size: 12px; font-weight: 700; white-space: nowrap; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; padding: 7px 8px; border-bottom: 1px solid #eaeef2;
         vertical-align: top; }
th { font-size: 12px; text-transform: uppercase; color: #57606a; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.muted { color: #57606a; font-size: 13px; }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
.card { border: 1px solid #d0d7de; border-radius: 8px; padding: 8px; }
.summary .badge { margin-right: 6px; font-size: 13px; }
footer { margin-top: 36px; font-size: 12px; color: #57606a; line-height: 1.5; }
@page { size: A4; margin: 12mm; }
@media print {
  /* Charts keep the size they were drawn at on screen (at most main's 1080 px): the page is
     laid out 1.5 times as wide as the paper and shrunk onto it, so no chart runs off its edge. */
  body { background: #fff; }
  main { padding: 0; zoom: 0.66; }
  .badge { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  .north-star, .card, tr { break-inside: avoid; }
  h2, h3 { break-after: avoid; }
}
"""


_PLOTLY_SLOT = "<!-- plotly.js -->"


def _badge(status: str) -> str:
    color = charts.STATUS_COLORS[status]
    label = html.escape(charts.STATUS_LABELS[status])
    return f'<span class="badge status-{status}" style="background:{color}">{label}</span>'


class _Figures:
    """Turns figures into divs drawn by the one copy of Plotly the document's head carries."""

    def __init__(self) -> None:
        self.traces: set[str] = set()

    def __call__(self, fig: go.Figure, div_id: str) -> str:
        self.traces.update(trace.type for trace in fig.data)
        # Every text from the data (KPI names in titles, segment labels) as text, never HTML.
        return safe_figure(fig).to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=div_id,
            config={"displayModeBar": False, "responsive": True},
        )

    def script(self) -> str:
        """Plotly's JavaScript, once: the basic bundle when it draws every figure, else the full."""
        if not self.traces:
            return ""
        if self.traces <= BASIC_TRACES:
            code = PLOTLY_BASIC.read_text(encoding="utf-8")
        else:
            from plotly.offline import get_plotlyjs

            code = get_plotlyjs()
        return f"<script>{code}</script>"


def render(
    vision: targets.Vision,
    card: targets.Scorecard,
    drivers: Mapping[str, targets.Drivers],
    *,
    start: dt.date,
    end: dt.date,
    source: str = "",
    currency: str | None = None,
    changes: pl.DataFrame | None = None,
    annotations: Sequence[Annotation] = (),
) -> str:
    """The review as one HTML document: vision, North Star, scorecard, charts, drivers, the
    changes to the targets, method.

    ``currency`` is the source's (sources.toml ``currency``) when it names one, else the vision's.
    ``changes`` is the vision file's change log (:func:`ui.editing.read_log`), newest first.
    ``annotations`` (:mod:`metrics.annotations`) are drawn on every chart and listed.
    """
    esc = html.escape
    currency = currency or vision.currency
    figure = _Figures()
    rows = {row["kpi"]: row for row in card.table.iter_rows(named=True)}
    star = rows[vision.north_star]

    def points(kpi_id: str) -> pl.DataFrame:
        return card.series.filter(pl.col("kpi") == kpi_id)

    period_text = f"{start:%d %b %Y} – {end:%d %b %Y}"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(vision.product)}: leadership review, {esc(period_text)}</title>",
        f"<style>{_STYLE}</style>",
        _PLOTLY_SLOT,
        "</head><body><main>",
        f'<p class="eyebrow">Leadership review · {esc(period_text)} · '
        f"as of {card.today:%d %b %Y}</p>",
        f"<h1>{esc(vision.product)}</h1>",
        f'<p class="vision">{esc(vision.statement)}</p>',
    ]

    # North Star
    star_chart = ""
    if star["status"] != "no_data":
        star_figure = charts.trend_chart(points(star["kpi"]), star, currency=currency, start=start)
        # Releases, incidents, experiments and target changes marked on every chart.
        star_chart = figure(annotate(star_figure, annotations), "chart-north-star")
    delta = charts.format_delta(star["delta"], star["unit"], currency)
    parts += [
        '<section class="north-star" id="north-star"><div class="facts">',
        '<p class="eyebrow">North Star</p>',
        f"<h2 style='border:0;margin:0'>{esc(star['name'])}</h2>",
        f'<p class="big">{esc(charts.format_value(star["value"], star["unit"], currency))}</p>',
        f"<p>{_badge(star['status'])} "
        + (f'<span class="muted">{esc(delta)} vs the period before</span>' if delta else "")
        + "</p>",
        f"<p>{esc(charts.verdict(star, currency))}</p>",
        f'<p class="muted">{esc(star["description"])} Owner: {esc(star["owner"])}.</p>',
        f'</div><div class="chart">{star_chart}</div></section>',
    ]

    # Summary and scorecard
    counts = " ".join(
        f"{_badge(status)}<span class='muted'>× {count}</span>"
        for status, count in charts.status_counts(card.table)
    )
    parts += [
        f'<h2>Scorecard</h2><p class="summary">{len(rows)} KPIs: {counts}</p>',
        '<table id="scorecard"><thead><tr><th>KPI</th><th>Status</th><th>Value</th>'
        "<th>Target</th><th>vs previous</th><th>Projected</th><th>Deadline</th><th>Owner</th>"
        "</tr></thead><tbody>",
    ]
    for row in rows.values():
        unit = row["unit"]
        note = (
            f'<br><span class="muted">{esc(row["reason"])}</span>'
            if row["status"] == "no_data" and row["reason"]
            else ""
        )
        parts.append(
            f'<tr data-kpi="{esc(row["kpi"])}"><td><strong>{esc(row["name"])}</strong>{note}</td>'
            f"<td>{_badge(row['status'])}</td>"
            f'<td class="num">{esc(charts.format_value(row["value"], unit, currency))}</td>'
            f'<td class="num">{esc(charts.format_value(row["target"], unit, currency))}</td>'
            f'<td class="num">{esc(charts.format_delta(row["delta"], unit, currency) or "—")}</td>'
            f'<td class="num">{esc(charts.format_value(row["projected"], unit, currency))}</td>'
            f"<td>{row['deadline']:%d %b %Y}</td><td>{esc(row['owner'])}</td></tr>"
        )
    parts.append("</tbody></table>")

    # One chart per KPI
    parts.append('<h2>Where each KPI is heading</h2><div class="charts">')
    for kpi_id, row in rows.items():
        if kpi_id == vision.north_star:
            continue
        if row["status"] == "no_data":
            reason = esc(row["reason"] or "")
            body = f"<p><strong>{esc(row['name'])}</strong>: no data ({reason}).</p>"
        else:
            trend = charts.trend_chart(
                points(kpi_id), row, currency=currency, start=start, height=260
            )
            body = figure(annotate(trend, annotations), f"chart-{kpi_id}")
        words = esc(charts.verdict(row, currency))
        parts.append(f'<div class="card">{body}<p class="muted">{words}</p></div>')
    parts.append("</div>")

    # Drivers of the off-track KPIs
    if drivers:
        parts.append("<h2>What is driving the off-track KPIs</h2>")
        for kpi_id, found in drivers.items():
            row = rows[kpi_id]
            unit = row["unit"]
            sentence = charts.drivers_sentence(found, unit, row["period"], currency)
            parts.append(f"<h3>{esc(row['name'])}</h3><p>{esc(sentence)}</p>")
            if found.status == "ok" and found.segments.height:
                parts.append(
                    '<table class="segments"><thead><tr><th>Segment</th><th>Before</th>'
                    "<th>After</th><th>Contribution</th></tr></thead><tbody>"
                )
                for seg in found.segments.iter_rows(named=True):
                    before = charts.format_value(seg["before"], unit, currency)
                    after = charts.format_value(seg["after"], unit, currency)
                    moved = charts.format_delta(seg["contribution"], unit, currency) or "—"
                    parts.append(
                        f"<tr><td>{esc(seg['property'])} = {esc(seg['segment'])}</td>"
                        f'<td class="num">{esc(before)}</td><td class="num">{esc(after)}</td>'
                        f'<td class="num">{esc(moved)}</td></tr>'
                    )
                parts.append("</tbody></table>")

    # What happened in the period: releases, incidents, experiments, target changes.
    shown = in_window(annotations, start, end)
    parts.append("<h2>What happened</h2>")
    if not shown:
        parts.append('<p class="muted" id="annotations">No annotation in this period.</p>')
    else:
        parts.append(
            '<table id="annotations"><thead><tr><th>Date</th><th>Kind</th><th>Note</th></tr>'
            "</thead><tbody>"
        )
        for note in shown:
            parts.append(
                f"<tr><td>{note.date:%d %b %Y}</td><td>{esc(KIND_LABELS[note.kind])}</td>"
                f"<td>{esc(note.text)}</td></tr>"
            )
        parts.append("</tbody></table>")

    # Did the goalposts move? Every change to a target saved from the Overview.
    parts.append("<h2>Changes to the targets</h2>")
    if changes is None or changes.height == 0:
        parts.append('<p class="muted" id="target-changes">No target was changed from the app.</p>')
    else:
        parts.append(
            '<table id="target-changes"><thead><tr><th>When (UTC)</th><th>Who</th><th>KPI</th>'
            "<th>Field</th><th>Old</th><th>New</th></tr></thead><tbody>"
        )
        for change in changes.iter_rows(named=True):
            cells = (
                change.get(name) or "" for name in ("when", "who", "kpi", "field", "old", "new")
            )
            parts.append("<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in cells) + "</tr>")
        parts.append("</tbody></table>")

    parts += [
        "<footer><p><strong>How to read this.</strong> Each KPI's value is its latest complete "
        "period before the review date (daily KPIs: the 7-day average). The trend is the "
        "Theil–Sen slope of the last 8 weeks, 6 months or 28 days; projected = value + trend × "
        "periods left to the deadline. Met: the target is already reached. On track: the "
        "projection reaches it. At risk: it falls short by less than 10% of the target. Off "
        "track: short by more, or the deadline has passed. Missing data is shown as missing, "
        "never as zero. Drivers split a change into volume and rate (Shapley) and by segment.</p>",
        f"<p>Generated by Northstar from {esc(source or 'the configured source')} and "
        f"{esc(vision.source)} on {card.today:%d %b %Y}.</p></footer>",
        "</main></body></html>",
    ]
    # The figures are known only now: Plotly goes into the head, before any div that draws.
    parts[parts.index(_PLOTLY_SLOT)] = figure.script()
    return "\n".join(parts)


def build(
    *,
    start: dt.date,
    end: dt.date,
    vision_path: str | Path | None = None,
    source: str | None = None,
    tz: str = "UTC",
) -> str:
    """The review for a date range: load the source and the vision, judge as of ``end`` + 1 day.

    The vision is the source's own (its ``vision`` in sources.toml, else visions/<source>.toml;
    the demo's is vision.toml) unless ``vision_path`` names another: one product's data is never
    judged against another product's targets.

    Raises :class:`metrics.targets.VisionError` for a broken vision file and
    ``connectors.ConnectorError`` for a source that cannot be loaded.
    """
    from connectors.config import default_source, load_source, read_config

    if end < start:
        raise ValueError(f"end ({end}) is before start ({start})")
    name = source or default_source()
    config = read_config()[0].get(name)
    if vision_path is None:
        own = config.vision_file if config is not None else None
        vision_path = own or "vision.toml"
    vision = targets.load_vision(vision_path)
    loaded = load_source(name)
    today = end + dt.timedelta(days=1)
    card = targets.scorecard(
        vision, loaded.events, today=today, tz=tz, assignments=loaded.assignments
    )
    off_track = {
        kpi_id: targets.explain(
            vision, kpi_id, loaded.events, today=today, tz=tz, assignments=loaded.assignments
        )
        for kpi_id, status in card.table.select("kpi", "status").iter_rows()
        if status == "off_track"
    }
    currency = config.currency if config is not None else None
    from metrics import annotations as notes
    from ui.editing import read_log

    last = loaded.events.select(pl.col("timestamp").max()).item()
    timeline = notes.timeline(
        notes.load_annotations(notes.annotations_path(vision_path)),
        notes.from_assignments(
            loaded.assignments, tz=tz, data_end=last.date() if last is not None else None
        ),
        notes.from_change_log(read_log(Path(vision_path))),
    )
    return render(
        vision,
        card,
        off_track,
        start=start,
        end=end,
        source=name,
        currency=currency,
        changes=read_log(Path(vision_path)),
        annotations=timeline,
    )

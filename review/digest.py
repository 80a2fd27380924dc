"""The morning digest: every product's KPIs judged, compared with the last run, written down and
told to the team's chat.

    python -m review digest [--as-of DATE] [--state FILE] [--out DIR] [--webhook URL]
                            [--source NAME]

For each product (each source of sources.toml with its vision file; or only ``--source``) the
KPIs are judged as of ``--as-of`` (default: today, the only place the clock is read) and compared
with the statuses the state file kept from the last run (:mod:`metrics.digest` decides). The
digest is written as Markdown and as one self-contained HTML file: status changes first, then
threshold alerts, the biggest movers, the annotations since the last run, every KPI, and how
the messages fared. With a webhook (``--webhook``, else the source's ``webhook`` in
sources.toml, else the vision's ``[product] webhook``), each status change and alert is posted
as a Slack-compatible message; a failed post is retried with backoff, reported in the digest and
the exit status, kept in the state as pending and retried by the next run; a delivered one is
remembered and never posted again. docs/digest.md has the details and a cron line.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import html
import json
import os
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from metrics import annotations as notes
from metrics import digest as judge
from metrics import targets
from ui.charts import targets as charts
from ui.text import md

#: How a medium makes a value from the data safe: ``ui.text.md``, ``html.escape`` or ``str``.
Escape = Callable[[Any], str]
ROOT = Path(__file__).resolve().parent.parent
#: Exit statuses: everything done; a product or the state could not be read; a message is owed.
EXIT_OK, EXIT_PROBLEM, EXIT_UNDELIVERED = 0, 2, 3
#: Attempts per message per run, and the first wait between them (doubled each time).
ATTEMPTS = 3
BACKOFF_SECONDS = 1.0
TIMEOUT_SECONDS = 10.0


@dataclasses.dataclass(frozen=True)
class Product:
    """A product to judge: its source's name, its vision file and its currency."""

    source: str
    vision_path: Path
    currency: str | None = None
    webhook: str | None = None


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One product's digest, or why it has none."""

    product: Product
    digest: judge.ProductDigest | None = None
    currency: str = "USD"
    problem: str | None = None


@dataclasses.dataclass(frozen=True)
class Delivery:
    """How one message fared this run."""

    key: str
    source: str
    text: str
    delivered: bool
    attempts: int
    error: str = ""


# --- which products ------------------------------------------------------------------------------


def _demo_vision() -> Path:
    return Path(os.environ.get("NORTHSTAR_VISION") or ROOT / "vision.toml")


def products(source: str | None = None, sources_path: str | Path | None = None) -> list[Product]:
    """The products the digest covers: every source listed in sources.toml (the demo when no
    other is listed), or only ``source``. Raises ``ConnectorError`` for a broken sources.toml
    and ``ValueError`` for an unknown source."""
    from connectors.config import DEMO, config_path, read_config

    configs, _default = read_config(sources_path)
    if source is not None:
        if source not in configs:
            raise ValueError(f"{source!r} is not a source of sources.toml ({', '.join(configs)})")
        names = [source]
    else:
        listed: list[str] = []
        path = config_path(sources_path)
        if path.is_file():
            listed = list(tomllib.loads(path.read_text(encoding="utf-8")).get("sources", {}))
        names = [n for n in listed if n in configs] or [DEMO]
        if DEMO in names and len(names) > 1 and DEMO not in listed:
            names.remove(DEMO)
    out = []
    for name in names:
        config = configs[name]
        hook = config.settings.get("webhook")
        out.append(
            Product(
                source=name,
                vision_path=config.vision_file or _demo_vision(),
                currency=config.currency,
                webhook=str(hook) if hook else None,
            )
        )
    return out


# --- judging one product -------------------------------------------------------------------------


def judge_product(
    product: Product,
    previous: Mapping[str, Any] | None,
    *,
    as_of: dt.date,
    tz: str = "UTC",
) -> tuple[judge.ProductDigest, targets.Vision]:
    """Load the product's events and vision, judge every KPI as of ``as_of``, compare with the
    last run. Raises VisionError, AnnotationError, ConnectorError or ValueError."""
    from connectors.config import load_source
    from ui.editing import read_log

    vision = targets.load_vision(product.vision_path)
    written = notes.load_annotations(notes.annotations_path(product.vision_path))
    loaded = load_source(product.source)
    table = targets.evaluate(
        vision, loaded.events, today=as_of, tz=tz, assignments=loaded.assignments
    )
    last = loaded.events.select(pl.col("timestamp").max()).item()
    data_end = last.astimezone(dt.UTC).date() if last is not None else None
    timeline = notes.timeline(
        written,
        notes.from_assignments(loaded.assignments, tz=tz, data_end=data_end),
        notes.from_change_log(read_log(product.vision_path)),
    )
    found = judge.compare(
        product.source,
        vision.product,
        judge.readings(vision, table),
        previous,
        as_of=as_of,
        annotations=timeline,
    )
    return found, vision


# --- the chat messages ---------------------------------------------------------------------------


def _slack(value: Any) -> str:
    """Text for Slack's mrkdwn, where only &, < and > are markup (links, mentions)."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _unslack(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _status(status: str) -> str:
    return charts.STATUS_LABELS.get(status, status)


def change_text(change: judge.StatusChange, currency: str, esc: Escape = str) -> str:
    """A status change in words; ``esc`` makes each value from the data safe for the medium."""
    r = change.reading
    value = esc(charts.format_value(r.value, r.unit, currency))
    target = esc(charts.format_value(r.target, r.unit, currency))
    return (
        f"{esc(r.name)}: {_status(change.before)} → {_status(change.after)} "
        f"(now {value}, target {target})"
    )


def alert_text(alert: judge.Alert, currency: str, esc: Escape = str) -> str:
    """A threshold crossing in words (``esc`` as for :func:`change_text`)."""
    r = alert.reading
    value = esc(charts.format_value(r.value, r.unit, currency))
    threshold = esc(charts.format_value(alert.threshold, r.unit, currency))
    side = "fell below" if alert.side == "below" else "rose above"
    if alert.before is None:
        side = "is below" if alert.side == "below" else "is above"
    return f"{esc(r.name)} {side} its alert threshold of {threshold}: now {value}"


def message(product: str, as_of: dt.date, text: str, kind: str) -> dict[str, Any]:
    """A Slack-compatible message: ``text`` (the notification's fallback) and ``blocks``."""
    head = f"{product}: {text}"
    return {
        "text": _slack(head),
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*{_slack(product)}* · {_slack(text)}"},
            },
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"Northstar {kind} · as of {as_of.isoformat()}"}
                ],
            },
        ],
    }


def messages(found: judge.ProductDigest, currency: str) -> list[tuple[str, str, dict[str, Any]]]:
    """``(key, source, payload)`` for each status change and alert of a product's digest."""
    out = [
        (
            c.key,
            found.source,
            message(found.product, found.as_of, change_text(c, currency), "status change"),
        )
        for c in found.changes
    ]
    out += [
        (a.key, found.source, message(found.product, found.as_of, alert_text(a, currency), "alert"))
        for a in found.alerts
    ]
    return out


def post(
    url: str,
    payload: Mapping[str, Any],
    *,
    attempts: int | None = None,
    backoff: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[bool, int, str]:
    """POST ``payload`` as JSON, retrying a failure up to ``attempts`` times (:data:`ATTEMPTS`)
    with a doubling wait (from :data:`BACKOFF_SECONDS`). Returns (delivered, attempts made, the
    last error)."""
    attempts = ATTEMPTS if attempts is None else attempts
    backoff = BACKOFF_SECONDS if backoff is None else backoff
    body = json.dumps(payload).encode()
    error = ""
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                response.read()
            return True, attempt, ""
        except urllib.error.HTTPError as exc:
            error = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            error = f"could not connect ({reason})"
        if attempt < attempts:
            sleep(backoff * 2 ** (attempt - 1))
    return False, attempts, error


def shown_url(url: str) -> str:
    """A webhook's address without its path (the path of a Slack webhook is its secret)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}/…"


def deliver(
    state: judge.State,
    new: Sequence[tuple[str, str, Mapping[str, Any]]],
    webhooks: Mapping[str, str | None],
    **options: Any,
) -> tuple[judge.State, list[Delivery]]:
    """Post what is owed (pending first, then the new messages nobody has sent), and the state
    with the delivered keys remembered and the failures kept as pending."""
    sent = list(state.sent)
    pending: list[judge.Pending] = []
    report: list[Delivery] = []
    for key, source, payload, tried in judge.owed(state, new):
        text = _unslack(str(payload.get("text", key)))
        url = webhooks.get(source)
        if not url:
            error = f"no webhook configured for {source}"
            pending.append(judge.Pending(key, source, payload, tried, error))
            report.append(Delivery(key, source, text, False, tried, error))
            continue
        ok, attempts, error = post(url, payload, **options)
        if ok:
            sent.append(key)
        else:
            error = f"{error} from {shown_url(url)}"
            pending.append(judge.Pending(key, source, payload, tried + attempts, error))
        report.append(Delivery(key, source, text, ok, tried + attempts, error))
    return dataclasses.replace(state, sent=tuple(sent), pending=tuple(pending)), report


# --- writing the digest --------------------------------------------------------------------------


def _value(reading: judge.Reading, value: float | None, currency: str) -> str:
    return charts.format_value(value, reading.unit, currency)


def _mover_text(mover: judge.Mover, currency: str, esc: Escape = str) -> str:
    r = mover.reading
    delta = esc(charts.format_delta(mover.change, r.unit, currency) or "")
    relative = esc(f" ({mover.relative:+.1%})") if mover.relative is not None else ""
    way = "better" if mover.better else "worse"
    before, now = esc(_value(r, r.previous, currency)), esc(_value(r, r.value, currency))
    return f"{esc(r.name)}: {before} → {now}, {delta}{relative} vs the {r.period} before, {way}"


def _sections(outcome: Outcome, esc: Escape = str) -> list[tuple[str, str, list[str], str]]:
    """The digest of one product as (id, heading, lines, text when there are none); ``esc``
    is applied to each value from the data in the lines."""
    found, currency = outcome.digest, outcome.currency
    assert found is not None
    first = (
        "First run: every status is recorded now; changes are reported from the next run."
        if found.first_run
        else "No KPI changed status."
    )
    return [
        (
            "changes",
            "Status changes",
            [change_text(c, currency, esc) for c in found.changes],
            first,
        ),
        (
            "alerts",
            "Threshold alerts",
            [alert_text(a, currency, esc) for a in found.alerts],
            "No KPI crossed an alert threshold.",
        ),
        (
            "movers",
            "Biggest movers",
            [_mover_text(m, currency, esc) for m in found.movers],
            "No KPI moved from the period before.",
        ),
        (
            "annotations",
            "Annotations since last time",
            [
                f"{n.date:%d %b %Y} · {notes.KIND_LABELS[n.kind]}: {esc(n.text)}"
                for n in found.annotations
            ],
            "No annotation since the last run.",
        ),
    ]


def _since(found: judge.ProductDigest) -> str:
    return f"since {found.since:%d %b %Y}" if found.since else "first run"


def _delivery_lines(report: Sequence[Delivery], esc: Escape = str) -> list[str]:
    lines = []
    done = [d for d in report if d.delivered]
    failed = [d for d in report if not d.delivered]
    if done:
        lines.append(f"{len(done)} message(s) posted to the webhook.")
    for item in failed:
        lines.append(
            f"Not delivered after {item.attempts} attempt(s) ({esc(item.error)}): "
            f"{esc(item.text)} — "
            "kept and retried at the next run."
        )
    if not report:
        lines.append("No message to post.")
    return lines


def markdown(
    outcomes: Sequence[Outcome], report: Sequence[Delivery], *, as_of: dt.date, webhook: bool
) -> str:
    """The digest as Markdown (every value from the data escaped)."""
    parts = [f"# Northstar morning digest · {as_of:%d %b %Y}", ""]
    for outcome in outcomes:
        found = outcome.digest
        if found is None:
            parts += [
                f"## {md(outcome.product.source)}",
                "",
                f"Not judged: {md(outcome.problem)}",
                "",
            ]
            continue
        parts += [f"## {md(found.product)} ({md(found.source)}) · {_since(found)}", ""]
        for _id, heading, lines, empty in _sections(outcome, md):
            parts += [f"### {heading}", ""]
            parts += [f"- {line}" for line in lines] or [empty]
            parts.append("")
        parts += ["### Every KPI", "", "| KPI | Status | Value | Target |", "|---|---|---|---|"]
        for r in found.readings:
            parts.append(
                f"| {md(r.name)} | {_status(r.status)} "
                f"| {md(_value(r, r.value, outcome.currency))} "
                f"| {md(_value(r, r.target, outcome.currency))} |"
            )
        parts.append("")
    parts += ["## Messages", ""]
    if webhook or report:
        parts += [f"- {line}" for line in _delivery_lines(report, md)]
    else:
        parts.append("No webhook configured: nothing was posted.")
    return "\n".join(parts) + "\n"


_STYLE = """
body { font-family: "Liberation Sans", Arial, Helvetica, sans-serif; color: #24292f; margin: 0;
       background: #f6f8fa; }
main { max-width: 860px; margin: 0 auto; padding: 28px 24px 40px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 16px; }
h2 { font-size: 20px; margin: 28px 0 8px; border-bottom: 1px solid #d0d7de; padding-bottom: 6px; }
h3 { font-size: 15px; margin: 18px 0 6px; text-transform: uppercase; letter-spacing: .04em;
     color: #57606a; }
ul { margin: 0; padding-left: 20px; line-height: 1.5; }
.muted { color: #57606a; }
.badge { display: inline-block; border-radius: 999px; padding: 1px 8px; color: #fff;
         font-size: 12px; font-weight: 700; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #eaeef2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.failed { color: #cf222e; font-weight: 700; }
"""


def _badge(status: str) -> str:
    color = charts.STATUS_COLORS.get(status, "#6e7781")
    return f'<span class="badge" style="background:{color}">{html.escape(_status(status))}</span>'


def html_digest(
    outcomes: Sequence[Outcome], report: Sequence[Delivery], *, as_of: dt.date, webhook: bool
) -> str:
    """The digest as one self-contained HTML page (no script, no outside resource); every value
    from the data is escaped."""
    esc = html.escape
    title = f"Northstar morning digest · {as_of:%d %b %Y}"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body><main>",
        f"<h1>{esc(title)}</h1>",
    ]
    for outcome in outcomes:
        found = outcome.digest
        if found is None:
            parts += [
                f'<section class="product" data-source="{esc(outcome.product.source)}">',
                f"<h2>{esc(outcome.product.source)}</h2>",
                f'<p class="failed">Not judged: {esc(outcome.problem or "")}</p></section>',
            ]
            continue
        parts += [
            f'<section class="product" data-source="{esc(found.source)}">',
            f'<h2>{esc(found.product)} <span class="muted">({esc(found.source)}) · '
            f"{esc(_since(found))}</span></h2>",
        ]
        for section_id, heading, lines, empty in _sections(outcome):
            parts.append(
                f'<h3 id="{section_id}-{esc(found.source)}" class="{section_id}">{heading}</h3>'
            )
            if lines:
                parts.append("<ul>" + "".join(f"<li>{esc(line)}</li>" for line in lines) + "</ul>")
            else:
                parts.append(f'<p class="muted">{esc(empty)}</p>')
        parts.append(
            '<h3 class="kpis">Every KPI</h3><table><thead><tr><th>KPI</th><th>Status</th>'
            "<th>Value</th><th>Target</th></tr></thead><tbody>"
        )
        for r in found.readings:
            parts.append(
                f'<tr data-kpi="{esc(r.kpi)}"><td>{esc(r.name)}</td><td>{_badge(r.status)}</td>'
                f'<td class="num">{esc(_value(r, r.value, outcome.currency))}</td>'
                f'<td class="num">{esc(_value(r, r.target, outcome.currency))}</td></tr>'
            )
        parts.append("</tbody></table></section>")
    parts.append('<h2 id="messages">Messages</h2>')
    if webhook or report:
        items = []
        for line in _delivery_lines(report):
            css = ' class="failed"' if line.startswith("Not delivered") else ""
            items.append(f"<li{css}>{esc(line)}</li>")
        parts.append('<ul class="delivery">' + "".join(items) + "</ul>")
    else:
        parts.append('<p class="muted">No webhook configured: nothing was posted.</p>')
    parts.append("</main></body></html>")
    return "\n".join(parts)


# --- the run -------------------------------------------------------------------------------------


def _write(path: Path, text: str) -> None:
    """Write a file in one step (a temporary file in the same folder, then moved into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temporary, path)


def run(
    *,
    as_of: dt.date,
    state_path: Path,
    out: Path,
    webhook: str | None = None,
    source: str | None = None,
    tz: str = "UTC",
    **post_options: Any,
) -> tuple[int, list[Outcome], list[Delivery], Path]:
    """One digest run: judge, compare, post, write the digest and the new state.

    Returns the exit status, each product's outcome, the deliveries and the Markdown file."""
    try:
        text = state_path.read_text(encoding="utf-8") if state_path.exists() else ""
        state = judge.parse_state(text, source=str(state_path))
    except (OSError, UnicodeDecodeError, judge.StateError) as exc:
        raise judge.StateError(f"cannot read the state file: {exc}") from None
    outcomes: list[Outcome] = []
    new: list[tuple[str, str, Mapping[str, Any]]] = []
    webhooks: dict[str, str | None] = {}
    products_state = dict(state.products)
    for product in products(source):
        previous = state.products.get(product.source)
        if not product.vision_path.is_file():
            where = product.vision_path.name
            outcomes.append(
                Outcome(
                    product, problem=f"no vision file yet ({where}: the Overview's setup writes it)"
                )
            )
            continue
        try:
            found, vision = judge_product(product, previous, as_of=as_of, tz=tz)
        except (targets.VisionError, notes.AnnotationError) as exc:
            problems = (
                p.replace(f"{product.vision_path.parent}{os.sep}", "") for p in exc.problems
            )
            outcomes.append(Outcome(product, problem="; ".join(problems)))
            continue
        except Exception as exc:  # noqa: BLE001 - one product's failure leaves the others judged
            outcomes.append(Outcome(product, problem=f"{type(exc).__name__}: {exc}"))
            continue
        currency = product.currency or vision.currency
        webhooks[product.source] = webhook or product.webhook or vision.webhook
        outcomes.append(Outcome(product, found, currency))
        products_state[product.source] = judge.snapshot(found)
        if webhooks[product.source]:
            new.extend(messages(found, currency))
    for pending in state.pending:  # owed to a product not judged this run: its own webhook
        webhooks.setdefault(pending.source, webhook or _configured_webhook(pending.source))
    state = dataclasses.replace(state, products=products_state)
    state, report = deliver(state, new, webhooks, **post_options)
    any_webhook = any(webhooks.values())
    md_path = out / f"digest-{as_of.isoformat()}.md"
    _write(md_path, markdown(outcomes, report, as_of=as_of, webhook=any_webhook))
    _write(
        md_path.with_suffix(".html"),
        html_digest(outcomes, report, as_of=as_of, webhook=any_webhook),
    )
    _write(state_path, judge.state_json(state))
    if state.pending:
        code = EXIT_UNDELIVERED
    elif any(o.digest is None for o in outcomes):
        code = EXIT_PROBLEM
    else:
        code = EXIT_OK
    return code, outcomes, report, md_path


def _configured_webhook(source: str) -> str | None:
    try:
        found = products(source)
    except Exception:  # noqa: BLE001 - the source is gone: its messages stay pending
        return None
    if not found:
        return None
    if found[0].webhook:
        return found[0].webhook
    try:
        return targets.load_vision(found[0].vision_path).webhook
    except targets.VisionError:
        return None


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-02") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m review digest",
        description="Judge every product's KPIs, compare with the last run, write the morning "
        "digest (Markdown and HTML) and post status changes and threshold alerts to a webhook.",
    )
    parser.add_argument(
        "--as-of", type=_date, default=None, help="judge as of this day (default: today)"
    )
    parser.add_argument(
        "--state", type=Path, default=None, help="the state file (default: <out>/state.json)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("digest"), help="folder of the digests (default: digest/)"
    )
    parser.add_argument("--webhook", default=None, help="a Slack-compatible incoming webhook URL")
    parser.add_argument("--source", default=None, help="only this source of sources.toml")
    parser.add_argument("--tz", default="UTC", help="reporting time zone (IANA name)")
    args = parser.parse_args(argv)
    as_of = args.as_of or dt.date.today()  # the one place the digest reads the clock
    from connectors import ConnectorError

    try:
        code, outcomes, report, path = run(
            as_of=as_of,
            state_path=args.state or args.out / "state.json",
            out=args.out,
            webhook=args.webhook,
            source=args.source,
            tz=args.tz,
        )
    except (judge.StateError, ConnectorError, ValueError) as exc:
        print(f"Cannot write the digest: {exc}", file=sys.stderr)
        return EXIT_PROBLEM
    print(f"Wrote {path} and {path.with_suffix('.html')}.")
    for outcome in outcomes:
        if outcome.problem:
            print(f"{outcome.product.source}: not judged: {outcome.problem}", file=sys.stderr)
    for item in report:
        if not item.delivered:
            print(
                f"Not delivered ({item.error}), kept for the next run: {item.text}", file=sys.stderr
            )
    return code

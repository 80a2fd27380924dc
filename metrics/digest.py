"""The morning digest's judgement: which KPIs turned since the last run, which moved most, which
crossed an alert threshold, and which messages are owed to the team's chat.

Pure: the scorecard (:func:`metrics.targets.evaluate`) of each product and the previous run's
:class:`State` go in; a :class:`ProductDigest` and the messages to send come out. Reading the
sources, writing the digest and posting to a webhook is ``review/digest.py``'s business.

- A **status change** is a KPI whose status (met, on track, at risk, off track, no data) differs
  from the one the last run recorded. The first run records every status and reports no change.
- A **mover** is a KPI whose value moved from the period before (the scorecard's ``previous``);
  the biggest movers are ranked by the size of the relative change, ``|value − previous| /
  |previous|`` (an absolute change where the previous value is 0).
- An **alert** is a KPI whose value crossed a threshold its vision sets (``alert_below``,
  ``alert_above``): it is beyond the threshold now and was not at the last run (or there was no
  last run). Staying beyond it is not a new alert.

Every status change and alert has a **key** (product, KPI, what changed, the run's date): the
state remembers the keys it delivered, so a message is never sent twice, and keeps the ones that
failed as pending, so a message is never lost: the next run retries them first.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl

from metrics.annotations import Annotation
from metrics.vision import Vision

#: The state file's format version.
STATE_VERSION = 1
#: How many delivered keys the state keeps (the oldest are forgotten first).
MAX_SENT = 2000
#: How many movers the digest lists.
MAX_MOVERS = 5
#: How far back the first run lists annotations.
FIRST_RUN_DAYS = 7

Band = Literal["below", "within", "above"]


@dataclass(frozen=True)
class Reading:
    """One KPI as a run saw it: its scorecard row and the vision's alert thresholds."""

    kpi: str
    name: str
    status: str
    value: float | None
    previous: float | None
    target: float
    direction: str
    unit: str
    period: str
    as_of: dt.date | None
    alert_below: float | None = None
    alert_above: float | None = None

    @property
    def band(self) -> Band | None:
        """Where the value stands against the alert thresholds (None without a value)."""
        return band(self.value, self.alert_below, self.alert_above)


def band(value: float | None, below: float | None, above: float | None) -> Band | None:
    """``"below"`` under ``below``, ``"above"`` over ``above``, else ``"within"``; None for no
    value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if below is not None and value < below:
        return "below"
    if above is not None and value > above:
        return "above"
    return "within"


def readings(vision: Vision, table: pl.DataFrame) -> tuple[Reading, ...]:
    """The scorecard's rows (:func:`metrics.targets.evaluate`) with the vision's thresholds."""
    out = []
    for row in table.iter_rows(named=True):
        kpi = vision.kpi(row["kpi"])
        out.append(
            Reading(
                kpi=row["kpi"],
                name=row["name"],
                status=row["status"],
                value=row["value"],
                previous=row["previous"],
                target=row["target"],
                direction=row["direction"],
                unit=row["unit"],
                period=row["period"],
                as_of=row["as_of"],
                alert_below=kpi.alert_below,
                alert_above=kpi.alert_above,
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class StatusChange:
    """A KPI whose status differs from the last run's."""

    reading: Reading
    before: str
    key: str

    @property
    def after(self) -> str:
        return self.reading.status


@dataclass(frozen=True)
class Mover:
    """A KPI's change from the period before."""

    reading: Reading
    change: float
    relative: float | None  # None where the previous value is 0

    @property
    def better(self) -> bool:
        """Whether the move is in the KPI's good direction."""
        return (self.change > 0) == (self.reading.direction == "up")


@dataclass(frozen=True)
class Alert:
    """A KPI that crossed one of its alert thresholds since the last run."""

    reading: Reading
    side: Literal["below", "above"]
    threshold: float
    before: Band | None  # the band at the last run; None: no last run or no value then
    key: str


@dataclass(frozen=True)
class ProductDigest:
    """What one product's digest says, in the order it says it."""

    source: str
    product: str
    as_of: dt.date
    since: dt.date | None  # the last run's date; None on the first run
    changes: tuple[StatusChange, ...]
    movers: tuple[Mover, ...]
    alerts: tuple[Alert, ...]
    annotations: tuple[Annotation, ...]
    readings: tuple[Reading, ...]

    @property
    def first_run(self) -> bool:
        return self.since is None


def event_key(source: str, kpi: str, what: str, as_of: dt.date) -> str:
    """The identity of a status change or an alert: one message, ever, per key."""
    return f"{source}/{kpi}/{what}/{as_of.isoformat()}"


def compare(
    source: str,
    product: str,
    current: Sequence[Reading],
    previous: Mapping[str, Any] | None,
    *,
    as_of: dt.date,
    annotations: Iterable[Annotation] = (),
    max_movers: int = MAX_MOVERS,
) -> ProductDigest:
    """The digest of one product: ``current`` readings against ``previous``, the state's record
    of the last run for this product (``{"as_of": "YYYY-MM-DD", "kpis": {id: {"status", "value",
    "band"}}}``, or None for a first run).

    Annotations listed are those dated after the last run's date up to ``as_of`` (the first run:
    the :data:`FIRST_RUN_DAYS` days before ``as_of``).
    """
    since = _date(previous.get("as_of")) if previous else None
    seen: Mapping[str, Any] = (previous or {}).get("kpis") or {}
    changes: list[StatusChange] = []
    alerts: list[Alert] = []
    for reading in current:
        before = seen.get(reading.kpi)
        if previous is not None and before is not None and before.get("status") != reading.status:
            what = f"status:{before.get('status')}->{reading.status}"
            changes.append(
                StatusChange(
                    reading, str(before.get("status")), event_key(source, reading.kpi, what, as_of)
                )
            )
        now = reading.band
        was: Band | None = before.get("band") if before else None
        if now in ("below", "above") and was != now:
            threshold = reading.alert_below if now == "below" else reading.alert_above
            assert threshold is not None  # a band beyond a threshold needs that threshold
            alerts.append(
                Alert(
                    reading,
                    now,
                    threshold,
                    was,
                    event_key(source, reading.kpi, f"alert:{now}", as_of),
                )
            )
    opened = since + dt.timedelta(days=1) if since else as_of - dt.timedelta(days=FIRST_RUN_DAYS)
    return ProductDigest(
        source=source,
        product=product,
        as_of=as_of,
        since=since,
        changes=tuple(changes),
        movers=biggest_movers(current, limit=max_movers),
        alerts=tuple(alerts),
        annotations=tuple(n for n in annotations if opened <= n.date <= as_of),
        readings=tuple(current),
    )


def biggest_movers(current: Iterable[Reading], *, limit: int = MAX_MOVERS) -> tuple[Mover, ...]:
    """The KPIs that moved most from the period before, largest relative change first (a move
    from 0 ranks by its absolute size, after every relative one); unmoved KPIs are left out."""
    movers = []
    for reading in current:
        if reading.value is None or reading.previous is None or reading.status == "no_data":
            continue
        change = reading.value - reading.previous
        if change == 0:
            continue
        relative = change / abs(reading.previous) if reading.previous else None
        movers.append(Mover(reading, change, relative))
    movers.sort(
        key=lambda m: (m.relative is None, -abs(m.relative if m.relative is not None else m.change))
    )
    return tuple(movers[:limit])


# --- the state file ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    """A message that could not be delivered yet: retried first by the next run."""

    key: str
    source: str
    payload: Mapping[str, Any]
    attempts: int
    error: str


@dataclass(frozen=True)
class State:
    """What the last run saw and sent: per product its date and each KPI's status, value and
    band; the keys of delivered messages; the messages still owed."""

    products: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    sent: tuple[str, ...] = ()
    pending: tuple[Pending, ...] = ()


class StateError(ValueError):
    """The state file cannot be read: the run stops rather than forget what was sent."""


def parse_state(text: str, *, source: str = "state file") -> State:
    """A state from its JSON text (empty text: a first run). Raises :class:`StateError`."""
    if not text.strip():
        return State()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StateError(f"{source}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        raise StateError(f"{source}: not a Northstar digest state (version {STATE_VERSION})")
    products = data.get("products", {})
    sent = data.get("sent", [])
    pending = data.get("pending", [])
    if (
        not isinstance(products, dict)
        or not isinstance(sent, list)
        or not isinstance(pending, list)
    ):
        raise StateError(f"{source}: products, sent and pending must be an object and two lists")
    try:
        owed = tuple(
            Pending(
                str(p["key"]),
                str(p["source"]),
                dict(p["payload"]),
                int(p["attempts"]),
                str(p["error"]),
            )
            for p in pending
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StateError(f"{source}: a pending message is incomplete ({exc})") from None
    return State(products=products, sent=tuple(str(k) for k in sent), pending=owed)


def state_json(state: State) -> str:
    """The state as the JSON text the file keeps (stable order, one key per line)."""
    data = {
        "version": STATE_VERSION,
        "products": state.products,
        "sent": list(state.sent[-MAX_SENT:]),
        "pending": [
            {
                "key": p.key,
                "source": p.source,
                "payload": p.payload,
                "attempts": p.attempts,
                "error": p.error,
            }
            for p in state.pending
        ],
    }
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def snapshot(digest: ProductDigest) -> dict[str, Any]:
    """What the state keeps of this run for the product: its date and each KPI's status, value
    and band."""
    return {
        "as_of": digest.as_of.isoformat(),
        "kpis": {
            r.kpi: {"status": r.status, "value": r.value, "band": r.band} for r in digest.readings
        },
    }


def owed(
    state: State, new: Iterable[tuple[str, str, Mapping[str, Any]]]
) -> list[tuple[str, str, Mapping[str, Any], int]]:
    """The messages to post now: the pending ones first (in their order), then the new ones
    (``(key, source, payload)``) neither delivered nor pending yet; each with its attempts."""
    queue = [(p.key, p.source, p.payload, p.attempts) for p in state.pending]
    known = set(state.sent) | {p.key for p in state.pending}
    for key, source, payload in new:
        if key not in known:
            queue.append((key, source, payload, 0))
            known.add(key)
    return queue


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None

"""The load report: what a load read, kept, dropped and changed, so nothing is lost silently."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

#: Reasons a row can be dropped, in the order the Data page lists them. A row that several apply
#: to is counted once, under the first. ``filtered_out`` rows are those the source's own ``where``
#: condition does not hold for: dropped on purpose, but still counted.
DROP_REASONS: tuple[str, ...] = (
    "filtered_out",
    "no_user",
    "no_event",
    "unparseable_time",
    "duplicate_event_id",
)

#: Reasons a value of a kept row was changed (the row stays): an amount that is no number or no
#: finite number became empty; an id written as a whole number with a decimal point ("13085.0",
#: from a float column) became the whole number ("13085").
CHANGE_REASONS: tuple[str, ...] = (
    "revenue_not_a_number",
    "revenue_not_finite",
    "id_decimal_point",
)


@dataclass(frozen=True)
class LoadReport:
    """One load of one source.

    ``dropped`` maps a reason from :data:`DROP_REASONS` to a row count; ``changed`` maps a reason
    from :data:`CHANGE_REASONS` to the number of kept rows with a value changed for it; ``notes``
    lists every change made to the data on the way in (a zone applied, epochs in ms detected, ids
    merged), in plain words.

    ``first_event``/``last_event`` are the first and last kept times. Times outside the plausible
    window (``plausible_window``: from 1990 to a day after the load, unless the source says
    otherwise) are kept but counted in ``implausible_times``; ``first_plausible``/
    ``last_plausible`` bound the kept times inside the window, the range a page should open on.
    """

    source: str
    format: str
    rows_read: int
    rows_kept: int
    dropped: dict[str, int] = field(default_factory=dict)
    first_event: dt.datetime | None = None
    last_event: dt.datetime | None = None
    users: int = 0
    events_by_name: dict[str, int] = field(default_factory=dict)
    identities_merged: int = 0
    columns: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    changed: dict[str, int] = field(default_factory=dict)
    implausible_times: int = 0
    first_plausible: dt.datetime | None = None
    last_plausible: dt.datetime | None = None
    plausible_window: tuple[dt.datetime, dt.datetime] | None = None

    @property
    def rows_dropped(self) -> int:
        return sum(self.dropped.values())

    @property
    def rows_changed(self) -> int:
        return sum(self.changed.values())

    @property
    def time_range(self) -> tuple[dt.datetime, dt.datetime] | None:
        """The kept events' range a page should open on: the plausible one, else all of it.

        One stray row dated 9999-12-31 or 1970-01-01 must not stretch a page's default range."""
        if self.first_plausible is not None and self.last_plausible is not None:
            return self.first_plausible, self.last_plausible
        if self.first_event is not None and self.last_event is not None:
            return self.first_event, self.last_event  # every kept time is implausible
        return None

"""The load report: what a load read, kept, dropped and changed, so nothing is lost silently."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

#: Reasons a row can be dropped, in the order the Data page lists them.
DROP_REASONS: tuple[str, ...] = (
    "no_user",
    "no_event",
    "unparseable_time",
    "duplicate_event_id",
)


@dataclass(frozen=True)
class LoadReport:
    """One load of one source.

    ``dropped`` maps a reason from :data:`DROP_REASONS` to a row count; ``notes`` lists every change
    made to the data on the way in (a zone applied, epochs in ms detected, ids merged),
    in plain words.
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

    @property
    def rows_dropped(self) -> int:
        return sum(self.dropped.values())

"""Each user's active days, counted once per source and shared by the pages that count them.

The Engagement page's active users, stickiness and lifecycle and the Retention page's calendar
cohorts (one event starting and returning) all read distinct (user, local day) pairs; a changed
date range, interval or cohort type only asks other days of them. :func:`table` keeps one
:class:`metrics.engagement.Activity` per source, zone, filters, event and breakdown, as a
resource: held as it is, never copied per read (20 MB at 10M events).
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from metrics import engagement
from metrics.engagement.query import normalise_event
from metrics.scope import Scope
from ui import data


@st.cache_resource(max_entries=4, show_spinner="Finding each user's active days…")
def _table(
    source: str, scope: Scope, event: str | tuple[str, ...] | None, breakdown: str | None
) -> engagement.Activity | None:
    return engagement.activity_of(data.events(), scope, event, breakdown)


def table(
    source: str,
    scope: Scope,
    event: str | tuple[str, ...] | None,
    breakdown: str | None = None,
) -> engagement.Activity | None:
    """The activity table of the current source (``source``: its key) in ``scope``'s zone and
    filters (its days are not read), for ``event`` and by ``breakdown``
    (:func:`metrics.engagement.activity_of`). ``None`` when the events are not a frame in memory
    (a relation's engine counts where they are) or two users' codes clash: then ask the events."""
    if not isinstance(data.events(), pl.DataFrame):
        return None
    return _table(source, scope.undated(), normalise_event(event), breakdown)

"""Identity resolution: the events of an anonymous id that was later identified belong to that user.

Sources that track people before they log in carry two ids: an anonymous one (a cookie or device id:
Segment ``anonymousId``, Amplitude ``device_id``, PostHog ``$anon_distinct_id``, Snowplow
``domain_userid``) and, once known, a user id. Every event that carries both ids links them. From
those links we build one mapping anonymous id -> user id and apply it to every event, so the
person who browsed anonymously on Monday and signed up on Wednesday is one user (as in PostHog
and Amplitude).

Rules (documented in docs/data.md):

- the person of an event is its user id, or its anonymous id when it has no user id;
- a person that is an anonymous id linked to a user becomes that user;
- an anonymous id linked to several users (a shared device) goes to the user of its earliest link
  (the first row among links at the same time), and the load report counts such ids;
- links are followed one step (anonymous -> user), not transitively.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

_MAPPED = "__identity_user"
#: Boolean helper column on the resolved frame: this event's person was an identified anonymous id.
CHANGED = "__identity_changed"
_USERS = "__identity_users"


@dataclass(frozen=True)
class IdentityPlan:
    """Lazy pieces of one identity resolution: the resolved frame and the counts for the report."""

    frame: pl.LazyFrame
    links: pl.LazyFrame  # one row per anonymous id that was identified: its user and how many users


def resolve(
    frame: pl.LazyFrame,
    *,
    user: str = "user_id",
    anonymous: str = "anonymous_id",
    timestamp: str = "timestamp",
) -> IdentityPlan:
    """Attribute the events of identified anonymous ids to their user (see the module docstring).

    ``frame`` holds String columns ``user`` (null when not known yet) and ``anonymous``; the result
    has ``user`` filled with the resolved person and a helper column :data:`CHANGED`. The anonymous
    id column is kept as it was.
    """
    person = pl.coalesce(pl.col(user), pl.col(anonymous))
    links = (
        frame.filter(
            pl.col(user).is_not_null()
            & pl.col(anonymous).is_not_null()
            & (pl.col(user) != pl.col(anonymous))
        )
        .group_by(anonymous)
        .agg(
            pl.col(user)
            .sort_by(timestamp, nulls_last=True, maintain_order=True)
            .first()
            .alias(_MAPPED),
            pl.col(user).n_unique().alias(_USERS),
        )
    )
    resolved = (
        frame.with_columns(person.alias(user))
        .join(
            links.select(anonymous, _MAPPED),
            left_on=user,
            right_on=anonymous,
            how="left",
            maintain_order="left",
            coalesce=True,
        )
        .with_columns(
            pl.coalesce(_MAPPED, user).alias(user),
            pl.col(_MAPPED).is_not_null().alias(CHANGED),
        )
        .drop(_MAPPED)
    )
    return IdentityPlan(frame=resolved, links=links)


def link_counts(links: pl.LazyFrame) -> pl.LazyFrame:
    """One row: ``merged`` anonymous ids identified, ``ambiguous`` ones linked to several users."""
    return links.select(
        pl.len().alias("merged"),
        (pl.col(_USERS) > 1).sum().alias("ambiguous"),
    )

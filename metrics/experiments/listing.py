"""What the assignments hold: the experiments there are, and who entered each variant when.

Both functions read the assignments only (no events), so property filters do not apply; each
has a planner in ``metrics.warehouse.experiments`` for assignments kept in an engine.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from metrics._common import as_lazy, check_tz
from metrics.experiments.aggregation import clean_assignments, require_experiment
from metrics.warehouse import experiments as sql_experiments
from metrics.warehouse import pushdown


def _listing_plan(assignments: Any) -> Any:
    return sql_experiments.listing_plan(assignments, listing_answer)


@pushdown(_listing_plan)
def list_experiments(assignments: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Every experiment in the assignments: its variants, users and first/last exposure."""
    return (
        as_lazy(assignments)
        .group_by("experiment")
        .agg(
            pl.col("variant").unique().sort().alias("variants"),
            pl.col("user_id").n_unique().alias("users"),
            pl.col("timestamp").min().alias("first_exposure"),
            pl.col("timestamp").max().alias("last_exposure"),
        )
        .sort("experiment")
        .collect()
    )


def listing_answer(per_experiment: pl.DataFrame, arms: pl.DataFrame) -> pl.DataFrame:
    """:func:`list_experiments`' frame from the engine's rows: (experiment, users, first and last
    exposure in µs) and the distinct (experiment, variant) pairs."""
    variants = (
        arms.lazy()
        .select(pl.col("experiment").cast(pl.String), pl.col("variant").cast(pl.String))
        .group_by("experiment")
        .agg(pl.col("variant").unique().sort().alias("variants"))
    )
    exposure = {
        name: pl.col(f"{name.split('_')[0]}_us")
        .cast(pl.Int64)
        .cast(pl.Datetime("us"))
        .dt.replace_time_zone("UTC")
        .alias(name)
        for name in ("first_exposure", "last_exposure")
    }
    return (
        per_experiment.lazy()
        .select(
            pl.col("experiment").cast(pl.String),
            pl.col("users").cast(pl.UInt32),
            exposure["first_exposure"],
            exposure["last_exposure"],
        )
        .join(variants, on="experiment", how="left")
        .select("experiment", "variants", "users", "first_exposure", "last_exposure")
        .sort("experiment")
        .collect()
    )


def _counts_plan(assignments: Any, *, experiment: str, tz: str = "UTC") -> Any:
    check_tz(tz)
    return sql_experiments.counts_plan(assignments, experiment, tz, counts_answer)


@pushdown(_counts_plan)
def assignment_counts(
    assignments: pl.DataFrame | pl.LazyFrame, *, experiment: str, tz: str = "UTC"
) -> pl.DataFrame:
    """Users per variant (those seen in several variants apart, as variant "(several)"), with the
    days they were exposed over and the average number of new users per day."""
    check_tz(tz)
    users = clean_assignments(assignments, experiment, None).with_columns(
        pl.when(pl.col("variant_count") > 1)
        .then(pl.lit("(several)"))
        .otherwise(pl.col("variant"))
        .alias("variant"),
        pl.col("exposure").dt.convert_time_zone(tz).dt.date().alias("day"),
    )
    counts = (
        users.group_by("variant")
        .agg(
            pl.len().alias("users"),
            pl.col("day").min().alias("first_day"),
            pl.col("day").max().alias("last_day"),
        )
        .collect()
    )
    if counts.height == 0:
        require_experiment(assignments, experiment)
    return counts_answer(counts)


def counts_answer(counts: pl.DataFrame) -> pl.DataFrame:
    """:func:`assignment_counts`' frame from users, first and last day per variant (both paths)."""
    return (
        counts.lazy()
        .with_columns(
            ((pl.col("last_day") - pl.col("first_day")).dt.total_days() + 1).alias("days"),
        )
        .with_columns((pl.col("users") / pl.col("days")).alias("users_per_day"))
        .sort("variant")
        .collect()
    )

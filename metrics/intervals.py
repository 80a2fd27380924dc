"""Confidence intervals for rates, shared by retention and funnels."""

from __future__ import annotations

from statistics import NormalDist

import polars as pl


def wilson_exprs(
    successes: str, trials: str, *, confidence: float = 0.95, prefix: str = "rate"
) -> list[pl.Expr]:
    """Wilson score interval of ``successes / trials``: ``{prefix}_ci_low``, ``{prefix}_ci_high``.

    Wilson rather than the normal approximation: it stays inside [0, 1] and behaves at 0% and 100%,
    which small cohorts hit all the time. Null where ``trials`` is zero.
    """
    # The standard library's normal quantile: importing scipy here would cost ~64 MiB per process.
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    n = pl.col(trials).cast(pl.Float64)
    p = pl.col(successes).cast(pl.Float64) / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * (p * (1 - p) / n + z**2 / (4 * n**2)).sqrt()
    valid = pl.col(trials) > 0
    return [
        pl.when(valid).then((centre - half).clip(0.0, 1.0)).alias(f"{prefix}_ci_low"),
        pl.when(valid).then((centre + half).clip(0.0, 1.0)).alias(f"{prefix}_ci_high"),
    ]

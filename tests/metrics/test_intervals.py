import polars as pl
import pytest
from statsmodels.stats.proportion import proportion_confint

from metrics.intervals import wilson_exprs


@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (10, 10), (57, 1000), (1, 1)])
def test_wilson_matches_statsmodels(k, n):
    low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
    row = pl.DataFrame({"k": [k], "n": [n]}).select(wilson_exprs("k", "n")).row(0)
    assert row == pytest.approx((low, high), abs=1e-12)


def test_wilson_is_null_for_no_trials():
    row = pl.DataFrame({"k": [0], "n": [0]}).select(wilson_exprs("k", "n")).row(0)
    assert row == (None, None)

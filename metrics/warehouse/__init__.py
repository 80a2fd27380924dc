"""The warehouse back end: metric families compiled to SQL and run where the events live.

``Relation`` (built by ``connectors.warehouse``) stands for events in an engine; each family's
planner (``metrics/warehouse/<family>.py``) compiles the same query object the Polars path uses into
statements whose results are the answer's rows. See docs/warehouse.md and docs/architecture.md.
"""

from metrics.warehouse.dialect import DIALECTS, Dialect
from metrics.warehouse.relation import (
    Engine,
    Plan,
    Relation,
    Sql,
    Statement,
    pushdown,
    run,
    statements,
)

__all__ = [
    "DIALECTS",
    "Dialect",
    "Engine",
    "Plan",
    "Relation",
    "Sql",
    "Statement",
    "pushdown",
    "run",
    "statements",
]

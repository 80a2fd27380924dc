"""A product whose data and files hold hostile text, for the escaping tests (issue 13, item 3).

The demo product, thinned to a fifth of its users, with Markdown images, live HTML links and
script tags in an event name, property values, the experiment's name and a variant, the KPI names,
descriptions and owners of its vision file, and the source's own name and description. Shown as
Markdown or HTML, any of them would fetch ``evil.example`` or open a link to it.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from connectors.demo import load_demo

ROOT = Path(__file__).resolve().parents[2]

EVENT = "![ev](http://evil.example/event.png)<a href=http://evil.example/ev>ev</a>"
PLATFORM = "![pl](http://evil.example/platform.png)"
COUNTRY = "<a href=http://evil.example/country>country</a>"
EXPERIMENT = "<a href=http://evil.example/exp>exp</a> $x$"
VARIANT = "<script>window.__pwned = 1</script>![va](http://evil.example/variant.png)"
KPI_NAME = "![kpi](http://evil.example/kpi.png) <a href=http://evil.example/k>k</a>"
DESCRIPTION = "<script>window.__pwned = 2</script> [d](http://evil.example/d) :red[red]"
OWNER = "<img src=http://evil.example/owner.png>"
SOURCE = "![src](http://evil.example/src.png)"
SOURCE_DESCRIPTION = "<a href=http://evil.example/desc>desc</a>"
#: Every hostile value, for checks that none is rendered.
ALL = (EVENT, PLATFORM, COUNTRY, EXPERIMENT, VARIANT, KPI_NAME, DESCRIPTION, OWNER, SOURCE)


def write_product(folder: Path) -> Path:
    """Write events.parquet, vision.toml and sources.toml into ``folder``; return sources.toml."""
    events, _, _ = load_demo()
    thinned = events.filter(pl.col("user_id").hash(seed=1) % 5 == 0)
    hostile = thinned.with_columns(
        pl.col("event").replace({"search": EVENT}),
        pl.col("platform").replace({"web": PLATFORM}),
        pl.col("country").replace({"DE": COUNTRY}),
        pl.col("experiment").replace({"checkout_redesign": EXPERIMENT}),
        pl.col("variant").replace({"treatment": VARIANT}),
    )
    hostile.write_parquet(folder / "events.parquet")
    vision = (ROOT / "vision.toml").read_text(encoding="utf-8")
    vision = vision.replace(
        'experiment = "checkout_redesign"', f"experiment = {json.dumps(EXPERIMENT)}"
    )
    vision = vision.replace('name = "Weekly buyers"', f"name = {json.dumps(KPI_NAME)}")
    vision = vision.replace('name = "Weekly active users"', f"name = {json.dumps(KPI_NAME + ' 2')}")
    vision = vision.replace('owner = "Sam Okafor (Payments)"', f"owner = {json.dumps(OWNER)}")
    vision = vision.replace(
        'description = "A month\'s revenue divided by the people active that month."',
        f"description = {json.dumps(DESCRIPTION)}",
    )
    (folder / "vision.toml").write_text(vision, encoding="utf-8")
    sources = folder / "sources.toml"
    sources.write_text(
        f"default = {json.dumps(SOURCE)}\n"
        f"[sources.{json.dumps(SOURCE)}]\n"
        'path = "events.parquet"\n'
        'vision = "vision.toml"\n'
        f"description = {json.dumps(SOURCE_DESCRIPTION)}\n",
        encoding="utf-8",
    )
    return sources

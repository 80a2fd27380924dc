"""Malformed and extreme files (issue 13, items 1 and 2): each loads with every dropped or changed
row counted by reason, or raises one ConnectorError naming the file (and row or column where
there is one). Never a bare library exception, never a silent change.

The corpus is the table :data:`CASES`: a file (name and bytes, or a builder), the options it is
loaded with, and what must come of it. Every case that loads is also held to the invariants of
:func:`check_invariants`; a hypothesis test throws random CSV and NDJSON at the same door.
"""

from __future__ import annotations

import codecs
import datetime as dt
import gzip
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import connectors
from connectors import ConnectorError
from connectors.report import CHANGE_REASONS, DROP_REASONS

UTC = dt.UTC
HEADER = "user_id,event,timestamp,revenue\n"
GOOD = "u1,purchase,2026-03-02T10:00:00Z,20.5"


def csv(*rows: str, header: str = HEADER) -> bytes:
    return (header + "".join(row + "\n" for row in rows)).encode("utf-8")


def ndjson(*objects: Any) -> bytes:
    return "".join((o if isinstance(o, str) else json.dumps(o)) + "\n" for o in objects).encode(
        "utf-8"
    )


def event(**fields: Any) -> dict[str, Any]:
    return {"user_id": "u1", "event": "view", "timestamp": "2026-03-02T10:00:00Z", **fields}


def parquet(frame: pl.DataFrame) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        frame.write_parquet(path)

    return write


@dataclass(frozen=True)
class Case:
    """One file and what loading it must give: an error matching ``error``, or a load with these
    counts (``None``: not checked; every load is checked by :func:`check_invariants` too)."""

    id: str
    name: str
    content: bytes | Callable[[Path], None]
    options: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    kept: int | None = None
    dropped: dict[str, int] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)
    implausible: int | None = None
    note: str | None = None  # a regex one note must match
    values: dict[str, list[Any]] = field(default_factory=dict)  # column -> values, row order


def loads(id: str, name: str, content: Any, kept: int, **expect: Any) -> Case:
    return Case(id, name, content, kept=kept, **expect)


def fails(id: str, name: str, content: Any, error: str, **options: Any) -> Case:
    return Case(id, name, content, options=options, error=error)


BIG = 2**63 - 1
SMALLEST = -(2**63)

CASES: list[Case] = [
    # -- compression ---------------------------------------------------------------------------
    fails("gz not gzip", "events.csv.gz", csv(GOOD), r"is named \.gz but does not hold gzip"),
    fails("ndjson gz not gzip", "e.ndjson.gz", ndjson(event()), r"does not hold gzip"),
    fails("gz truncated", "events.csv.gz", gzip.compress(csv(*[GOOD] * 500))[:-40], r"damaged"),
    fails("gz corrupt body", "e.csv.gz", gzip.compress(csv(GOOD))[:12] + b"\x00" * 40, r"damaged"),
    fails("json gz truncated", "e.json.gz", gzip.compress(ndjson(event()) * 99)[:-9], r"damaged"),
    fails("gz of nothing", "events.csv.gz", gzip.compress(b""), r"the file is empty"),
    fails("gz zero bytes", "events.csv.gz", b"", r"the file is empty"),
    loads("gzip named csv", "events.csv", gzip.compress(csv(GOOD)), kept=1),
    loads("gz ndjson", "e.ndjson.gz", gzip.compress(ndjson(event(), event())), kept=2),
    fails("double gzip", "e.csv.gz", gzip.compress(gzip.compress(csv(GOOD))), r"e\.csv\.gz"),
    # -- encodings -----------------------------------------------------------------------------
    loads(
        "utf-16 le bom",
        "e.csv",
        csv("José,view,2026-03-02T10:00Z,1").decode().encode("utf-16"),
        kept=1,
        note="decoded from utf-16",
        values={"user_id": ["José"]},
    ),
    loads(
        "utf-16 be bom",
        "e.csv",
        codecs.BOM_UTF16_BE + csv(GOOD).decode().encode("utf-16-be"),
        kept=1,
        note="decoded from utf-16",
    ),
    loads("utf-32 bom", "e.csv", csv(GOOD).decode().encode("utf-32"), kept=1, note="utf-32"),
    loads("utf-8 bom csv", "e.csv", codecs.BOM_UTF8 + csv(GOOD), kept=1),
    loads("utf-8 bom ndjson", "e.ndjson", codecs.BOM_UTF8 + ndjson(event()), kept=1),
    loads("utf-16 ndjson", "e.ndjson", ndjson(event()).decode().encode("utf-16"), kept=1),
    loads(
        "utf-16 tsv",
        "e.tsv",
        b"user_id\tevent\ttimestamp\nu\tv\t2026-03-02\n".decode().encode("utf-16"),
        kept=1,
    ),
    fails(
        "latin-1 unnamed",
        "e.csv",
        csv("Jos\xe9,view,2026-03-02T10:00Z,1").decode().encode("latin-1"),
        r"e\.csv: is not UTF-8 text \(byte 0xe9 on line 2\).*encoding",
    ),
    Case(
        "latin-1 named",
        "e.csv",
        csv("Jos\xe9,view,2026-03-02T10:00Z,1").decode().encode("latin-1"),
        {"encoding": "latin-1"},
        kept=1,
        values={"user_id": ["José"]},
        note="decoded from iso8859-1",
    ),
    Case(
        "cp1252 named",
        "e.csv",
        csv("u\u20ac,view,2026-03-02T10:00Z,1").decode().encode("cp1252"),
        {"encoding": "cp1252"},
        kept=1,
        values={"user_id": ["u€"]},
    ),
    Case(
        "shift-jis named",
        "e.csv",
        csv("ユーザー,view,2026-03-02T10:00Z,1").decode().encode("shift_jis"),
        {"encoding": "shift_jis"},
        kept=1,
        values={"user_id": ["ユーザー"]},
    ),
    Case(
        "wrong encoding named",
        "e.csv",
        csv(GOOD).decode().encode("utf-16"),
        {"encoding": "ascii"},
        error=r"e\.csv: is not ascii text",
    ),
    fails(
        "unknown encoding", "e.csv", csv(GOOD), r"e\.csv: encoding 'klingon'", encoding="klingon"
    ),
    fails("utf-16 without bom", "e.csv", csv(GOOD).decode().encode("utf-16-le"), r"NUL byte"),
    Case(
        "utf-16 without bom named",
        "e.csv",
        csv(GOOD).decode().encode("utf-16-le"),
        {"encoding": "utf-16-le"},
        kept=1,
    ),
    fails(
        "latin-1 ndjson",
        "e.ndjson",
        '{"user_id": "Jos\xe9", "event": "v", "timestamp": 1}\n'.encode("latin-1"),
        r"e\.ndjson: .*not UTF-8",
    ),
    fails("random binary", "e.csv", bytes(range(256)) * 8, r"e\.csv"),
    fails("zip named csv", "e.csv", b"PK\x03\x04" + b"\x00" * 60, r"e\.csv: .*NUL byte"),
    fails("png named ndjson", "e.ndjson", b"\x89PNG\r\n\x1a\n" + b"\x00" * 30, r"e\.ndjson"),
    # -- CSV structure -------------------------------------------------------------------------
    fails(
        "short row",
        "e.csv",
        csv(GOOD, "u2,view"),
        r"e\.csv: row 2 has 2 fields, the header has 4",
    ),
    fails("one field row", "e.csv", csv("u2", GOOD), r"row 1 has 1 field, the header has 4"),
    fails("long row", "e.csv", csv(GOOD + ",extra"), r"row 1 has 5 fields, the header has 4"),
    fails("unclosed quote", "e.csv", csv(GOOD, 'u2,"view,2026-03-02,1'), r"e\.csv: row 2"),
    fails(
        "junk after quote", "e.csv", csv('u2,"view"x,2026-03-02,1'), r"e\.csv: row 1 is malformed"
    ),
    fails("nul byte", "e.csv", csv("u1,vi\x00ew,2026-03-02,1"), r"e\.csv: line 2 holds a NUL byte"),
    fails("header only no newline", "e.csv", b"user_id,event,timestamp", r"x^|"),  # see below
    loads("header only", "e.csv", csv(), kept=0, note="The source has no rows"),
    fails("whitespace only", "e.csv", b"   \n\n  \n", r"e\.csv"),
    fails("single newline", "e.csv", b"\n", r"e\.csv"),
    loads(
        "blank line inside",
        "e.csv",
        csv(GOOD, "", GOOD),
        kept=2,
        dropped={"no_user": 1},
    ),
    loads(
        "crlf",
        "e.csv",
        csv(GOOD).replace(b"\n", b"\r\n"),
        kept=1,
        values={"event": ["purchase"]},
    ),
    loads(
        "lone cr",
        "e.csv",
        csv(GOOD, "u2,view,2026-03-03,").replace(b"\n", b"\r"),
        kept=2,
        note="lone CR",
        values={"user_id": ["u1", "u2"]},
    ),
    loads(
        "duplicate header",
        "e.csv",
        b"user_id,event,timestamp,country,country\nu1,view,2026-03-02,DE,FR\n",
        kept=1,
        note="names 'country' more than once",
        values={"country": ["DE"], "country_2": ["FR"]},
    ),
    loads(
        "duplicate user column",
        "e.csv",
        b"user_id,event,timestamp,user_id\nu1,view,2026-03-02,u9\n",
        kept=1,
        note="names 'user_id' more than once",
        values={"user_id": ["u1"]},
    ),
    loads(
        "blank header name",
        "e.csv",
        b"user_id,,event,timestamp\nu1,x,view,2026-03-02\n",
        kept=1,
        note="column 2 has no name",
        values={"column_2": ["x"]},
    ),
    fails(
        "reserved header name",
        "e.csv",
        b"user_id,event,timestamp,__row\nu,v,2026-03-02,1\n",
        r"e\.csv: column '__row' \(column 4\) starts with '__'",
    ),
    fails(
        "reserved reason name",
        "e.csv",
        b"user_id,event,timestamp,__reason\nu,v,2026-03-02,1\n",
        r"column '__reason'",
    ),
    loads(
        "quoted newline field",
        "e.csv",
        csv('u1,"multi\nline",2026-03-02,1'),
        kept=1,
        values={"event": ["multi\nline"]},
    ),
    loads(
        "quoted header", "e.csv", b'"user_id","event","timestamp"\n"u1","v","2026-03-02"\n', kept=1
    ),
    loads("spaced header", "e.csv", b" user_id , event , timestamp \nu1,v,2026-03-02\n", kept=1),
    loads(
        "many columns",
        "e.csv",
        (
            "user_id,event,timestamp,"
            + ",".join(f"p{i}" for i in range(3000))
            + "\nu1,v,2026-03-02,"
            + ",".join("x" * 3000)
            + "\n"
        ).encode(),
        kept=1,
    ),
    loads(
        "megabyte field",
        "e.csv",
        csv("u1,view,2026-03-02," + "9" * 10, header=HEADER).replace(b"view", b"v" * 1_000_000),
        kept=1,
    ),
    fails(
        "tabs in a csv",
        "e.csv",
        b"user_id\tevent\ttimestamp\nu\tv\t2026-03-02\n",
        r"e\.csv: required column .* not found. Columns: 'user_id\\tevent.*separator",
    ),
    fails(
        "separator too long", "e.csv", csv(GOOD), r"separator must be one character", separator=";;"
    ),
    loads(
        "semicolons named",
        "e.csv",
        b"user_id;event;timestamp\nu;v;2026-03-02\n",
        kept=1,
        options={"separator": ";"},
    ),
    fails(
        "semicolon short row",
        "e.csv",
        b"user_id;event;timestamp\nu;v\n",
        r"row 1 has 2",
        separator=";",
    ),
    # -- NDJSON --------------------------------------------------------------------------------
    fails(
        "ndjson not json",
        "e.ndjson",
        ndjson(event(), '{"user_id": '),
        r"e\.ndjson: line 2 is not JSON",
    ),
    fails("ndjson array line", "e.ndjson", ndjson(event(), [1, 2]), r"line 2 is not a JSON object"),
    fails("ndjson scalar line", "e.ndjson", ndjson(event(), 7), r"line 2 is not a JSON object"),
    fails(
        "ndjson trailing comma", "e.ndjson", ndjson('{"user_id": "u", "event": "v",}'), r"line 1"
    ),
    fails(
        "ndjson 1e400",
        "e.ndjson",
        ndjson('{"user_id":"u","event":"v","timestamp":1,"revenue":1e400}'),
        r"e\.ndjson: line 1: the number 1e400 is too large",
    ),
    fails(
        "ndjson NaN literal",
        "e.ndjson",
        ndjson('{"user_id":"u","event":"v","revenue":NaN}'),
        r"e\.ndjson: line 1: NaN is not JSON",
    ),
    fails(
        "ndjson Infinity",
        "e.ndjson",
        ndjson('{"user_id":"u","event":"v","revenue":Infinity}'),
        r"line 1: Infinity is not JSON",
    ),
    loads(
        "ndjson empty objects", "e.ndjson", ndjson(event(), {}, {}), kept=1, dropped={"no_user": 2}
    ),
    loads(
        "ndjson huge int id",
        "e.ndjson",
        ndjson(event(user_id=10**22)),
        kept=1,
        values={"user_id": ["10000000000000000000000"]},
    ),
    loads(
        "ndjson mixed id types",
        "e.ndjson",
        ndjson(event(user_id=7), event(user_id="ann")),
        kept=2,
        values={"user_id": ["7", "ann"]},
    ),
    loads(
        "ndjson float ids",
        "e.ndjson",
        ndjson(event(user_id=7.0), event(user_id=7.5)),
        kept=2,
        values={"user_id": ["7", "7.5"]},
        changed={"id_decimal_point": 1},
    ),
    loads(
        "ndjson boolean revenue",
        "e.ndjson",
        ndjson(event(revenue=True), event(revenue=False)),
        kept=2,
        values={"revenue": [None, None]},
        changed={"revenue_not_a_number": 2},
    ),
    loads(
        "ndjson mixed revenue",
        "e.ndjson",
        ndjson(event(revenue=2.5), event(revenue="x")),
        kept=2,
        values={"revenue": [2.5, None]},
        changed={"revenue_not_a_number": 1},
    ),
    loads(
        "ndjson deep nesting",
        "e.ndjson",
        ndjson(event(a={"b": {"c": {"d": {"e": 1}}}})),
        kept=1,
        values={"a_b_c_d_e": [1]},
    ),
    loads("ndjson blank lines", "e.ndjson", ndjson(event()) + b"\n\n" + ndjson(event()), kept=2),
    loads("json array", "e.json", json.dumps([event(), event()]).encode(), kept=2),
    fails("json array of scalars", "e.json", b"[1, 2, 3]", r"e\.json"),
    fails("json empty array", "e.json", b"[]", r"e\.json"),
    fails(
        "pretty json object", "e.json", json.dumps(event(), indent=2).encode(), r"e\.json: line 1"
    ),
    fails("ndjson reserved key", "e.ndjson", ndjson(event(__row=1)), r"column '__row' starts"),
    # -- Parquet -------------------------------------------------------------------------------
    fails("parquet corrupt", "e.parquet", b"PAR1 not really", r"e\.parquet.*cannot be read"),
    fails("parquet truncated", "e.parquet", None, r"e\.parquet.*cannot be read"),  # built below
    loads(
        "parquet no rows",
        "e.parquet",
        parquet(
            pl.DataFrame(
                schema={
                    "user_id": pl.String,
                    "event": pl.String,
                    "timestamp": pl.Datetime("us", "UTC"),
                }
            )
        ),
        kept=0,
    ),
    loads(
        "parquet NaT epoch",
        "e.parquet",
        parquet(
            pl.DataFrame(
                {"user_id": ["u", "v"], "event": ["e", "e"], "timestamp": [SMALLEST, 1_700_000_000]}
            )
        ),
        kept=1,
        dropped={"unparseable_time": 1},
    ),
    loads(
        "parquet uint64 epoch",
        "e.parquet",
        parquet(
            pl.DataFrame(
                {"user_id": ["u"], "event": ["e"], "timestamp": [2**64 - 1]},
                schema_overrides={"timestamp": pl.UInt64},
            )
        ),
        kept=0,
        dropped={"unparseable_time": 1},
    ),
    loads(
        "parquet far datetime",
        "e.parquet",
        parquet(
            pl.DataFrame(
                {
                    "user_id": ["u", "v"],
                    "event": ["e", "e"],
                    "timestamp": [dt.datetime(9999, 12, 31), dt.datetime(2026, 3, 2)],
                }
            )
        ),
        kept=2,
        implausible=1,
    ),
    loads(
        "parquet float ids",
        "e.parquet",
        parquet(
            pl.DataFrame(
                {
                    "user_id": [13085.0, float("nan"), 7.25],
                    "event": ["e"] * 3,
                    "timestamp": [dt.datetime(2026, 3, 2)] * 3,
                }
            )
        ),
        kept=2,
        dropped={"no_user": 1},
        values={"user_id": ["13085", "7.25"]},
        changed={"id_decimal_point": 1},
    ),
    loads(
        "parquet nan inf revenue",
        "e.parquet",
        parquet(
            pl.DataFrame(
                {
                    "user_id": ["u"] * 4,
                    "event": ["buy"] * 4,
                    "timestamp": [dt.datetime(2026, 3, 2)] * 4,
                    "revenue": [float("nan"), float("inf"), -float("inf"), 9.5],
                }
            )
        ),
        kept=4,
        values={"revenue": [None, None, None, 9.5]},
        changed={"revenue_not_finite": 3},
    ),
    loads(
        "parquet boolean revenue",
        "e.parquet",
        parquet(
            pl.DataFrame(
                {
                    "user_id": ["u"],
                    "event": ["buy"],
                    "timestamp": [dt.datetime(2026, 3, 2)],
                    "revenue": [True],
                }
            )
        ),
        kept=1,
        values={"revenue": [None]},
        changed={"revenue_not_a_number": 1},
    ),
    loads(
        "parquet date revenue",
        "e.parquet",
        parquet(
            pl.DataFrame(
                {
                    "user_id": ["u"],
                    "event": ["buy"],
                    "timestamp": [dt.datetime(2026, 3, 2)],
                    "revenue": [dt.date(2026, 1, 1)],
                }
            )
        ),
        kept=1,
        values={"revenue": [None]},
        changed={"revenue_not_a_number": 1},
    ),
    loads(
        "parquet decimal revenue",
        "e.parquet",
        parquet(
            pl.DataFrame(
                {
                    "user_id": ["u"],
                    "event": ["buy"],
                    "timestamp": [dt.datetime(2026, 3, 2)],
                    "revenue": pl.Series([12.5]).cast(pl.Decimal(10, 2)),
                }
            )
        ),
        kept=1,
        values={"revenue": [12.5]},
    ),
    fails(
        "parquet binary user",
        "e.parquet",
        parquet(
            pl.DataFrame(
                {"user_id": [b"\x00\x01"], "event": ["e"], "timestamp": [dt.datetime(2026, 3, 2)]}
            )
        ),
        r"e\.parquet: column 'user_id' \(user_id\) holds Binary",
    ),
    fails(
        "parquet duration time",
        "e.parquet",
        parquet(
            pl.DataFrame({"user_id": ["u"], "event": ["e"], "timestamp": [dt.timedelta(days=1)]})
        ),
        r"e\.parquet: column 'timestamp' \(timestamp\) holds Duration",
    ),
    fails(
        "parquet reserved column",
        "e.parquet",
        parquet(
            pl.DataFrame({"user_id": ["u"], "event": ["e"], "timestamp": [1], "__file": ["x"]})
        ),
        r"e\.parquet: column '__file' starts",
    ),
    # -- revenue values ------------------------------------------------------------------------
    loads(
        "revenue texts",
        "e.csv",
        csv(
            *[
                f"u1,buy,2026-03-02,{v}"
                for v in (
                    "NaN",
                    "nan",
                    "inf",
                    "-inf",
                    "Infinity",
                    "1e400",
                    "-1e400",
                    "true",
                    "2026-01-01",
                    "n/a",
                    "1,5",
                    " 12.5 ",
                    "-3",
                    "1e300",
                    "0",
                )
            ]
        ).replace(b"1,5", b'"1,5"'),
        kept=15,
        changed={"revenue_not_finite": 7, "revenue_not_a_number": 4},
        values={"revenue": [None] * 11 + [12.5, -3.0, 1e300, 0.0]},
    ),
    loads(
        "revenue all empty",
        "e.csv",
        csv("u1,buy,2026-03-02,", "u2,buy,2026-03-02,"),
        kept=2,
        values={"revenue": [None, None]},
        changed={"revenue_not_a_number": 0},
    ),
    # -- ids -----------------------------------------------------------------------------------
    loads(
        "ids written as floats",
        "e.csv",
        csv(
            *[
                f"{v},buy,2026-03-02,1"
                for v in ("7.0", "7", "007", "7.5", "-3.00", "1e3", "12345678901234567.0", " 8.0")
            ]
        ),
        kept=8,
        values={"user_id": ["7", "7", "007", "7.5", "-3", "1e3", "12345678901234567.0", " 8.0"]},
        changed={"id_decimal_point": 2},
    ),
    loads(
        "float id column",
        "e.csv",
        b"customer_id,event,timestamp\n13085.0,v,2026-03-02\n,v,2026-03-02\n12.5,v,2026-03-02\n",
        kept=2,
        dropped={"no_user": 1},
        values={"user_id": ["13085", "12.5"]},
        changed={"id_decimal_point": 1},
    ),
    loads(
        "blank ids",
        "e.csv",
        csv("  ,buy,2026-03-02,1", "u,  ,2026-03-02,1"),
        kept=0,
        dropped={"no_user": 1, "no_event": 1},
    ),
    loads(
        "event ids float",
        "e.csv",
        b"user_id,event,timestamp,event_id\nu,v,2026-03-02,1.0\nu,v,2026-03-02,1\n",
        kept=1,
        dropped={"duplicate_event_id": 1},
    ),
    # -- times ---------------------------------------------------------------------------------
    loads(
        "smallest int64 epoch",
        "e.csv",
        csv(f"u1,v,{SMALLEST},", f"u2,v,{BIG},"),
        kept=1,
        dropped={"unparseable_time": 1},
        implausible=1,
    ),
    loads(
        "epoch zero",
        "e.csv",
        csv("u1,v,0,", GOOD),
        kept=2,
        implausible=1,
        note=r"1 time outside the plausible 1990-01-01 to .*from 1970-01-01 00:00",
    ),
    loads("year 9999", "e.csv", csv("u1,v,9999-12-31T23:59:59Z,", GOOD), kept=2, implausible=1),
    loads("year 1", "e.csv", csv("u1,v,0001-01-01T00:00:00Z,", GOOD), kept=2, implausible=1),
    loads("year 3000", "e.csv", csv("u1,v,3000-01-01,", GOOD), kept=2, implausible=1),
    loads(
        "before 1990",
        "e.csv",
        csv("u1,v,1989-12-31T23:59:59Z,", GOOD),
        kept=2,
        implausible=1,
    ),
    loads("1990 exactly", "e.csv", csv("u1,v,1990-01-01T00:00:00Z,"), kept=1, implausible=0),
    loads("negative epoch", "e.csv", csv("u1,v,-1,"), kept=1, implausible=1),
    loads(
        "impossible dates",
        "e.csv",
        csv(
            *[
                f"u1,v,{t},"
                for t in (
                    "2026-02-30",
                    "0000-00-00",
                    "2026-13-01",
                    "2026-01-01T25:00",
                    "10000-01-01",
                    "1e9",
                    "yesterday",
                    "2026-03-02T10:00:00+25:00",
                )
            ]
        ),
        kept=0,
        dropped={"unparseable_time": 8},
    ),
    loads(
        "dst gap",
        "e.csv",
        csv("u1,v,2026-03-29 02:30,", "u1,v,2026-03-29 03:30,"),
        kept=1,
        dropped={"unparseable_time": 1},
        options={"tz": "Europe/Berlin"},
    ),
    loads(
        "long time text",
        "e.csv",
        csv("u1,v," + "2026" * 5000 + ","),
        kept=0,
        dropped={"unparseable_time": 1},
    ),
    loads(
        "all times empty", "e.csv", csv("u1,v,,", "u2,v,,"), kept=0, dropped={"unparseable_time": 2}
    ),
    loads(
        "plausible start said",
        "e.csv",
        csv("u1,v,0,", GOOD),
        kept=2,
        implausible=0,
        options={"plausible_start": "1960-01-01"},
    ),
    loads(
        "plausible end said",
        "e.csv",
        csv("u1,v,2090-01-01,", GOOD),
        kept=2,
        implausible=0,
        options={"plausible_end": dt.date(2100, 1, 1)},
    ),
    # -- options -------------------------------------------------------------------------------
    loads("end at 9999", "e.csv", csv(GOOD), kept=1, options={"end": "9999-12-31"}),
    loads("end at 9999 date", "e.csv", csv(GOOD), kept=1, options={"end": dt.date(9999, 12, 31)}),
    loads(
        "start at year 1",
        "e.csv",
        csv(GOOD),
        kept=1,
        options={"start": dt.date(1, 1, 1), "tz": "Asia/Tokyo"},
    ),
    loads("end at year 1", "e.csv", csv(GOOD), kept=0, options={"end": dt.date(1, 1, 1)}),
    loads(
        "end at 9999 parquet",
        "e.parquet",
        parquet(
            pl.DataFrame({"user_id": ["u"], "event": ["e"], "timestamp": [dt.datetime(2026, 3, 2)]})
        ),
        kept=1,
        options={"end": dt.date(9999, 12, 31), "start": dt.date(1, 1, 1)},
    ),
    fails(
        "start year 0",
        "e.csv",
        csv(GOOD),
        r"e\.csv: start: '0000-01-01' is not an ISO date",
        start="0000-01-01",
    ),
    fails("start words", "e.csv", csv(GOOD), r"e\.csv: start: 'yesterday'", start="yesterday"),
    fails("start number", "e.csv", csv(GOOD), r"e\.csv: start: 5 is not a date", start=5),
    fails("plausible words", "e.csv", csv(GOOD), r"plausible_end: 'soon'", plausible_end="soon"),
    fails("bad zone", "e.csv", csv(GOOD), r"e\.csv: time zone 'Mars/Base'", tz="Mars/Base"),
    fails("bad time format", "e.csv", csv(GOOD), r"time_format", time_format="nope"),
    fails("bad format", "e.csv", csv(GOOD), r"unknown format 'xlsx'", format="xlsx"),
    fails("zone none", "e.csv", csv(GOOD), r"e\.csv: time zone None", tz=None),
    fails("separator number", "e.csv", csv(GOOD), r"separator must be one character", separator=5),
    fails("unknown option", "e.csv", csv(GOOD), r"e\.csv: unknown option 'nope'", nope=1),
    fails("csv read as ndjson", "e.csv", csv(GOOD), r"e\.csv: line 1 is not JSON", format="ndjson"),
    fails(
        "csv read as parquet",
        "e.csv",
        csv(GOOD),
        r"e\.csv: cannot be read as Parquet",
        format="parquet",
    ),
    fails(
        "bad compute",
        "e.csv",
        csv(GOOD),
        r"compute 'x' = \"read_csv\('/etc/passwd'\)\" cannot be read \(unsupported function",
        compute={"x": "read_csv('/etc/passwd')"},
    ),
    loads(
        "integers past int128",
        "e.csv",
        csv(
            "u1,v,2026-03-02," + "9" * 45,
            "u2,v,2026-03-02,1",
            header="user_id,event,timestamp,big\n",
        ),
        kept=2,
        note="too large for 64 bits",
        values={"big": ["9" * 45, "1"]},
    ),
    loads(
        "revenue past int128",
        "e.csv",
        csv("u1,v,2026-03-02," + "9" * 45, "u2,v,2026-03-02,1"),
        kept=2,
        values={"revenue": [1e45, 1.0]},
    ),
    loads(
        "epoch past int128",
        "e.csv",
        csv("u1,v," + "9" * 45 + ",", GOOD),
        kept=1,
        dropped={"unparseable_time": 1},
    ),
    loads(
        "division by zero",
        "e.csv",
        csv(GOOD),
        kept=1,
        changed={"revenue_not_finite": 1},
        options={"compute": {"revenue": "revenue / 0"}},
    ),
    loads(
        "start after end",
        "e.csv",
        csv(GOOD),
        kept=0,
        options={"start": "2026-03-05", "end": "2026-03-01"},
    ),
    fails(
        "ndjson int past int128",
        "e.ndjson",
        ndjson(event(big=10**45)),
        r"e\.ndjson: line 1: the number 1000000000000000000000000000000000000000 is too large",
    ),
    fails(
        "json array mixed",
        "e.json",
        b'[{"user_id": "u", "event": "e", "timestamp": 1}, 5]',
        r"e\.json: not a JSON array of events",
    ),
]


def _truncated_parquet(path: Path) -> None:
    frame = pl.DataFrame({"user_id": ["u"] * 100, "event": ["e"] * 100, "timestamp": [1] * 100})
    frame.write_parquet(path)
    path.write_bytes(path.read_bytes()[:-30])


CASES = [
    Case(c.id, c.name, _truncated_parquet, c.options, c.error) if c.id == "parquet truncated" else c
    for c in CASES
    # A header with no newline is a file with no rows: it loads (kept below as its own case).
    if c.id != "header only no newline"
]
CASES.append(loads("header only no newline", "e.csv", b"user_id,event,timestamp", kept=0))


def write_case(case: Case, folder: Path) -> Path:
    path = folder / case.name
    if callable(case.content):
        case.content(path)
    else:
        path.write_bytes(case.content)
    return path


def check_invariants(events: pl.DataFrame, report: connectors.LoadReport) -> None:
    """What every load must keep: every row accounted for, canonical types, no poisoned amounts."""
    assert report.rows_read == report.rows_kept + report.rows_dropped
    assert events.height == report.rows_kept
    assert set(report.dropped) == set(DROP_REASONS)
    assert set(report.changed) <= set(CHANGE_REASONS)
    assert events.schema["user_id"] == pl.String
    assert events.schema["event"] == pl.String
    assert events.schema["timestamp"] == pl.Datetime("us", "UTC")
    assert events.get_column("user_id").null_count() == 0
    assert events.get_column("event").null_count() == 0
    assert events.get_column("timestamp").null_count() == 0
    if "revenue" in events.columns:
        amounts = events.get_column("revenue").drop_nulls().to_list()
        assert all(math.isfinite(a) for a in amounts)
    if report.time_range is not None:
        first, last = report.time_range
        assert first <= last
        # The range a page opens on holds no implausible time while plausible ones exist.
        if report.first_plausible is not None:
            assert report.plausible_window is not None
            assert report.plausible_window[0] <= first <= last <= report.plausible_window[1]
    stamps = events.get_column("timestamp")
    if report.plausible_window is not None and events.height:
        lo, hi = report.plausible_window
        outside = stamps.filter((stamps < lo) | (stamps > hi)).len()
        assert outside == report.implausible_times


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_and_extreme_files(case: Case, tmp_path: Path) -> None:
    path = write_case(case, tmp_path)
    if case.error is not None:
        with pytest.raises(ConnectorError) as caught:
            events, report = connectors.load_events(str(path), **case.options)
            events.collect()
        message = str(caught.value)
        assert path.name in message, message  # the error names the file
        assert re.search(case.error, message), message
        return
    lazy, report = connectors.load_events(str(path), **case.options)
    events = lazy.collect()
    check_invariants(events, report)
    if case.kept is not None:
        assert report.rows_kept == case.kept, report
    for reason, count in case.dropped.items():
        assert report.dropped[reason] == count, report
    for reason, count in case.changed.items():
        assert report.changed.get(reason, 0) == count, report
    if case.implausible is not None:
        assert report.implausible_times == case.implausible, report
    if case.note is not None:
        assert any(re.search(case.note, n) for n in report.notes), report.notes
    for column, values in case.values.items():
        assert events.get_column(column).to_list() == values


def test_the_corpus_has_at_least_a_hundred_files() -> None:
    assert len(CASES) >= 100


# -- paths --------------------------------------------------------------------------------------


def test_a_glob_through_a_link_to_its_own_folder_reads_each_file_once(tmp_path):
    (tmp_path / "lake").mkdir()
    (tmp_path / "lake" / "e.csv").write_bytes(csv(GOOD))
    os.symlink(tmp_path / "lake", tmp_path / "lake" / "loop")  # lake/loop/loop/... is lake
    events, report = connectors.load_events(str(tmp_path / "lake" / "**" / "*.csv"))
    assert events.collect().height == 1
    assert report.rows_read == 1
    events, report = connectors.load_events(str(tmp_path / "lake"))
    assert events.collect().height == 1


def test_two_links_to_one_file_read_it_once(tmp_path):
    (tmp_path / "e.csv").write_bytes(csv(GOOD))
    os.symlink(tmp_path / "e.csv", tmp_path / "f.csv")
    events, report = connectors.load_events(str(tmp_path / "*.csv"))
    assert report.rows_read == 1


def test_a_glob_that_matches_a_folder_named_like_a_file_skips_it(tmp_path):
    (tmp_path / "x.csv").mkdir()
    (tmp_path / "e.csv").write_bytes(csv(GOOD))
    events, report = connectors.load_events(str(tmp_path / "*.csv"))
    assert report.rows_read == 1


def test_implausible_times_stay_out_of_the_range_pages_open_on(tmp_path):
    # One stray row dated 9999-12-31 and one at the epoch: the range is the real events'.
    path = tmp_path / "e.csv"
    path.write_bytes(
        csv(
            "u1,v,9999-12-31T23:59:59Z,",
            "u2,v,0,",
            "u3,v,2026-03-02T10:00:00Z,",
            "u4,v,2026-03-05T18:00:00Z,",
        )
    )
    _, report = connectors.load_events(str(path))
    assert report.implausible_times == 2
    assert report.first_event == dt.datetime(1970, 1, 1, tzinfo=UTC)
    assert report.last_event == dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert report.time_range == (
        dt.datetime(2026, 3, 2, 10, tzinfo=UTC),
        dt.datetime(2026, 3, 5, 18, tzinfo=UTC),
    )


def test_the_plausible_window_ends_with_the_day_after_the_load(tmp_path, monkeypatch):
    path = tmp_path / "e.csv"
    path.write_bytes(csv("u1,v,2026-03-03T23:59:59Z,", "u1,v,2026-03-04T00:00:01Z,"))

    class Clock(dt.datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return dt.datetime(2026, 3, 2, 12, tzinfo=UTC)

    monkeypatch.setattr("connectors.normalise.dt.datetime", Clock)
    _, report = connectors.load_events(str(path))
    assert report.plausible_window == (
        dt.datetime(1990, 1, 1, tzinfo=UTC),
        dt.datetime(2026, 3, 4, tzinfo=UTC),
    )
    assert report.implausible_times == 1  # a second after the end of tomorrow


# -- hypothesis: random text through the same door ----------------------------------------------

_CSV_ALPHABET = st.sampled_from(
    list('u1,"\n\r .-:TZé') + ["\x00", "2026-03-02", "1e400", "nan", "7.0", ",,", '""', "\ufeff"]
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.lists(_CSV_ALPHABET, max_size=60).map("".join), gz=st.booleans())
def test_random_csv_loads_or_names_the_file(tmp_path, body, gz):
    name = "random.csv.gz" if gz else "random.csv"
    data = (HEADER + body).encode("utf-8")
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if gz else data)
    try:
        lazy, report = connectors.load_events(str(path))
        events = lazy.collect()
    except ConnectorError as exc:
        assert name in str(exc)
        return
    check_invariants(events, report)


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["2026-03-02T10:00:00Z", "9999-12-31", "0", "7.0", "1e400"]),
)
_OBJECTS = st.dictionaries(
    st.sampled_from(["user_id", "event", "timestamp", "revenue", "country"]), _VALUES, max_size=5
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(st.one_of(_OBJECTS, _VALUES), min_size=1, max_size=8))
def test_random_ndjson_loads_or_names_the_file(tmp_path, rows):
    path = tmp_path / "random.ndjson"
    # json.dumps writes NaN and Infinity, which are not JSON: they must be named, not read.
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    try:
        lazy, report = connectors.load_events(str(path))
        events = lazy.collect()
    except ConnectorError as exc:
        assert "random.ndjson" in str(exc)
        return
    check_invariants(events, report)


def test_sources_toml_passes_encoding_and_the_plausible_window(tmp_path):
    from connectors.config import load_source

    (tmp_path / "old.csv").write_bytes(
        "user_id,event,timestamp\nJos\xe9,visit,1985-06-01T10:00:00Z\n".encode("cp1252")
    )
    (tmp_path / "sources.toml").write_text(
        '[sources.museum]\npath = "old.csv"\nencoding = "cp1252"\nplausible_start = 1980-01-01\n',
        encoding="utf-8",
    )
    loaded = load_source("museum", tmp_path / "sources.toml")
    assert loaded.events.get_column("user_id").to_list() == ["José"]
    assert loaded.report.implausible_times == 0
    assert loaded.report.time_range == (dt.datetime(1985, 6, 1, 10, tzinfo=UTC),) * 2

"""The contract: one story (tests/connectors/story.py) written in every file format and export we
read yields the same canonical frame. Each writer produces a realistic sample of its format, the
way the product would write it (field names, nesting, time encoding, identity fields)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import connectors
from tests.connectors.story import COMPARED, STORY, assert_story

ROWS: list[dict[str, Any]] = STORY.to_dicts()


def _epoch(when: dt.datetime, unit: str) -> int:
    seconds = int(when.timestamp())
    return seconds * {"s": 1, "ms": 1_000, "us": 1_000_000}[unit]


def _ndjson(path: Path, records: list[dict[str, Any]]) -> Path:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    return path


def _drop_none(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if v is not None}


# -- plain files -------------------------------------------------------------------------------


def csv_iso_z(tmp: Path) -> tuple[Path, dict]:
    path = tmp / "events.csv"
    STORY.with_columns(pl.col("timestamp").dt.strftime("%Y-%m-%dT%H:%M:%SZ")).write_csv(path)
    return path, {}


def tsv_gz_epoch_ms(tmp: Path) -> tuple[Path, dict]:
    path = tmp / "events.tsv.gz"
    text = STORY.with_columns(pl.col("timestamp").dt.epoch("ms")).write_csv(separator="\t")
    with gzip.open(path, "wt") as handle:
        handle.write(text)
    return path, {}


def parquet_file(tmp: Path) -> tuple[Path, dict]:
    path = tmp / "events.parquet"
    STORY.write_parquet(path)
    return path, {}


def parquet_hive_folder(tmp: Path) -> tuple[Path, dict]:
    folder = tmp / "lake"
    days = STORY.with_columns(day=pl.col("timestamp").dt.date())
    for (day,), part in days.partition_by("day", as_dict=True).items():
        target = folder / f"day={day}"
        target.mkdir(parents=True)
        part.drop("day").write_parquet(target / "part-0.parquet")
    return folder, {}


def ndjson_offsets(tmp: Path) -> tuple[Path, dict]:
    # Paris is UTC+1 in early March: 08:00 UTC is written 09:00+01:00.
    paris = STORY.with_columns(
        pl.col("timestamp").dt.convert_time_zone("Europe/Paris").dt.strftime("%Y-%m-%dT%H:%M:%S%:z")
    )
    return _ndjson(tmp / "events.ndjson", [_drop_none(r) for r in paris.to_dicts()]), {}


def jsonl_naive_new_york(tmp: Path) -> tuple[Path, dict]:
    # No zone in the file: the source is configured as New York (EST, UTC-5, before 8 March).
    local = STORY.with_columns(
        pl.col("timestamp")
        .dt.convert_time_zone("America/New_York")
        .dt.strftime("%Y-%m-%d %H:%M:%S")
    )
    return _ndjson(tmp / "events.jsonl", local.to_dicts()), {"tz": "America/New_York"}


def csv_mapped(tmp: Path) -> tuple[Path, dict]:
    # Unusual column names and epoch seconds: an explicit mapping says which is which.
    path = tmp / "custom.csv"
    STORY.with_columns(pl.col("timestamp").dt.epoch("s")).rename(
        {"user_id": "customer", "anonymous_id": "cookie", "event": "what", "timestamp": "at"}
    ).write_csv(path)
    mapping = {"user_id": "customer", "anonymous_id": "cookie", "event": "what", "timestamp": "at"}
    return path, {"mapping": mapping}


# -- exports -----------------------------------------------------------------------------------


def segment_track_json(tmp: Path) -> tuple[Path, dict]:
    records = []
    for r in ROWS:
        records.append(
            {
                "type": "track",
                "event": r["event"],
                "userId": r["user_id"],
                "anonymousId": r["anonymous_id"],
                "messageId": r["event_id"],
                "timestamp": r["timestamp"]
                .isoformat(timespec="milliseconds")
                .replace("+00:00", "Z"),
                "receivedAt": "2026-03-06T00:00:00.000Z",
                "properties": _drop_none({"plan": r["plan"], "revenue": r["revenue"]}),
                "context": {"library": {"name": "analytics.js", "version": "4.1.0"}},
            }
        )
        if r["event"] == "signup":
            # Segment's identify call after sign-up: no event, it links the ids.
            records.append(
                {
                    "type": "identify",
                    "userId": r["user_id"],
                    "anonymousId": r["anonymous_id"],
                    "messageId": f"id-{r['event_id']}",
                    "timestamp": r["timestamp"].isoformat().replace("+00:00", "Z"),
                    "traits": {"plan": r["plan"]},
                }
            )
    return _ndjson(tmp / "segment.json", records), {}


def segment_warehouse_tracks(tmp: Path) -> tuple[Path, dict]:
    path = tmp / "tracks.parquet"
    STORY.rename({"event_id": "id"}).with_columns(
        event_text=pl.col("event").str.replace("_", " ").str.to_titlecase(),
        received_at=pl.col("timestamp") + pl.duration(seconds=2),
        sent_at=pl.col("timestamp") + pl.duration(seconds=1),
        original_timestamp=pl.col("timestamp"),
        context_library_name=pl.lit("analytics.js"),
    ).write_parquet(path)
    return path, {}


def amplitude_export(tmp: Path) -> tuple[Path, dict]:
    records = []
    for n, r in enumerate(ROWS):
        records.append(
            {
                "$insert_id": r["event_id"],
                "amplitude_id": 9000 + n,
                "uuid": f"00000000-0000-4000-8000-00000000000{n}",
                "event_type": r["event"],
                "user_id": r["user_id"],
                "device_id": r["anonymous_id"],
                # Amplitude writes UTC without a zone.
                "event_time": r["timestamp"].strftime("%Y-%m-%d %H:%M:%S.%f"),
                "server_upload_time": "2026-03-06 00:00:00.000000",
                "session_id": _epoch(r["timestamp"], "ms"),
                "event_properties": _drop_none({"$revenue": r["revenue"]}),
                "user_properties": _drop_none({"plan": r["plan"]}),
                "platform": "Web",
                "country": "Germany",
            }
        )
    return _ndjson(tmp / "amplitude_export.json.gz", records), {}


def amplitude_http_api(tmp: Path) -> tuple[Path, dict]:
    records = [
        _drop_none(
            {
                "user_id": r["user_id"],
                "device_id": r["anonymous_id"],
                "event_type": r["event"],
                "time": _epoch(r["timestamp"], "ms"),
                "insert_id": r["event_id"],
                "revenue": r["revenue"],
                "event_properties": {"plan": r["plan"]},
            }
        )
        for r in ROWS
    ]
    return _ndjson(tmp / "amplitude_api.jsonl", records), {}


def mixpanel_export(tmp: Path) -> tuple[Path, dict]:
    records = []
    for r in ROWS:
        anon = r["anonymous_id"]
        properties = {
            "time": _epoch(r["timestamp"], "s"),
            "distinct_id": r["user_id"] or f"$device:{anon}",
            "$device_id": anon,
            "$user_id": r["user_id"],
            "$insert_id": r["event_id"],
            "mp_lib": "web",
            "plan": r["plan"],
            "revenue": r["revenue"],
        }
        records.append({"event": r["event"], "properties": _drop_none(properties)})
    return _ndjson(tmp / "mixpanel.jsonl", records), {}


def ga4_bigquery_json(tmp: Path) -> tuple[Path, dict]:
    def param(key: str, value: Any) -> dict[str, Any]:
        slot = "string_value" if isinstance(value, str) else "int_value"
        values = {
            "string_value": None,
            "int_value": None,
            "float_value": None,
            "double_value": None,
        }
        # BigQuery's JSON export writes INT64 values as strings.
        values[slot] = value if slot == "string_value" else str(value)
        return {"key": key, "value": values}

    records = []
    for r in ROWS:
        params = [param("ga_session_id", _epoch(r["timestamp"], "s"))]
        if r["plan"] is not None:
            params.append(param("plan", r["plan"]))
        records.append(
            {
                "event_date": r["timestamp"].strftime("%Y%m%d"),
                "event_timestamp": str(_epoch(r["timestamp"], "us")),
                "event_name": r["event"],
                "event_params": params,
                "user_id": r["user_id"],
                "user_pseudo_id": r["anonymous_id"],
                "device": {"category": "desktop", "operating_system": "Linux"},
                "geo": {"country": "Germany", "city": "Berlin"},
                "ecommerce": {"purchase_revenue": r["revenue"], "transaction_id": "T1"}
                if r["revenue"]
                else None,
                "platform": "WEB",
            }
        )
    return _ndjson(tmp / "ga4_events_20260302.json", records), {}


def posthog_csv(tmp: Path) -> tuple[Path, dict]:
    rows = []
    for r in ROWS:
        properties = _drop_none(
            {
                "$session_id": f"s-{r['anonymous_id']}",
                "$browser": "Firefox",
                "plan": r["plan"],
                "revenue": r["revenue"],
            }
        )
        distinct_id = r["user_id"] or r["anonymous_id"]
        if r["event"] == "signup" and r["user_id"] == "alice":
            properties["$anon_distinct_id"] = r["anonymous_id"]  # $identify merges anon-a
        rows.append(
            {
                "uuid": r["event_id"],
                "event": r["event"],
                "properties": json.dumps(properties),
                # ClickHouse writes UTC without a zone.
                "timestamp": r["timestamp"].strftime("%Y-%m-%d %H:%M:%S.%f"),
                "distinct_id": distinct_id,
                "elements_chain": "",
                "person_id": f"p-{distinct_id}",
            }
        )
    path = tmp / "posthog_events.csv"
    pl.DataFrame(rows).write_csv(path)
    return path, {}


def snowplow_parquet(tmp: Path) -> tuple[Path, dict]:
    rows = []
    for r in ROWS:
        custom = r["event"] != "page_view"
        rows.append(
            {
                "app_id": "shop",
                "platform": "web",
                "collector_tstamp": r["timestamp"].replace(tzinfo=None) + dt.timedelta(seconds=1),
                "derived_tstamp": r["timestamp"].replace(tzinfo=None),  # TIMESTAMP_NTZ in UTC
                "event": "unstruct" if custom else "page_view",
                "event_id": r["event_id"],
                "user_id": r["user_id"],
                "domain_userid": r["anonymous_id"],
                "domain_sessionid": f"s-{r['anonymous_id']}",
                "event_name": r["event"],
                "se_action": None,
                "unstruct_event_com_acme_purchase_1": {"total": r["revenue"]}
                if r["revenue"]
                else None,
            }
        )
    path = tmp / "snowplow_events.parquet"
    pl.DataFrame(rows).write_parquet(path)
    # Revenue sits in a custom event's record: an explicit mapping names it.
    return path, {"mapping": {"revenue": "unstruct_event_com_acme_purchase_1_total"}}


WRITERS: dict[str, tuple[Callable[[Path], tuple[Path, dict]], str, tuple[str, ...]]] = {
    "csv": (csv_iso_z, "csv", COMPARED),
    "tsv.gz epoch ms": (tsv_gz_epoch_ms, "tsv", COMPARED),
    "parquet": (parquet_file, "parquet", COMPARED),
    "parquet folder": (parquet_hive_folder, "parquet", COMPARED),
    "ndjson offsets": (ndjson_offsets, "ndjson", COMPARED),
    "jsonl no zone": (jsonl_naive_new_york, "ndjson", COMPARED),
    "csv with mapping": (csv_mapped, "csv", COMPARED),
    "segment": (segment_track_json, "segment (ndjson)", COMPARED),
    "segment tracks": (segment_warehouse_tracks, "segment_tracks (parquet)", COMPARED),
    "amplitude export": (amplitude_export, "amplitude (ndjson)", COMPARED),
    "amplitude api": (amplitude_http_api, "amplitude (ndjson)", COMPARED),
    "mixpanel": (mixpanel_export, "mixpanel (ndjson)", COMPARED),
    "ga4": (ga4_bigquery_json, "ga4 (ndjson)", tuple(c for c in COMPARED if c != "event_id")),
    "posthog": (posthog_csv, "posthog (csv)", COMPARED),
    "snowplow": (snowplow_parquet, "snowplow (parquet)", tuple(c for c in COMPARED if c != "plan")),
}


@pytest.mark.parametrize("name", list(WRITERS))
def test_every_format_yields_the_story(name, tmp_path):
    write, fmt, columns = WRITERS[name]
    path, options = write(tmp_path)
    events, report = connectors.load_events(str(path), **options)
    assert_story(events, columns)
    assert report.format == fmt
    assert report.rows_kept == 5
    assert report.users == 3  # alice, bob and the never-identified anon-c
    assert report.identities_merged >= 1  # at least anon-a -> alice
    assert report.events_by_name == {"page_view": 2, "signup": 2, "purchase": 1}
    assert report.first_event == STORY.item(0, "timestamp")
    assert report.last_event == STORY.item(-1, "timestamp")
    assert report.rows_read == report.rows_kept + report.rows_dropped
    assert report.columns["timestamp"] == str(pl.Datetime("us", "UTC"))


def test_segment_identify_calls_link_ids_and_are_counted():
    # Two identify calls (alice, bob) carry no event: counted, with a note saying why.
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path, _ = segment_track_json(Path(tmp))
        _, report = connectors.load_events(str(path))
    assert report.rows_read == 7
    assert report.dropped["no_event"] == 2
    assert any("identify" in note for note in report.notes)


def test_formats_are_recognised_from_their_columns(tmp_path):
    from connectors import exports

    expected = {
        "segment": "segment",
        "segment tracks": "segment_tracks",
        "amplitude export": "amplitude",
        "amplitude api": "amplitude",
        "mixpanel": "mixpanel",
        "ga4": "ga4",
        "posthog": "posthog",
        "snowplow": "snowplow",
        "csv": None,
        "parquet": None,
    }
    for name, fmt in expected.items():
        folder = tmp_path / name.replace(" ", "_")
        folder.mkdir()
        path, _ = WRITERS[name][0](folder)
        scanned = connectors.files.scan(path)  # type: ignore[attr-defined]
        assert exports.detect(scanned.frame.collect_schema()) == fmt, name

"""connectors.exports: recognising exports from their columns and the corners of each format.

The happy path of every export is in test_contract.py (the shared story); here are the details a
real export throws at us."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

import connectors
from connectors import ConnectorError
from connectors.exports import detect

UTC = dt.UTC


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (["event_timestamp", "event_name", "user_pseudo_id", "event_params"], "ga4"),
        (["distinct_id", "event", "properties", "uuid", "timestamp"], "posthog"),
        (["event_type", "user_id", "device_id", "event_time"], "amplitude"),
        (["event_type", "user_id", "time"], "amplitude"),
        (["type", "event", "userId", "anonymousId", "timestamp"], "segment"),
        (["id", "event", "event_text", "anonymous_id", "user_id", "timestamp"], "segment_tracks"),
        (["event_id", "derived_tstamp", "domain_userid", "event_name"], "snowplow"),
        # Plain tables are not exports, even with a column called "time" or "properties".
        (["user_id", "event", "time"], None),
        (["user_id", "event", "timestamp", "properties"], None),
        (["event", "properties"], None),  # Mixpanel needs the record's fields (JSON types)
    ],
)
def test_detection_by_column_names(columns, expected):
    assert detect(columns) == expected


def test_mixpanel_is_recognised_by_its_record_fields():
    schema = pl.Schema(
        {"event": pl.String, "properties": pl.Struct({"time": pl.Int64, "distinct_id": pl.String})}
    )
    assert detect(schema) == "mixpanel"


def write_ndjson(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def ga4_param(key, *, string=None, integer=None, double=None):
    return {
        "key": key,
        "value": {
            "string_value": string,
            "int_value": integer,
            "float_value": None,
            "double_value": double,
        },
    }


def test_ga4_params_are_typed_by_the_values_they_hold(tmp_path):
    base = {
        "event_name": "purchase",
        "user_pseudo_id": "p1",
        "user_id": None,
        "event_timestamp": 1_772_438_400_000_000,
    }
    path = write_ndjson(
        tmp_path / "ga4.json",
        [
            # "value" is an integer once and a double once: a number column keeps both.
            {
                **base,
                "event_params": [ga4_param("value", integer=20), ga4_param("coupon", string="X")],
            },
            {
                **base,
                "event_params": [ga4_param("value", double=7.5), ga4_param("coupon", integer=5)],
            },
            {**base, "event_params": []},
        ],
    )
    events, report = connectors.load_events(path)
    frame = events.collect()
    assert frame.get_column("value").to_list() == [20.0, 7.5, None]
    # "coupon" holds text and a number: text wins, the number is written as text.
    assert frame.get_column("coupon").to_list() == ["X", "5", None]
    assert frame.schema["value"] == pl.Float64
    assert "'event_params' became columns: coupon, value." in report.notes
    # Nobody logged in: the pseudo id is the person.
    assert frame.get_column("user_id").to_list() == ["p1"] * 3


def test_ga4_param_named_like_a_column_gets_a_prefix(tmp_path):
    path = write_ndjson(
        tmp_path / "ga4.json",
        [
            {
                "event_name": "page_view",
                "user_pseudo_id": "p1",
                "event_timestamp": 1_772_438_400_000_000,
                "platform": "WEB",
                "event_params": [ga4_param("platform", string="android")],
            }
        ],
    )
    frame = connectors.load_events(path)[0].collect()
    assert frame.select("platform", "event_params_platform").row(0) == ("WEB", "android")


def test_posthog_properties_that_are_not_json_name_the_row(tmp_path):
    path = tmp_path / "posthog.csv"
    pl.DataFrame(
        {
            "uuid": ["u1", "u2"],
            "event": ["$pageview", "$pageview"],
            "properties": ['{"$browser": "Firefox"}', "{not json"],
            "timestamp": ["2026-03-02 08:00:00", "2026-03-02 09:00:00"],
            "distinct_id": ["d1", "d1"],
        }
    ).write_csv(path)
    with pytest.raises(
        ConnectorError, match=r"posthog\.csv: column 'properties' at row 2 is not JSON"
    ):
        connectors.load_events(str(path))


def test_posthog_keys_that_appear_late_are_kept_and_clashes_prefixed(tmp_path):
    rows = [
        {
            "uuid": f"u{i}",
            "event": "$pageview",
            # "event" inside properties clashes with the top-level column.
            "properties": json.dumps({"$browser": "Firefox", "event": "inner"}),
            "timestamp": "2026-03-02 08:00:00",
            "distinct_id": "d1",
        }
        for i in range(200)
    ]
    rows.append({**rows[0], "uuid": "late", "properties": json.dumps({"plan": "pro"})})
    path = tmp_path / "posthog.csv"
    pl.DataFrame(rows).write_csv(path)
    events, report = connectors.load_events(str(path))
    frame = events.collect()
    assert frame.filter(pl.col("event_id") == "late").item(0, "plan") == "pro"
    assert frame.item(0, "properties_event") == "inner"
    assert frame.item(0, "timestamp") == dt.datetime(2026, 3, 2, 8, tzinfo=UTC)  # UTC, no zone
    assert any("prefix 'properties_': event" in n for n in report.notes)


def test_segment_page_calls_become_page_views(tmp_path):
    path = write_ndjson(
        tmp_path / "segment.json",
        [
            {
                "type": "page",
                "name": "Pricing",
                "anonymousId": "a1",
                "userId": None,
                "messageId": "m1",
                "timestamp": "2026-03-02T08:00:00.000Z",
                "properties": {"path": "/pricing"},
            }
        ],
    )
    frame = connectors.load_events(path)[0].collect()
    assert frame.select("user_id", "event", "path").row(0) == ("a1", "page_view", "/pricing")


def test_snowplow_structured_events_are_named_by_their_action(tmp_path):
    path = tmp_path / "snowplow.csv"
    pl.DataFrame(
        {
            "event_id": ["x1", "x2"],
            "derived_tstamp": ["2026-03-02 08:00:00.000", "2026-03-02 08:01:00.000"],
            "collector_tstamp": ["2026-03-02 08:00:01.000", "2026-03-02 08:01:01.000"],
            "domain_userid": ["d1", "d1"],
            "user_id": [None, None],
            "event": ["struct", "page_view"],
            "event_name": ["event", "page_view"],
            "se_action": ["add_to_cart", None],
        }
    ).write_csv(path)
    events, report = connectors.load_events(str(path))
    frame = events.collect()
    assert frame.get_column("event").to_list() == ["add_to_cart", "page_view"]
    assert frame.get_column("timestamp").to_list() == [
        dt.datetime(2026, 3, 2, 8, tzinfo=UTC),
        dt.datetime(2026, 3, 2, 8, 1, tzinfo=UTC),
    ]
    assert report.format == "snowplow (csv)"


def test_a_user_mapping_wins_over_the_export(tmp_path):
    # An Amplitude export whose people are identified by a custom property instead of user_id.
    path = write_ndjson(
        tmp_path / "amplitude.json",
        [
            {
                "event_type": "signup",
                "user_id": "amp-1",
                "device_id": "dev-1",
                "event_time": "2026-03-02 08:00:00.000000",
                "user_properties": {"crm_id": "C-42"},
            }
        ],
    )
    frame = connectors.load_events(path, mapping={"user_id": "crm_id"})[0].collect()
    assert frame.item(0, "user_id") == "C-42"

"""connectors.normalise.to_canonical: columns, times, drops by reason, identity, the report."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from connectors import ConnectorError
from connectors.normalise import to_canonical, to_canonical_batches
from tests.conftest import make_events
from tests.reference import normalise as reference

UTC = dt.UTC


def load(frame: pl.DataFrame, **kwargs):
    events, report = to_canonical(frame.lazy(), source="story.csv", format="csv", **kwargs)
    return events.collect(), report


def canonical(*rows, **props_types):
    return make_events(*rows)


# -- the whole story ---------------------------------------------------------------------------


def test_story_every_reason_counted_once_and_the_rest_kept():
    raw = pl.DataFrame(
        {
            "user_id": ["alice", "alice", "", "bob", "bob", "carol", "carol", None],
            "event": ["signup", "purchase", "signup", "signup", None, "signup", "signup", None],
            "timestamp": [
                "2026-01-05T10:00:00Z",
                "2026-01-07 09:30:00+01:00",  # 08:30 UTC
                "2026-01-05T10:00:00Z",  # blank user: no_user
                "yesterday",  # unparseable_time (row 4)
                "2026-01-06T10:00:00Z",  # no event
                "2026-01-06T11:00:00Z",
                "2026-01-06T11:00:00Z",  # repeats e6: duplicate_event_id
                None,  # no user and no event: counted once, as no_user
            ],
            "event_id": ["e1", "e2", "e3", "e4", "e5", "e6", "e6", "e8"],
            "revenue": [None, "20.5", None, None, None, None, None, None],
            "country": ["DE", "DE", "US", "US", "US", "FR", "FR", None],
        }
    )
    events, report = load(raw)
    expected = make_events(
        ("alice", "signup", "2026-01-05 10:00", {"event_id": "e1", "revenue": None}),
        ("alice", "purchase", "2026-01-07 08:30", {"event_id": "e2", "revenue": 20.5}),
        ("carol", "signup", "2026-01-06 11:00", {"event_id": "e6", "revenue": None}),
    ).with_columns(pl.col("revenue").cast(pl.Float64), country=pl.Series(["DE", "DE", "FR"]))
    assert_frame_equal(events, expected)
    assert report.rows_read == 8
    assert report.rows_kept == 3
    assert report.dropped == {
        "filtered_out": 0,  # no where condition
        "no_user": 2,
        "no_event": 1,
        "unparseable_time": 1,
        "duplicate_event_id": 1,
    }
    assert report.rows_read == report.rows_kept + report.rows_dropped
    assert report.first_event == dt.datetime(2026, 1, 5, 10, tzinfo=UTC)
    assert report.last_event == dt.datetime(2026, 1, 7, 8, 30, tzinfo=UTC)
    assert report.users == 2
    assert report.events_by_name == {"signup": 2, "purchase": 1}
    assert report.columns["timestamp"] == str(pl.Datetime("us", "UTC"))
    notes = " ".join(report.notes)
    assert "first at row 4: 'yesterday'" in notes
    assert "2 rows had no user id" in notes and "first at row 3" in notes
    assert "1 row repeated an earlier event_id" in notes


def test_empty_frame_is_a_report_with_zero_rows():
    raw = pl.DataFrame(schema={"user_id": pl.String, "event": pl.String, "timestamp": pl.String})
    events, report = load(raw)
    assert events.height == 0
    assert events.schema["timestamp"] == pl.Datetime("us", "UTC")
    assert (report.rows_read, report.rows_kept, report.users) == (0, 0, 0)
    assert report.first_event is None
    assert "The source has no rows." in report.notes


# -- columns -----------------------------------------------------------------------------------


def test_columns_found_by_their_usual_names_with_a_note_each():
    raw = pl.DataFrame(
        {
            "distinct_id": ["u1"],
            "event_type": ["signup"],
            "Time": ["2026-01-05 10:00:00Z"],
            "$insert_id": ["x1"],
            "$session_id": ["s1"],
        }
    )
    events, report = load(raw)
    assert events.columns == ["user_id", "event", "timestamp", "event_id", "session_id"]
    assert "Column 'distinct_id' was read as user_id." in report.notes
    assert "Column '$insert_id' was read as event_id." in report.notes


def test_mapping_names_the_source_column_for_each_canonical_one_and_renames_properties():
    raw = pl.DataFrame(
        {
            "customer": [7, 8],
            "what": ["signup", "signup"],
            "at": ["2026-01-05 10:00:00Z", "2026-01-05 11:00:00Z"],
            "geo": ["DE", "FR"],
            "user_id": ["ignored-1", "ignored-2"],
        }
    )
    events, report = load(
        raw, mapping={"user_id": "customer", "event": "what", "timestamp": "at", "country": "geo"}
    )
    # Integer ids become text; the source's own user_id column is kept under another name.
    assert events.get_column("user_id").to_list() == ["7", "8"]
    assert events.columns == ["user_id", "event", "timestamp", "country", "user_id_source"]
    assert any("'user_id' kept as 'user_id_source'" in n for n in report.notes)


def test_mapping_to_a_missing_column_names_it_and_lists_the_columns():
    raw = pl.DataFrame({"uid": ["u"], "event": ["e"], "ts": ["2026-01-05 10:00Z"]})
    with pytest.raises(ConnectorError, match=r"story.csv.*'customer'.*'user_id'.*Columns: 'uid'"):
        load(raw, mapping={"user_id": "customer"})


def test_mapping_written_backwards_gets_a_hint():
    raw = pl.DataFrame({"customer": ["u"], "event": ["e"], "ts": ["2026-01-05 10:00Z"]})
    with pytest.raises(ConnectorError, match="mapping reads target -> source column"):
        load(raw, mapping={"customer": "user_id"})


@pytest.mark.parametrize(
    ("columns", "missing"),
    [
        (["who", "event", "ts"], "'user_id'"),
        (["user_id", "what", "ts"], "'event'"),
        (["user_id", "event", "when"], "'timestamp'"),
    ],
)
def test_missing_required_column_is_named(columns, missing):
    raw = pl.DataFrame({c: ["x"] for c in columns})
    with pytest.raises(ConnectorError, match=f"story.csv: required column {missing} not found"):
        load(raw)


def test_nested_columns_are_flattened_with_a_note():
    raw = pl.DataFrame(
        {
            "user_id": ["u"],
            "event": ["e"],
            "timestamp": ["2026-01-05 10:00Z"],
            "context": [{"page": {"path": "/home"}, "locale": "de"}],
            "tags": [["a", "b"]],
        }
    )
    events, report = load(raw)
    row = events.select("context_locale", "context_page_path", "tags").row(0)
    assert row == ("de", "/home", '["a","b"]')
    assert any("'context' holds records" in n for n in report.notes)
    assert any("kept as JSON text: tags" in n for n in report.notes)


def test_only_requested_properties_are_kept():
    raw = pl.DataFrame(
        {"user_id": ["u"], "event": ["e"], "timestamp": ["2026-01-05 10:00Z"], "a": [1], "b": [2]}
    )
    events, _ = load(raw, columns=["b"])
    assert events.columns == ["user_id", "event", "timestamp", "b"]
    with pytest.raises(ConnectorError, match="no column 'zzz'"):
        load(raw, columns=["zzz"])


# -- times -------------------------------------------------------------------------------------

NINE_UTC = dt.datetime(2026, 7, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "tz"),
    [
        ("2026-07-01T09:00:00Z", "UTC"),
        ("2026-07-01T09:00:00.000000Z", "Asia/Tokyo"),  # a zone in the text wins over tz
        ("2026-07-01 11:00:00+02:00", "UTC"),
        ("2026-07-01T04:00:00-0500", "UTC"),
        ("2026-07-01 09:00:00 UTC", "Europe/Berlin"),
        ("2026-07-01 11:00", "Europe/Berlin"),  # no zone: CEST wall clock, UTC+2 in July
        ("2026/07/01 05:00:00", "America/New_York"),  # EDT, UTC-4
        ("1782896400", "UTC"),  # epoch seconds as text
        ("1782896400000", "UTC"),  # epoch milliseconds as text
    ],
)
def test_time_strings_every_way_mean_the_same_instant(text, tz):
    raw = pl.DataFrame({"user_id": ["u"], "event": ["e"], "timestamp": [text]})
    events, report = load(raw, tz=tz)
    assert events.get_column("timestamp").to_list() == [NINE_UTC]
    assert report.rows_kept == 1


def test_time_with_no_zone_is_read_in_the_source_zone_and_noted():
    raw = pl.DataFrame(
        {
            "user_id": ["u", "u"],
            "event": ["e", "e"],
            "timestamp": ["2026-01-05 10:00", "2026-01-05"],
        }
    )
    events, report = load(raw, tz="America/New_York")
    assert events.get_column("timestamp").to_list() == [
        dt.datetime(2026, 1, 5, 15, tzinfo=UTC),  # EST is UTC-5
        dt.datetime(2026, 1, 5, 5, tzinfo=UTC),  # a bare date is local midnight
    ]
    assert "2 times with no zone read in America/New_York and converted to UTC." in report.notes


def test_time_skipped_by_daylight_saving_is_counted_not_guessed():
    # 02:30 on 2026-03-29 does not exist in Berlin (clocks jump 02:00 -> 03:00).
    raw = pl.DataFrame({"user_id": ["u"], "event": ["e"], "timestamp": ["2026-03-29 02:30:00"]})
    _, report = load(raw, tz="Europe/Berlin")
    assert report.dropped["unparseable_time"] == 1
    assert any("do not exist in Europe/Berlin" in n for n in report.notes)


@pytest.mark.parametrize(
    ("value", "unit"),
    [
        (1_782_896_400, "seconds"),
        (1_782_896_400_000, "milliseconds"),
        (1_782_896_400_000_000, "microseconds"),
        (1_782_896_400_000_000_000, "nanoseconds"),
    ],
)
def test_integer_epochs_are_read_by_magnitude_and_noted(value, unit):
    raw = pl.DataFrame({"user_id": ["u"], "event": ["e"], "timestamp": [value]})
    events, report = load(raw)
    assert events.get_column("timestamp").to_list() == [NINE_UTC]
    assert f"1 time read as epoch {unit} (from their size)." in report.notes


def test_float_epoch_seconds_keep_their_fraction():
    raw = pl.DataFrame({"user_id": ["u"], "event": ["e"], "timestamp": [1_782_896_400.25]})
    events, _ = load(raw)
    assert events.item(0, "timestamp") == NINE_UTC + dt.timedelta(milliseconds=250)


def test_datetime_columns_zoned_naive_and_dates():
    zoned = pl.Series([dt.datetime(2026, 7, 1, 11)]).dt.replace_time_zone("Europe/Berlin")
    naive = pl.Series([dt.datetime(2026, 7, 1, 11)], dtype=pl.Datetime("ns"))
    for column, tz, expected in [
        (zoned, "UTC", NINE_UTC),
        (naive, "Europe/Berlin", NINE_UTC),
        (pl.Series([dt.date(2026, 7, 1)]), "UTC", dt.datetime(2026, 7, 1, tzinfo=UTC)),
    ]:
        raw = pl.DataFrame({"user_id": ["u"], "event": ["e"]}).with_columns(timestamp=column)
        events, report = load(raw, tz=tz)
        assert events.get_column("timestamp").to_list() == [expected]
        assert events.schema["timestamp"] == pl.Datetime("us", "UTC")
    assert any("nanoseconds" in n for n in report.notes) is False  # the date case notes nothing


def test_unknown_zone_names_the_source():
    raw = pl.DataFrame({"user_id": ["u"], "event": ["e"], "timestamp": ["2026-07-01"]})
    with pytest.raises(ConnectorError, match="story.csv: time zone 'Mars/Olympus'"):
        load(raw, tz="Mars/Olympus")


def test_date_range_keeps_local_days_and_still_counts_unreadable_times():
    raw = pl.DataFrame(
        {
            "user_id": ["u"] * 4,
            "event": ["e"] * 4,
            # In Tokyo (UTC+9) these are Jul 1 08:59, Jul 1 09:00, Jul 2 23:59, Jul 3 00:00.
            "timestamp": [
                "2026-06-30T23:59:00Z",
                "2026-07-01T00:00:00Z",
                "2026-07-02T14:59:00Z",
                "2026-07-02T15:00:00Z",
            ],
        }
    ).vstack(pl.DataFrame({"user_id": ["u"], "event": ["e"], "timestamp": ["bad"]}))
    events, report = load(raw, tz="Asia/Tokyo", start="2026-07-01", end="2026-07-02")
    assert events.get_column("timestamp").dt.to_string("%d %H:%M").to_list() == [
        "30 23:59",
        "01 00:00",
        "02 14:59",
    ]
    assert report.rows_read == 4  # three in range plus the unreadable one
    assert report.dropped["unparseable_time"] == 1


# Property: whatever way an instant is written, it is read back as that instant.
ZONES = ["UTC", "Europe/Berlin", "America/Los_Angeles", "Asia/Kolkata", "Australia/Sydney"]


@st.composite
def written_instants(draw):
    instant = draw(
        st.datetimes(
            min_value=dt.datetime(2001, 1, 1),
            max_value=dt.datetime(2090, 12, 31),
            timezones=st.just(UTC),
        )
    )
    style = draw(st.sampled_from(["iso_z", "offset", "naive_local", "s", "ms", "us", "ns"]))
    zone = ZoneInfo(draw(st.sampled_from(ZONES)))
    epoch_us = (instant - dt.datetime(1970, 1, 1, tzinfo=UTC)) // dt.timedelta(microseconds=1)
    if style == "iso_z":
        return instant.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "UTC", instant
    if style == "offset":
        return instant.astimezone(zone).isoformat(), "UTC", instant
    if style == "naive_local":
        local = instant.astimezone(zone)
        # Read back with fold=0 (the earlier of two repeated wall-clock times).
        expected = local.replace(tzinfo=None).replace(tzinfo=zone, fold=0).astimezone(UTC)
        return local.replace(tzinfo=None).isoformat(sep=" "), zone.key, expected
    if style == "s":
        return epoch_us // 1_000_000, "UTC", instant.replace(microsecond=0)
    if style == "ms":
        return (
            epoch_us // 1000,
            "UTC",
            instant.replace(microsecond=instant.microsecond // 1000 * 1000),
        )
    if style == "us":
        return epoch_us, "UTC", instant
    return epoch_us * 1000 + draw(st.integers(0, 999)), "UTC", instant


@settings(max_examples=150, deadline=None)
@given(written_instants())
def test_any_written_instant_reads_back(case):
    value, tz, expected = case
    raw = pl.DataFrame({"user_id": ["u"], "event": ["e"], "timestamp": [value]})
    events, report = load(raw, tz=tz)
    assert report.dropped["unparseable_time"] == 0
    assert events.item(0, "timestamp") == expected


# -- identity ----------------------------------------------------------------------------------


def test_segment_style_anonymous_events_go_to_the_user_identified_later():
    raw = pl.DataFrame(
        {
            "anonymousId": ["anon-1", "anon-1", "anon-1", "anon-2", "anon-3"],
            "userId": [None, None, "alice", None, "bob"],
            "event": ["page_view", "add_to_cart", "signup", "page_view", "signup"],
            "timestamp": [f"2026-01-0{d} 10:00Z" for d in (5, 6, 7, 5, 6)],
        }
    )
    events, report = load(raw, mapping={"anonymous_id": "anonymousId"})
    # anon-1 browsed before signing up as alice: all three events are alice's. anon-2 was never
    # identified and stays its own person; anon-3 only ever appears already identified.
    assert events.get_column("user_id").to_list() == ["alice", "alice", "alice", "anon-2", "bob"]
    assert report.identities_merged == 2  # anon-1 -> alice, anon-3 -> bob
    assert report.users == 3
    assert (
        "2 anonymous ids linked to a known user; 2 anonymous events attributed to their user."
        in report.notes
    )


def test_posthog_style_distinct_id_switches_at_identify():
    raw = pl.DataFrame(
        {
            "distinct_id": ["d-1", "d-1", "alice", "alice", "d-9"],
            "$anon_distinct_id": [None, None, "d-1", None, None],
            "event": ["$pageview", "$pageview", "$identify", "purchase", "$pageview"],
            "timestamp": [f"2026-01-0{d} 10:00Z" for d in (1, 2, 3, 4, 5)],
        }
    )
    events, report = load(raw)
    assert events.get_column("user_id").to_list() == ["alice", "alice", "alice", "alice", "d-9"]
    assert report.identities_merged == 1


def test_an_anonymous_id_linked_to_two_users_goes_to_the_first():
    raw = pl.DataFrame(
        {
            "anonymous_id": ["dev", "dev", "dev"],
            "user_id": [None, "bob", "alice"],
            "event": ["view", "login", "login"],
            "timestamp": ["2026-01-01 10:00Z", "2026-01-03 10:00Z", "2026-01-02 10:00Z"],
        }
    )
    events, report = load(raw)
    # alice logged in on the shared device first (Jan 2), so the anonymous view is hers.
    assert events.get_column("user_id").to_list() == ["alice", "bob", "alice"]
    assert any("1 anonymous id linked to several users" in n for n in report.notes)


# Property: the loading rules agree with the plain-Python reference on any small mess of rows.
INSTANTS = ["2026-01-05T10:00:00Z", "2026-01-05T11:00:00+01:00", "2026-01-06T09:30:00Z"]
mess = st.fixed_dictionaries(
    {
        "user_id": st.sampled_from(["alice", "bob", "a1", None, "", " "]),
        "anonymous_id": st.sampled_from(["a1", "a2", None]),
        "event": st.sampled_from(["signup", "view", None, ""]),
        "timestamp": st.sampled_from([*INSTANTS, "garbage", "", None]),
        "event_id": st.sampled_from(["e1", "e2", "e3", None]),
    }
)


@settings(max_examples=150, deadline=None)
@given(st.lists(mess, max_size=12))
def test_loading_rules_match_the_reference(rows):
    kept, dropped, merged = reference.load(rows)
    raw = pl.DataFrame(
        rows,
        schema={
            "user_id": pl.String,
            "anonymous_id": pl.String,
            "event": pl.String,
            "timestamp": pl.String,
            "event_id": pl.String,
        },
    )
    events, report = load(raw)
    assert events.select("user_id", "event", "timestamp", "event_id").to_dicts() == kept
    assert report.dropped == dropped
    assert report.identities_merged == merged
    assert report.rows_read == len(rows)
    assert report.users == len({row["user_id"] for row in kept})


# -- text times: the fast common spellings agree with the general reader ----------------------

_SPELLINGS = (
    "{d}T{t}{f}+00:00",
    "{d}T{t}{f}{o}",
    "{d}T{t}{f}Z",
    "{d}T{t}{f}z",
    "{d} {t}{f}",
    "{d} {t}{f} UTC",
    "{d}T{t}{f} {o}",
    "{d}",
    "{d} {hm}",
    "{slash} {t}",
    "{epoch}",
    "not a time",
    "  {d} {t}{f}  ",
)


@st.composite
def text_times(draw: st.DrawFn) -> list[str | None]:
    def one() -> str | None:
        if draw(st.integers(0, 9)) == 0:
            return None
        moment = draw(
            st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2040, 1, 1))
        )
        digits = draw(st.sampled_from(["", ".5", ".123", ".123456"]))
        offset = draw(st.sampled_from(["+01:00", "-05:30", "+0200", "+14:00"]))
        return draw(st.sampled_from(_SPELLINGS)).format(
            d=moment.strftime("%Y-%m-%d"),
            t=moment.strftime("%H:%M:%S"),
            hm=moment.strftime("%H:%M"),
            slash=moment.strftime("%Y/%m/%d"),
            f=digits,
            o=offset,
            epoch=str(int(moment.replace(tzinfo=dt.UTC).timestamp() * 1000)),
        )

    # Mostly one spelling per column, as real exports are, with strays mixed in.
    size = draw(st.integers(0, 30))
    return [one() for _ in range(size)]


@settings(max_examples=150, deadline=None)
@given(texts=text_times(), tz=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]))
def test_fast_text_times_agree_with_the_general_reader(texts, tz):
    from connectors.normalise import general_text_time_exprs, with_text_times

    frame = pl.DataFrame({"when": texts}, schema={"when": pl.String})
    got = with_text_times(frame.lazy(), "when", tz, "value", "kind").drop("when").collect()
    value, kind = general_text_time_exprs(pl.col("when").str.strip_chars(), tz)
    want = frame.select(value=value, kind=kind)
    assert_frame_equal(got, want)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["u1", "u2", None]), st.sampled_from(["a", "b", "c", "", None])),
        min_size=1,
        max_size=40,
    )
)
def test_a_collected_load_drops_exactly_the_ids_a_lazy_load_drops(rows):
    # A collected load checks ids by hash first and compares text only where hashes repeat; the
    # lazy load compares text everywhere: the same rows must survive, in the same order.
    raw = pl.DataFrame(
        {
            "user_id": [user for user, _ in rows],
            "event": ["view"] * len(rows),
            "timestamp": [f"2026-01-05T10:00:{i % 60:02d}Z" for i in range(len(rows))],
            "event_id": [event_id for _, event_id in rows],
        },
        schema_overrides={"user_id": pl.String, "event_id": pl.String},
    )
    lazy, lazy_report = load(raw)
    collected, collected_report = load(raw, collect=True)
    assert_frame_equal(collected, lazy)
    assert collected_report.dropped == lazy_report.dropped


# -- read in batches ---------------------------------------------------------------------------

_ids = st.sampled_from(
    ["e1", "e2", "e3", "7", "7.0", "7.00", "-3.0", "", "  ", "\u00a0", "\u3000x", None]
)
_people = st.sampled_from(["u1", "u2", "41", "41.0", " u3", "", "\t", None])
_instants = st.integers(0, 6 * 24).map(
    lambda h: dt.datetime(2026, 3, 1, tzinfo=UTC) + dt.timedelta(hours=h)
)


@st.composite
def batched_sources(draw):
    """Random rows (blank, float-written and repeated ids, missing and unreadable times, anonymous
    ids) cut into random batches, some of them empty."""
    n = draw(st.integers(0, 40))
    text_times = draw(st.booleans())
    rows = {
        "user_id": draw(st.lists(_people, min_size=n, max_size=n)),
        "event": draw(
            st.lists(st.sampled_from(["view", "buy", " ", None]), min_size=n, max_size=n)
        ),
        "event_id": draw(st.lists(_ids, min_size=n, max_size=n)),
        "anonymous_id": draw(st.lists(st.sampled_from(["a1", "a2", None]), min_size=n, max_size=n)),
    }
    times = draw(st.lists(st.one_of(st.none(), _instants), min_size=n, max_size=n))
    if text_times:
        written = [None if t is None else t.strftime("%Y-%m-%d %H:%M:%S") for t in times]
        rows["time"] = [w if i % 5 else "31/02/2026" for i, w in enumerate(written)]
    else:
        rows["time"] = times
    frame = pl.DataFrame(
        rows, schema_overrides={"time": pl.String if text_times else pl.Datetime("us", "UTC")}
    )
    if not draw(st.booleans()):
        frame = frame.drop("anonymous_id")
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=6)))
    edges = [0, *cuts, n]
    return frame, [frame.slice(a, b - a) for a, b in zip(edges, edges[1:], strict=False)]


@settings(max_examples=150, deadline=None)
@given(
    source=batched_sources(),
    days=st.sampled_from([(None, None), ("2026-03-02", "2026-03-04"), (None, "2026-03-03")]),
)
def test_batches_give_the_frame_and_report_of_the_whole_frame(source, days):
    # Each batch is read on its own (row numbers go on across batches); the duplicate event_id
    # rule, identity and the report see every row: the same frame and report as one frame gives.
    frame, batches = source
    start, end = days
    options = {"source": "events", "format": "postgresql", "start": start, "end": end}
    whole, whole_report = to_canonical(frame.lazy(), collect=True, **options)
    batched, batched_report = to_canonical_batches(batches, **options)
    assert_frame_equal(batched.collect(), whole.collect())
    assert batched_report == whole_report

"""Times from outside (imports, old or damaged databases) never break a listing: they are
checked on the way in and turned into text by one helper that never raises."""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta

import pytest

from chatdesk.core.timestamps import (
    EARLIEST,
    LATEST,
    day_group,
    format_timestamp,
    usable_timestamp,
)

ABSURD = [1e20, -1e20, math.nan, math.inf, -math.inf, 10**400, -(10**400), LATEST + 1,
          EARLIEST - 1]


@pytest.mark.parametrize("value", ABSURD)
def test_an_absurd_time_is_not_usable(value):
    assert usable_timestamp(value) is None


@pytest.mark.parametrize("value", [None, "1700000000", True, [1], {}])
def test_what_is_not_a_number_is_not_usable(value):
    assert usable_timestamp(value) is None


@pytest.mark.parametrize("value", [0, 1_700_000_000, 1_700_000_000.5, LATEST])
def test_a_real_time_is_kept_as_seconds(value):
    assert usable_timestamp(value) == float(value)
    assert isinstance(usable_timestamp(value), float)


@pytest.mark.parametrize("value", [*ABSURD, None, "x", True])
def test_formatting_an_absurd_time_says_unknown_and_never_raises(value):
    assert format_timestamp(value, "%Y-%m-%d %H:%M") == "unknown time"
    assert format_timestamp(value, "%Y", unknown="?") == "?"


def test_formatting_a_real_time_uses_local_time_and_the_format():
    text = format_timestamp(1_700_000_000, "%Y-%m-%d %H:%M %z")
    assert text[:4] == "2023" and len(text.split()) == 3
    assert format_timestamp(LATEST, "%Y") in {"2999", "3000"}  # the zone decides


def _local(day: date, hour: int, minute: int = 0) -> float:
    return datetime.combine(day, time(hour, minute)).timestamp()


def test_day_groups_follow_the_local_calendar_not_24_hour_spans():
    today = date(2025, 3, 10)
    assert day_group(_local(today, 0, 5), today) == "Today"
    assert day_group(_local(today - timedelta(days=1), 23, 50), today) == "Yesterday"
    assert day_group(_local(today - timedelta(days=1), 0, 1), today) == "Yesterday"
    assert day_group(_local(today - timedelta(days=2), 12), today) == "Previous 7 days"
    assert day_group(_local(today - timedelta(days=7), 12), today) == "Previous 7 days"
    assert day_group(_local(today - timedelta(days=8), 12), today) == "Older"
    assert day_group(_local(today + timedelta(days=3), 12), today) == "Today"  # clock skew


@pytest.mark.parametrize("value", [*ABSURD, None, "x"])
def test_an_unknown_time_is_older_and_never_raises(value):
    assert day_group(value) == "Older"

"""Unix times from outside (imports, old or hand-edited databases) made safe to keep and
to print.

A stored time can be anything a float holds: 1e20, -1e20, NaN, infinity. The standard
library raises on those (``datetime.fromtimestamp``: OverflowError, ValueError, and
OSError on Windows before 1970 or after 3000), which once broke ``chatdesk list`` for
good. So a time is checked where it comes in (``usable_timestamp``: out of range means
unknown), and turned into text only by ``format_timestamp``, which never raises.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

EARLIEST = 0.0  # 1970-01-01 UTC: Windows' localtime refuses anything before it
LATEST = 32_503_680_000.0  # 3000-01-01 UTC: Windows' localtime ends a day or two after
UNKNOWN = "unknown time"


def usable_timestamp(value: object) -> float | None:
    """``value`` as float seconds when it is a real time in [EARLIEST, LATEST], else None.

    NaN, infinities, text, booleans and times past either end are not times a chat had.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if not EARLIEST <= value <= LATEST:  # compared before float(): 10**400 would overflow
        return None
    return float(value)


def format_timestamp(value: object, fmt: str, *, unknown: str = UNKNOWN) -> str:
    """Local time in ``fmt`` (strftime, ``%z`` works), or ``unknown``; never raises."""
    seconds = usable_timestamp(value)
    if seconds is None:
        return unknown
    try:
        return datetime.fromtimestamp(seconds).astimezone().strftime(fmt)
    except (OverflowError, OSError, ValueError):
        return unknown


DAY_GROUPS = ("Today", "Yesterday", "Previous 7 days", "Older")


def day_group(value: object, today: date | None = None) -> str:
    """Which of DAY_GROUPS a chat last used at ``value`` falls in, by the local calendar
    (not by 24-hour spans: a chat from 23:50 is "Yesterday" at 00:10). An unknown or
    future time counts as "Older" and "Today" respectively, never an error."""
    seconds = usable_timestamp(value)
    if seconds is None:
        return DAY_GROUPS[3]
    try:
        day = datetime.fromtimestamp(seconds).date()
    except (OverflowError, OSError, ValueError):
        return DAY_GROUPS[3]
    today = today or date.today()
    if day >= today:
        return DAY_GROUPS[0]
    if day == today - timedelta(days=1):
        return DAY_GROUPS[1]
    if day >= today - timedelta(days=7):
        return DAY_GROUPS[2]
    return DAY_GROUPS[3]

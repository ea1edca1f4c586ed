"""Cost at scale: "what would the daily compute cost be" answered from this machine.

Given users per day and tokens per user, the measured tokens/s and joules per token of
this machine (one answer at a time, as chatdesk runs them) say how many such machines
would be needed and how much energy they would use; the user's price and grid settings
turn that into money and CO2, and a cloud API's price (a setting) gives the comparison.

Every input carries where it came from (``Input.source``: measured here, or a setting),
so the panel can say so beside each figure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SECONDS_PER_DAY = 86_400
MEASURED = "measured here"
ESTIMATED = "estimated here"  # energy from the estimate model, not a meter
SETTING = "setting"


@dataclass(frozen=True)
class Input:
    value: float | None
    source: str  # MEASURED, SETTING, or what else it came from


@dataclass(frozen=True)
class ScaleInputs:
    users_per_day: Input
    tokens_per_user: Input
    tokens_per_s: Input  # one machine, one answer at a time
    joules_per_token: Input
    price_per_kwh: Input
    currency: str
    grid_g_per_kwh: Input
    cloud_per_million: Input  # output tokens; None: no cloud price set
    cloud_currency: str


@dataclass(frozen=True)
class ScaleCost:
    tokens_per_day: float
    machines: int | None  # None: no speed measured yet
    machine_hours: float | None
    kwh_per_day: float | None
    money_per_day: float | None
    co2_g_per_day: float | None
    cloud_per_day: float | None


def scale_cost(inputs: ScaleInputs) -> ScaleCost:
    users = inputs.users_per_day.value or 0.0
    per_user = inputs.tokens_per_user.value or 0.0
    tokens = users * per_user
    speed = inputs.tokens_per_s.value
    seconds = tokens / speed if speed else None
    machines = max(1, math.ceil(seconds / SECONDS_PER_DAY)) if seconds is not None else None
    joules = inputs.joules_per_token.value
    kwh = tokens * joules / 3.6e6 if joules is not None else None
    price, grid = inputs.price_per_kwh.value, inputs.grid_g_per_kwh.value
    cloud = inputs.cloud_per_million.value
    return ScaleCost(
        tokens_per_day=tokens, machines=machines,
        machine_hours=seconds / 3600 if seconds is not None else None,
        kwh_per_day=kwh,
        money_per_day=kwh * price if kwh is not None and price is not None else None,
        co2_g_per_day=kwh * grid if kwh is not None and grid is not None else None,
        cloud_per_day=tokens / 1e6 * cloud if cloud is not None else None)

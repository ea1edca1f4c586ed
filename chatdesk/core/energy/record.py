"""The energy record kept with each answer in the history (and exported with it).

One dict, so the history's totals, the UI and the exports read the same keys: the
history's ``totals()`` sums ``joules``, ``wh``, ``cost`` and ``co2_g``; ``source`` and
``measured`` say where every figure came from.
"""

from __future__ import annotations

from typing import Any

from chatdesk.core.energy.cost import ElectricityPrice, answer_cost
from chatdesk.core.energy.sampler import EnergyReport


def energy_record(report: EnergyReport, tokens: int, price: ElectricityPrice,
                  grams_per_kwh: float) -> dict[str, Any]:
    cost = answer_cost(report.joules, tokens, price, grams_per_kwh)
    return {
        "source": report.source,
        "measured": report.measured,
        "joules": report.joules,
        "above_idle_joules": report.above_idle_joules,
        "seconds": report.seconds,
        "avg_watts": report.avg_watts,
        "idle_watts": report.idle_watts,
        "wh": cost.watt_hours,
        "joules_per_token": cost.joules_per_token,
        "cost": cost.cost,
        "currency": cost.currency,
        "price_per_kwh": price.per_kwh,
        "co2_g": cost.co2_grams,
        "grid_g_per_kwh": grams_per_kwh,
    }

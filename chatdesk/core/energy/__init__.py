"""What an answer costs in energy, money and CO2, measured where the machine allows.

Qt-free like the rest of :mod:`chatdesk.core`. The pieces:

* :mod:`.rapl` (Linux CPU packages), :mod:`.nvml` (NVIDIA GPUs), :mod:`.powermetrics`
  (macOS), :mod:`.estimate` with :mod:`.cpu_tdp` (everywhere else): the power sources;
* :mod:`.sampler`: :class:`EnergyMeter`, which picks the sources once and measures each
  answer into an :class:`EnergyReport`;
* :mod:`.cost`: kWh, money, CO2, joules per token and a cloud API's price for comparison.

docs/energy.md explains every number and where it comes from.
"""

from chatdesk.core.energy.cost import (
    WORLD_GRID_G_PER_KWH,
    AnswerCost,
    CloudPrice,
    ElectricityPrice,
    answer_cost,
    cloud_cost,
    co2_grams,
    default_price,
    energy_cost,
    joules_per_token,
    joules_to_kwh,
    joules_to_wh,
)
from chatdesk.core.energy.sampler import Detection, EnergyMeter, EnergyReport, detect_sources
from chatdesk.core.energy.source import PowerSource, SourceProblem

__all__ = [
    "WORLD_GRID_G_PER_KWH",
    "AnswerCost",
    "CloudPrice",
    "Detection",
    "ElectricityPrice",
    "EnergyMeter",
    "EnergyReport",
    "PowerSource",
    "SourceProblem",
    "answer_cost",
    "cloud_cost",
    "co2_grams",
    "default_price",
    "detect_sources",
    "energy_cost",
    "joules_per_token",
    "joules_to_kwh",
    "joules_to_wh",
]

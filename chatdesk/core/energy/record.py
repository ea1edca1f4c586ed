"""The energy record kept with each answer in the history (and exported with it).

One dict, so the history's totals, the UI and the exports read the same keys: the
history's ``totals()`` sums ``joules``, ``wh``, ``cost`` and ``co2_g``; ``source`` and
``measured`` say where every figure came from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chatdesk.core.energy.cost import ElectricityPrice, answer_cost
from chatdesk.core.energy.sampler import EnergyReport

if TYPE_CHECKING:
    from chatdesk.core.events import GenerationResult
    from chatdesk.core.servers import ServerConnection

REMOTE_SOURCE = "remote"  # a server wrote the answer: this machine's meter says nothing


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


def remote_energy_record(result: GenerationResult,
                         connection: ServerConnection | None) -> dict[str, Any]:
    """A server's answer: energy "not measured (remote)", never this machine's watts; the
    money from the connection's price per million tokens, saying so (and nothing without
    a price or token counts)."""
    from chatdesk.core.servers import token_cost

    record: dict[str, Any] = {"source": REMOTE_SOURCE, "measured": False,
                              "server": result.server}
    cost = token_cost(connection, result.prompt_tokens or None, result.generated_tokens)
    if cost is not None:
        source = cost.source
        if result.sources.get("prompt_tokens", "").startswith("estimated"):
            source += "; the server sent no token usage, so the prompt's tokens are estimated"
        record.update(cost=cost.cost, currency=cost.currency, cost_source=source)
    return record


def answer_energy_record(report: EnergyReport | None, result: GenerationResult,
                         price: ElectricityPrice, grams_per_kwh: float,
                         servers: tuple[ServerConnection, ...] = ()) -> dict[str, Any] | None:
    """The energy record to keep with an answer, local or remote (the window's session and
    the headless ``chatdesk chat`` both call this)."""
    if result.engine == "remote":
        from chatdesk.core.servers import find_connection

        return remote_energy_record(result, find_connection(servers, result.server))
    if report is None:
        return None
    return energy_record(report, result.generated_tokens, price, grams_per_kwh)

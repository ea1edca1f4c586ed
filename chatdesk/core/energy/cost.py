"""Joules into what people count: kWh, money, grams of CO2, joules per token, a cloud bill.

* kWh = J / 3 600 000; cost = kWh × price per kWh; CO2 (g) = kWh × grid intensity (g/kWh).
* Grid intensity defaults to 475 g CO2/kWh, the world average codecarbon applies when it
  knows nothing better (https://mlco2.github.io/codecarbon/methodology.html, "Carbon
  Intensity", citing the IEA Global Energy & CO2 Status Report 2019). Editable.
* The electricity price defaults from the locale's country, from the small dated table
  ``PRICES`` (household prices including taxes). Unknown countries get
  ``FALLBACK_PRICE``: 0.20 USD/kWh, a round figure and not a measured price. The user's
  setting always replaces either.
* A cloud API's cost for the same tokens comes from its price per million input and
  output tokens, which the user enters with the date they read it (prices change often,
  so none is built in).
"""

from __future__ import annotations

import locale
import os
from dataclasses import dataclass

JOULES_PER_KWH = 3_600_000.0
WORLD_GRID_G_PER_KWH = 475.0


@dataclass(frozen=True)
class ElectricityPrice:
    """A price per kWh with where it came from, so the UI can say so."""

    per_kwh: float
    currency: str  # ISO 4217
    source: str
    as_of: str


_EUROSTAT = "Eurostat nrg_pc_204, household consumers incl. taxes, 2024 second half"
_EU_AVERAGE = ElectricityPrice(0.2872, "EUR", f"{_EUROSTAT}, EU average", "2024-S2")
PRICES: dict[str, ElectricityPrice] = {
    "DE": ElectricityPrice(0.3943, "EUR", f"{_EUROSTAT}, Germany", "2024-S2"),
    "IE": ElectricityPrice(0.3699, "EUR", f"{_EUROSTAT}, Ireland", "2024-S2"),
    "PT": ElectricityPrice(0.2626, "EUR", f"{_EUROSTAT}, Portugal", "2024-S2"),
    "GB": ElectricityPrice(0.2486, "GBP", "Ofgem price cap unit rate, direct debit, "
                           "1 Jan-31 Mar 2025", "2025-Q1"),
    "US": ElectricityPrice(0.16, "USD", "EIA, average US residential price 2023 "
                           "(Today in Energy, id 63064)", "2023"),
}
# Other euro-area countries: the EU average, in the currency they actually pay in.
EURO_AREA = ("AT", "BE", "CY", "EE", "ES", "FI", "FR", "GR", "HR", "IT", "LT", "LU", "LV",
             "MT", "NL", "SI", "SK")
FALLBACK_PRICE = ElectricityPrice(0.20, "USD", "chatdesk's round default (no data for "
                                  "this locale): set your own price", "n/a")


def locale_country(name: str | None = None) -> str | None:
    """The country code of a locale name like 'de_DE.UTF-8' (else from the environment)."""
    if name is None:
        for var in ("LC_ALL", "LC_MONETARY", "LANG"):
            if os.environ.get(var):
                name = os.environ[var]
                break
        else:
            name = locale.getlocale()[0] or ""
    base = name.split(".", 1)[0].split("@", 1)[0]
    if "_" not in base:
        return None
    country = base.split("_", 1)[1].upper()
    return country if len(country) == 2 and country.isalpha() else None


def default_price(locale_name: str | None = None) -> ElectricityPrice:
    """The price to start with for this locale (the user's setting replaces it)."""
    country = locale_country(locale_name)
    if country in PRICES:
        return PRICES[country]
    if country in EURO_AREA:
        return _EU_AVERAGE
    return FALLBACK_PRICE


def joules_to_kwh(joules: float) -> float:
    return joules / JOULES_PER_KWH


def joules_to_wh(joules: float) -> float:
    return joules / 3600.0


def energy_cost(joules: float, price_per_kwh: float) -> float:
    """Money for this energy, in the price's currency."""
    return joules_to_kwh(joules) * price_per_kwh


def co2_grams(joules: float, grams_per_kwh: float = WORLD_GRID_G_PER_KWH) -> float:
    """Grams of CO2 for this energy at a grid intensity."""
    return joules_to_kwh(joules) * grams_per_kwh


def joules_per_token(joules: float, tokens: int) -> float | None:
    """Energy per generated token; None when no token was generated."""
    return joules / tokens if tokens > 0 else None


@dataclass(frozen=True)
class CloudPrice:
    """A cloud API's list price, entered by the user with the date it was read."""

    name: str
    input_per_million: float
    output_per_million: float
    currency: str
    as_of: str


def cloud_cost(price: CloudPrice, input_tokens: int, output_tokens: int) -> float:
    """What the same tokens would cost through that API, in its currency."""
    if input_tokens < 0 or output_tokens < 0:
        raise ValueError("token counts must not be negative")
    return (input_tokens * price.input_per_million
            + output_tokens * price.output_per_million) / 1_000_000


@dataclass(frozen=True)
class AnswerCost:
    """Every figure the UI shows for one answer, derived from its joules."""

    joules: float
    watt_hours: float
    kwh: float
    cost: float
    currency: str
    co2_grams: float
    joules_per_token: float | None


def answer_cost(joules: float, tokens: int, price: ElectricityPrice,
                grams_per_kwh: float = WORLD_GRID_G_PER_KWH) -> AnswerCost:
    return AnswerCost(joules=joules, watt_hours=joules_to_wh(joules),
                      kwh=joules_to_kwh(joules), cost=energy_cost(joules, price.per_kwh),
                      currency=price.currency, co2_grams=co2_grams(joules, grams_per_kwh),
                      joules_per_token=joules_per_token(joules, tokens))

"""Joules to kWh, money, CO2, joules per token and a cloud bill: hand-computed values."""

from __future__ import annotations

import pytest

from chatdesk.core.energy.cost import (
    EURO_AREA,
    FALLBACK_PRICE,
    PRICES,
    WORLD_GRID_G_PER_KWH,
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
    locale_country,
)


def test_units():
    assert joules_to_kwh(3_600_000) == 1.0
    assert joules_to_kwh(1800) == pytest.approx(0.0005)
    assert joules_to_wh(7200) == 2.0


def test_cost_and_co2_hand_computed():
    # 36 kJ = 0.01 kWh; at 0.30 EUR/kWh that is 0.003 EUR; at 475 g/kWh, 4.75 g.
    assert energy_cost(36_000, 0.30) == pytest.approx(0.003)
    assert co2_grams(36_000) == pytest.approx(4.75)
    assert WORLD_GRID_G_PER_KWH == 475.0  # codecarbon's world average
    assert co2_grams(36_000, grams_per_kwh=56.0) == pytest.approx(0.56)  # a low-carbon grid


def test_joules_per_token():
    assert joules_per_token(20.8, 64) == pytest.approx(0.325)
    assert joules_per_token(5.0, 0) is None


def test_cloud_cost_for_the_same_tokens():
    price = CloudPrice("Some API", input_per_million=3.0, output_per_million=15.0,
                       currency="USD", as_of="2025-01-01")
    # 2000 in × 3 / 1e6 + 500 out × 15 / 1e6 = 0.006 + 0.0075
    assert cloud_cost(price, 2000, 500) == pytest.approx(0.0135)
    assert cloud_cost(price, 0, 0) == 0.0
    with pytest.raises(ValueError):
        cloud_cost(price, -1, 0)


def test_answer_cost_bundles_every_figure():
    price = ElectricityPrice(0.25, "GBP", "test", "2025")
    figures = answer_cost(72_000.0, 100, price, grams_per_kwh=200.0)
    assert figures.watt_hours == pytest.approx(20.0)
    assert figures.kwh == pytest.approx(0.02)
    assert figures.cost == pytest.approx(0.005) and figures.currency == "GBP"
    assert figures.co2_grams == pytest.approx(4.0)
    assert figures.joules_per_token == pytest.approx(720.0)


@pytest.mark.parametrize(("name", "country"), [
    ("de_DE.UTF-8", "DE"), ("en_GB", "GB"), ("fr_FR.UTF-8@euro", "FR"), ("en_US.utf8", "US"),
    ("C", None), ("C.UTF-8", None), ("POSIX", None), ("", None),
    ("English_United States", None),  # Windows spells it out: no code to read
])
def test_locale_country(name, country):
    assert locale_country(name) == country


def test_default_price_by_locale():
    assert default_price("de_DE.UTF-8") == PRICES["DE"]
    assert default_price("de_DE.UTF-8").currency == "EUR"
    assert default_price("en_GB.UTF-8").currency == "GBP"
    assert default_price("en_US.UTF-8") == PRICES["US"]
    france = default_price("fr_FR.UTF-8")
    assert france.currency == "EUR" and "EU average" in france.source and "FR" in EURO_AREA
    assert default_price("ja_JP.UTF-8") == FALLBACK_PRICE
    assert default_price("C") == FALLBACK_PRICE
    assert FALLBACK_PRICE.per_kwh == 0.20


def test_every_built_in_price_says_where_and_when_from():
    for price in [*PRICES.values(), FALLBACK_PRICE]:
        assert price.source and price.as_of and len(price.currency) == 3
        assert 0 < price.per_kwh < 1


def test_default_price_reads_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MONETARY", raising=False)
    monkeypatch.setenv("LANG", "pt_PT.UTF-8")
    assert default_price() == PRICES["PT"]
    monkeypatch.setenv("LC_MONETARY", "en_GB.UTF-8")  # the money locale wins over LANG
    assert default_price().currency == "GBP"

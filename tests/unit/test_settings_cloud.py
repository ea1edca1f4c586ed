"""The cloud-price settings: JSON round trip, old files without them, bad values."""

from __future__ import annotations

import json

import pytest

from chatdesk.core.energy import CloudPrice
from chatdesk.core.settings import Settings, load_settings, save_settings


def test_no_cloud_price_by_default():
    settings = Settings()
    assert settings.cloud_price() is None
    assert settings.cloud_currency == "USD" and settings.cloud_as_of == ""


def test_cloud_fields_round_trip_through_json(tmp_path):
    path = tmp_path / "settings.json"
    settings = Settings(cloud_name="gpt-4o-mini", cloud_input_per_million=0.15,
                        cloud_output_per_million=0.6, cloud_currency="USD",
                        cloud_as_of="2024-07", electricity_price=0.3, currency="EUR")
    save_settings(path, settings)
    loaded = load_settings(path)
    assert loaded == settings
    assert loaded.cloud_price() == CloudPrice("gpt-4o-mini", 0.15, 0.6, "USD", "2024-07")


def test_old_settings_files_without_cloud_fields_still_load(tmp_path):
    path = tmp_path / "settings.json"
    old = json.loads(Settings(electricity_price=0.25, currency="GBP").to_json())
    for key in [k for k in old if k.startswith("cloud_")]:
        del old[key]
    path.write_text(json.dumps(old), encoding="utf-8")
    loaded = load_settings(path)
    assert loaded.electricity_price == 0.25 and loaded.currency == "GBP"
    assert loaded.cloud_price() is None
    assert list(tmp_path.iterdir()) == [path]  # not moved aside as corrupt


def test_one_price_alone_is_no_comparison():
    assert Settings(cloud_input_per_million=1.0).cloud_price() is None
    assert Settings(cloud_output_per_million=1.0).cloud_price() is None


def test_unnamed_cloud_price_gets_a_generic_name():
    price = Settings(cloud_input_per_million=1, cloud_output_per_million=2).cloud_price()
    assert price is not None and price.name == "cloud API"
    assert price.input_per_million == 1.0 and price.output_per_million == 2.0


@pytest.mark.parametrize("bad", ["abc", -1, True, [1]])
def test_a_bad_cloud_price_is_dropped_not_the_file(tmp_path, bad):
    path = tmp_path / "settings.json"
    data = json.loads(Settings(electricity_price=0.3, cloud_name="x",
                               cloud_output_per_million=2.0).to_json())
    data["cloud_input_per_million"] = bad
    data["cloud_as_of"] = 2024
    path.write_text(json.dumps(data), encoding="utf-8")
    loaded = load_settings(path)
    assert loaded.electricity_price == 0.3 and loaded.cloud_name == "x"
    assert loaded.cloud_input_per_million is None
    assert loaded.cloud_output_per_million == 2.0
    assert loaded.cloud_as_of == ""
    assert list(tmp_path.iterdir()) == [path]

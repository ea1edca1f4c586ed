"""The energy settings dialog: shows its defaults with their sources, round-trips values,
refuses bad input with a clear message, and shows the meter's fixes."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialog

from chatdesk.core.energy import ElectricityPrice
from chatdesk.core.energy.cpu_tdp import TdpGuess
from chatdesk.core.settings import Settings
from chatdesk.ui.energy_settings import EnergySettingsDialog, edit_energy_settings

TDP = TdpGuess(10.0, "AMD EPYC", "per-core, 2 × 5 W")
LOCALE = ElectricityPrice(0.3943, "EUR", "Eurostat nrg_pc_204, Germany", "2024-S2")


class StandInMeter:
    source = "estimate"
    measured = False

    def unavailable_reasons(self) -> list[str]:
        return ["RAPL energy counters are readable by root only (CVE-2020-8694). Fix: run "
                "`sudo chmod a+r /sys/class/powercap/intel-rapl:0/energy_uj`"]


def make(qtbot, settings: Settings | None = None, **kwargs) -> EnergySettingsDialog:
    dialog = EnergySettingsDialog(settings or Settings(), detected_tdp=TDP,
                                  locale_price=LOCALE, **kwargs)
    qtbot.addWidget(dialog)
    return dialog


def fill(dialog: EnergySettingsDialog, **texts: str) -> None:
    for name, text in texts.items():
        getattr(dialog, f"{name}_edit").setText(text)


def test_defaults_are_shown_with_their_sources(qtbot):
    dialog = make(qtbot)
    assert dialog.price_edit.text() == ""  # blank: the locale default is used
    assert "0.3943" in dialog.price_edit.placeholderText()
    assert "Eurostat nrg_pc_204, Germany" in dialog.price_note.text()
    assert "2024-S2" in dialog.price_note.text()
    assert dialog.grid_edit.text() == "475"
    assert "10 W (per-core, 2 × 5 W; CPU: AMD EPYC)" in dialog.tdp_note.text()
    labels = " ".join(label.text() for label in dialog.findChildren(type(dialog.price_note)))
    assert "example only, not a current price: gpt-4o-mini" in labels
    assert "world average codecarbon uses" in labels
    assert dialog.values() == Settings()  # untouched defaults stay defaults


def test_values_round_trip(qtbot):
    start = Settings(electricity_price=0.25, currency="GBP", grid_g_per_kwh=200.0,
                     tdp_watts=65.0, cloud_name="gpt-4o-mini", cloud_input_per_million=0.15,
                     cloud_output_per_million=0.6, cloud_currency="USD",
                     cloud_as_of="2024-07", theme="dark")
    dialog = make(qtbot, start)
    assert dialog.price_edit.text() == "0.25" and dialog.cloud_output_edit.text() == "0.6"
    assert dialog.values() == start  # shown and read back unchanged, other fields kept
    fill(dialog, price="0,31", currency="eur", grid="56", tdp="", cloud_input="1.1",
         cloud_output="4.4", cloud_name="other", cloud_currency="EUR",
         cloud_as_of="2025-01-31")
    new = dialog.values()
    assert (new.electricity_price, new.currency, new.grid_g_per_kwh) == (0.31, "EUR", 56.0)
    assert new.tdp_watts is None and new.theme == "dark"
    price = new.cloud_price()
    assert price is not None and (price.name, price.input_per_million,
                                  price.output_per_million, price.currency, price.as_of) == (
        "other", 1.1, 4.4, "EUR", "2025-01-31")
    fill(dialog, cloud_input="", cloud_output="")
    assert dialog.values().cloud_price() is None


@pytest.mark.parametrize(("texts", "message"), [
    ({"price": "-0.1"}, "cannot be negative"),
    ({"price": "cheap"}, "is not a number"),
    ({"price": "nan"}, "finite"),
    ({"currency": "EU", "price": "0.3"}, "three-letter"),
    ({"currency": "USD"}, "Enter a price per kWh in USD"),
    ({"grid": "-5"}, "cannot be negative"),
    ({"tdp": "0"}, "must be more than 0"),
    ({"tdp": "65000"}, "more than any CPU"),
    ({"cloud_input": "0.15"}, "enter both"),
    ({"cloud_input": "-1", "cloud_output": "1"}, "cannot be negative"),
    ({"cloud_input": "0.15", "cloud_output": "0.6", "cloud_as_of": "2024-07"},
     "API or model name"),
    ({"cloud_input": "0.15", "cloud_output": "0.6", "cloud_name": "x"}, "date you read"),
    ({"cloud_input": "1", "cloud_output": "1", "cloud_name": "x", "cloud_as_of": "July"},
     "YYYY-MM"),
    ({"cloud_currency": "$"}, "three-letter"),
])
def test_bad_input_is_refused_with_a_clear_message(qtbot, texts, message):
    dialog = make(qtbot)
    dialog.show()
    fill(dialog, **texts)
    dialog.buttons.button(dialog.buttons.StandardButton.Save).click()
    assert dialog.isVisible() and dialog.result_settings() is None
    assert not dialog.error_label.isHidden()
    assert message in dialog.error_label.text()


def test_a_fix_clears_the_error_and_saves(qtbot):
    dialog = make(qtbot)
    dialog.show()
    fill(dialog, price="-1")
    dialog.accept()
    assert not dialog.error_label.isHidden()
    fill(dialog, price="0.2")
    dialog.accept()
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.error_label.isHidden()
    assert dialog.result_settings().electricity_price == 0.2


def test_cancel_gives_none(qtbot):
    dialog = make(qtbot)
    dialog.show()
    fill(dialog, price="0.5")
    dialog.reject()
    assert dialog.result_settings() is None


def test_meter_reasons_are_shown(qtbot):
    dialog = make(qtbot, meter=StandInMeter())
    labels = " ".join(label.text() for label in dialog.findChildren(type(dialog.price_note)))
    assert "Source: estimate (estimated)" in labels
    assert "sudo chmod a+r /sys/class/powercap/intel-rapl:0/energy_uj" in labels
    assert dialog.reason_lines == StandInMeter().unavailable_reasons()


def test_edit_energy_settings_returns_the_new_settings_or_none(qtbot):
    def answer(price: str | None) -> None:
        def act() -> None:
            dialog = next(w for w in QApplication.topLevelWidgets()
                          if isinstance(w, EnergySettingsDialog) and w.isVisible())
            if price is None:
                dialog.reject()
            else:
                dialog.price_edit.setText(price)
                dialog.accept()
        QTimer.singleShot(0, act)

    answer("0.42")
    result = edit_energy_settings(None, Settings(tdp_watts=30.0))
    assert result is not None and result.electricity_price == 0.42
    assert result.tdp_watts == 30.0
    answer(None)
    assert edit_energy_settings(None, Settings()) is None

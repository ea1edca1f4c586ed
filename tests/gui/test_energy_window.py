"""Each answer's energy is measured in the worker, stored with the message in the
history, and shown with where it came from (fake engine, fake power source)."""

from __future__ import annotations

import pytest
from fake_engine import FakeEngine
from window_driver import ask

from chatdesk.app import build_window
from chatdesk.core.energy import EnergyMeter
from chatdesk.core.figures import energy_line
from chatdesk.core.settings import Settings
from chatdesk.worker import EngineHost


class SteadyWatts:
    """A measured source drawing a constant 30 W (joules grow with the clock)."""

    name = "rapl"
    measured = True

    def begin(self) -> None: ...

    def energy_joules(self, now: float) -> float:
        return 30.0 * now

    def end(self) -> None: ...

    def close(self) -> None: ...


def test_an_answer_records_its_energy_and_shows_it(qtbot, app_paths, model_file):
    meter = EnergyMeter(sources=[SteadyWatts()], idle_watts=10.0, hz=50)
    engine = FakeEngine(pieces=[f" w{i}" for i in range(20)], token_delay_s=0.01)
    settings = Settings(electricity_price=0.30, currency="EUR", grid_g_per_kwh=400.0)
    window = build_window(EngineHost(engine, app_paths.models_dir, meter=meter), app_paths,
                        settings)
    qtbot.addWidget(window)
    window.show()
    window.load_model(str(model_file))
    qtbot.waitUntil(lambda: window.session.model is not None, timeout=2000)
    ask(qtbot, window, "Count")

    answer = window.session.history.thread(window.session.conversation_id)[-1]
    energy = answer.energy
    assert energy is not None and energy["source"] == "rapl" and energy["measured"]
    assert energy["avg_watts"] == pytest.approx(30.0, rel=0.05)
    assert energy["joules"] == pytest.approx(30.0 * energy["seconds"], rel=0.05)
    assert energy["wh"] == pytest.approx(energy["joules"] / 3600)
    assert energy["cost"] == pytest.approx(energy["joules"] / 3.6e6 * 0.30)
    assert energy["co2_g"] == pytest.approx(energy["joules"] / 3.6e6 * 400.0)
    assert energy["currency"] == "EUR"
    assert energy["joules_per_token"] == pytest.approx(energy["joules"] / 20)
    assert "measured by rapl" in window.chat_view.plain_text()
    assert "(measured)" in window.stats_panel.labels["energy"].text()
    assert window.stats_panel.labels["power"].toolTip().startswith("Source: rapl")
    totals = window.session.history.totals(window.session.conversation_id)
    assert totals["joules"] == pytest.approx(energy["joules"])

    costs = window.dialogs.show_costs()  # Costs > Energy and cost
    assert costs.isVisible()
    assert costs.chart.watts, "opened after an answer, it shows that answer"
    ask(qtbot, window, "Again")
    assert costs.chart.watts, "the answer's power samples reach the chart"
    assert costs.chart.rates and all(rate > 0 for _t, rate in costs.chart.rates)
    assert "measured by rapl" in costs.answer_label.text()
    window.close()
    assert not meter.running


def test_describe_energy_says_estimated_when_it_was():
    text = energy_line({"source": "estimate", "measured": False, "joules": 12.5,
                            "wh": 12.5 / 3600, "avg_watts": 25.0, "joules_per_token": 0.5,
                            "cost": 1e-6, "currency": "USD", "co2_g": 0.0016})
    assert text.endswith("estimated")
    assert "12.5 J" in text and "25.0 W" in text and "0.5 J/token" in text
    assert energy_line(None) == ""

"""The cost view: totals per local day / month / conversation from a real history, the
measured/estimated tags, the cloud comparison arithmetic and the chart's points."""

from __future__ import annotations

from datetime import datetime

import pytest

from chatdesk.core.energy import EnergyReport
from chatdesk.core.figures import format_money
from chatdesk.core.history import HistoryStore
from chatdesk.core.settings import Settings
from chatdesk.ui.cost_view import (
    CostView,
    Provenance,
    compare,
    day_start,
    month_start,
    provenance,
)

NOW = datetime(2025, 3, 15, 14, 30).timestamp()  # local time, whatever the test's zone
CLOUD = dict(cloud_name="example-model", cloud_input_per_million=0.15,
             cloud_output_per_million=0.60, cloud_currency="EUR", cloud_as_of="2024-07")


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def energy(joules: float, measured: bool, source: str = "rapl", price: float = 0.30,
           currency: str = "EUR") -> dict:
    kwh = joules / 3.6e6
    return {"source": source if measured else "estimate", "measured": measured,
            "joules": joules, "wh": joules / 3600, "cost": kwh * price,
            "currency": currency, "co2_g": kwh * 400.0, "avg_watts": 30.0}


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def history(tmp_path, clock):
    store = HistoryStore.open(tmp_path / "h.sqlite3", clock=clock)
    yield store
    store.close()


def answer(history: HistoryStore, clock: Clock, conversation_id: int, at: datetime,
           prompt: int, generated: int, energy_record: dict | None) -> None:
    """A user message and its finished answer, both created at local time ``at``."""
    clock.t = at.timestamp()
    user = history.add_message(conversation_id, "user", "question")
    reply = history.begin_answer(conversation_id, user.id, model="m", sampling={})
    history.finish_answer(reply.id, content="answer", state="complete", stop_reason="eos",
                          stats={"prompt_tokens": prompt, "generated_tokens": generated},
                          energy=energy_record)
    clock.t = NOW


@pytest.fixture
def filled(history, clock):
    """Two conversations: answers today, earlier this month, last month."""
    first = history.create_conversation("first").id
    second = history.create_conversation("second").id
    # today (2025-03-15): one measured, one estimated -> partly estimated
    answer(history, clock, first, datetime(2025, 3, 15, 0, 0, 1), 1000, 200,
           energy(3600.0, True))
    answer(history, clock, second, datetime(2025, 3, 15, 9, 0), 3000, 800,
           energy(7200.0, False))
    # just before midnight: this month, not today
    answer(history, clock, first, datetime(2025, 3, 14, 23, 59, 59), 500, 100,
           energy(1800.0, True))
    # last day of last month: neither
    answer(history, clock, first, datetime(2025, 2, 28, 23, 59, 59), 10_000, 10_000,
           energy(360_000.0, True))
    return first, second


def test_day_and_month_boundaries_are_local_midnights():
    now = datetime(2025, 3, 15, 14, 30, 5).timestamp()
    assert day_start(now) == datetime(2025, 3, 15).timestamp()
    assert month_start(now) == datetime(2025, 3, 1).timestamp()
    assert day_start(datetime(2025, 3, 1, 0, 0).timestamp()) == datetime(2025, 3, 1).timestamp()


def test_totals_today_month_and_conversation(qtbot, history, clock, filled):
    first, _second = filled
    view = CostView(history, Settings(), clock=clock)
    qtbot.addWidget(view)
    view.refresh(first)

    today, month, conv = (view.totals[p] for p in ("today", "month", "conversation"))
    assert today["answers"] == 2 and today["prompt_tokens"] == 4000
    assert today["generated_tokens"] == 1000
    assert today["wh"] == pytest.approx(3.0)
    assert month["answers"] == 3 and month["wh"] == pytest.approx(3.5)
    assert conv["answers"] == 3 and conv["wh"] == pytest.approx(1 + 0.5 + 100)
    assert view.cells[("today", "answers")].text() == "2"
    assert view.cells[("today", "tokens")].text() == "4,000 + 1,000"
    assert view.cells[("today", "energy")].text() == "3 Wh"
    assert view.cells[("month", "energy")].text() == "3.5 Wh"
    assert view.cells[("today", "cost")].text() == format_money(10800 / 3.6e6 * 0.30, "EUR")
    assert view.cells[("month", "co2")].text() == "1.4 g CO2"  # 0.0035 kWh at 400 g/kWh


def test_every_total_is_tagged_measured_or_estimated(qtbot, history, clock, filled):
    first, second = filled
    view = CostView(history, Settings(), clock=clock)
    qtbot.addWidget(view)
    view.refresh(first)
    assert view.cells[("today", "source")].text() == "partly estimated"
    assert view.cells[("conversation", "source")].text() == "measured (rapl)"
    view.refresh(second)
    assert view.cells[("conversation", "source")].text() == "estimated"
    view.refresh(None)
    assert view.cells[("conversation", "source")].text() == "no conversation open"
    assert view.totals["conversation"] is None


def test_provenance_counts_answers_without_energy(history, clock):
    cid = history.create_conversation("c").id
    answer(history, clock, cid, datetime(2025, 3, 15, 10), 10, 10, None)
    answer(history, clock, cid, datetime(2025, 3, 15, 11), 10, 10, energy(1.0, True, "nvml"))
    prov = provenance(history, since=day_start(NOW))
    assert (prov.measured, prov.estimated, prov.without_energy) == (1, 0, 1)
    assert prov.tag == "measured (nvml)"
    assert Provenance().tag == "no energy data"
    assert provenance(history, since=NOW + 3600).without_energy == 0  # after them


def test_deleted_conversations_are_left_out_like_totals(history, clock):
    cid = history.create_conversation("gone").id
    answer(history, clock, cid, datetime(2025, 3, 15, 10), 10, 10, energy(1.0, False))
    history.delete_conversation(cid)
    assert provenance(history).estimated == 0
    assert provenance(history, cid).estimated == 1  # by id, as totals(cid) does


def test_cloud_comparison_arithmetic(qtbot, history, clock, filled):
    first, _ = filled
    view = CostView(history, Settings(**CLOUD), clock=clock)
    qtbot.addWidget(view)
    view.refresh(first)
    today = view.comparisons["today"]
    # 4000 input at 0.15/M + 1000 output at 0.60/M
    assert today.cloud_cost == pytest.approx((4000 * 0.15 + 1000 * 0.60) / 1e6)
    assert today.local_cost == pytest.approx(10800 / 3.6e6 * 0.30)
    assert today.ratio == pytest.approx(today.cloud_cost / today.local_cost)
    month = view.comparisons["month"]
    assert month.cloud_cost == pytest.approx((4500 * 0.15 + 1100 * 0.60) / 1e6)
    assert "example-model" in view.cloud_header.text()
    assert "2024-07" in view.cloud_header.text()
    line = view.cloud_lines["today"].text()
    assert "cloud 0.0012 EUR" in line and "partly estimated" in line and "×" in line


def test_without_a_cloud_price_it_says_how_to_set_one(qtbot, history, clock, filled):
    view = CostView(history, Settings(), clock=clock)
    qtbot.addWidget(view)
    view.refresh(filled[0])
    assert view.comparisons["today"] is None
    assert "No cloud price set" in view.cloud_header.text()
    assert "Energy settings" in view.cloud_header.text()
    with qtbot.waitSignal(view.edit_settings_requested, timeout=1000):
        view.settings_button.click()
    view.set_settings(Settings(**CLOUD))
    assert view.comparisons["today"] is not None
    assert "example-model" in view.cloud_header.text()


def test_different_currencies_are_not_compared():
    totals = {"prompt_tokens": 1_000_000, "generated_tokens": 1_000_000, "cost": 0.01,
              "currency": "EUR"}
    result = compare(totals, Settings(**{**CLOUD, "cloud_currency": "USD"}))
    assert result.cloud_cost == pytest.approx(0.75) and result.ratio is None
    assert not result.comparable
    assert compare(totals, Settings()) is None


def test_the_chart_gets_the_answer_points(qtbot, history, clock):
    view = CostView(history, Settings(), clock=clock)
    qtbot.addWidget(view)
    samples = ((0.2, 41.0), (0.4, 55.5), (0.6, 54.0))
    report = EnergyReport(source="rapl", measured=True, joules=30.0, above_idle_joules=18.0,
                          seconds=0.6, avg_watts=50.0, idle_watts=20.0, samples=samples)
    rates = [(0.25, 18.0), (0.5, 22.0)]
    view.set_answer(report, rates)
    assert view.chart.watts == list(samples)
    assert view.chart.rates == rates
    text = view.answer_label.text()
    assert "50.0 W average" in text and "measured by rapl" in text and "20.0 tok/s" in text
    view.show()
    qtbot.waitExposed(view)
    assert not view.chart.grab().isNull()
    view.set_answer(None, [])
    assert view.chart.watts == [] and "No energy" in view.answer_label.text()


def test_provenance_counts_only_answers_in_the_period(history, clock, filled):
    first, _second = filled
    today = provenance(history, first, since=day_start(NOW))
    assert (today.measured, today.estimated) == (1, 0)
    month = provenance(history, since=month_start(NOW))
    assert (month.measured, month.estimated, month.without_energy) == (2, 1, 0)
    before = provenance(history, until=month_start(NOW))
    assert (before.measured, before.estimated) == (1, 0)

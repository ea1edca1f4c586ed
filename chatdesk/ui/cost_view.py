"""The cost view: watts and tokens/s over the last answer, today's and this month's totals,
and what the same tokens would have cost through a cloud API.

Non-modal, refreshed on demand (``refresh`` after an answer, ``set_answer`` with its
report): no timer, no thread. Every figure says whether it was measured or estimated,
computed from the stored energy records, because a total mixing both is only as good as
its estimated part. The chart is drawn with QPainter rather than QtCharts so that opening
this window does not load another Qt module.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen, QPolygonF, QShowEvent
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from chatdesk.core.energy.cost import cloud_cost
from chatdesk.core.energy.sampler import EnergyReport
from chatdesk.core.figures import format_co2, format_money, format_wh, significant
from chatdesk.core.history import HistoryStore
from chatdesk.core.settings import Settings
from chatdesk.ui.placement import place_centered

WATTS_COLOR = "#c05621"
RATE_COLOR = "#2f855a"
PERIODS = ("today", "month", "conversation")
COLUMNS = ("answers", "tokens", "energy", "cost", "co2", "source")


# -- pure helpers (tested without a window) ---------------------------------------------
def day_start(now: float) -> float:
    """Local midnight of the day ``now`` falls in (unix seconds)."""
    local = datetime.fromtimestamp(now)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def month_start(now: float) -> float:
    """Local midnight of the first day of ``now``'s month (unix seconds)."""
    local = datetime.fromtimestamp(now)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()


@dataclass
class Provenance:
    """How the energy of a set of answers was obtained: the basis of each figure's tag."""

    measured: int = 0
    estimated: int = 0
    without_energy: int = 0
    sources: set[str] = field(default_factory=set)

    def add(self, energy: dict[str, Any] | None) -> None:
        if not energy:
            self.without_energy += 1
            return
        if energy.get("measured"):
            self.measured += 1
        else:
            self.estimated += 1
        if energy.get("source"):
            self.sources.add(str(energy["source"]))

    @property
    def tag(self) -> str:
        """'measured (rapl)', 'estimated', 'partly estimated' or 'no energy data'."""
        if self.measured and self.estimated:
            return "partly estimated"
        if self.measured:
            return f"measured ({', '.join(sorted(self.sources))})"
        if self.estimated:
            return "estimated"
        return "no energy data"


def provenance(history: HistoryStore, conversation_id: int | None = None,
               since: float | None = None, until: float | None = None) -> Provenance:
    """Measured/estimated counts over the same answers ``history.totals`` sums.

    Public API only: conversations with no answer in the period (one cheap ``totals``
    query each) are skipped before their messages are read. A ``measured`` count in
    ``history.totals`` itself would make this one query.
    """
    result = Provenance()
    if conversation_id is not None:
        ids = [conversation_id]
    else:
        ids = [c.id for c in history.list_conversations()]
    for cid in ids:
        if history.totals(cid, since, until)["answers"] == 0:
            continue
        for message in history.messages(cid):
            if message.role != "assistant":
                continue
            if since is not None and message.created_at < since:
                continue
            if until is not None and message.created_at >= until:
                continue
            result.add(message.energy)
    return result


@dataclass(frozen=True)
class Comparison:
    """Local electricity against a cloud API for the same tokens (currencies kept apart)."""

    local_cost: float
    local_currency: str | None
    cloud_cost: float
    cloud_currency: str
    input_tokens: int
    output_tokens: int

    @property
    def comparable(self) -> bool:
        return self.local_currency == self.cloud_currency

    @property
    def ratio(self) -> float | None:
        """How many times the cloud bill is the electricity bill (same currency only)."""
        if not self.comparable or self.local_cost <= 0:
            return None
        return self.cloud_cost / self.local_cost


def compare(totals: dict[str, Any], settings: Settings) -> Comparison | None:
    """The cloud comparison for one ``history.totals`` result; None without a cloud price.

    Input tokens are the prompt tokens of every answer: a chat API is sent the whole
    conversation each turn and bills it each time, as the local model evaluated it.
    """
    price = settings.cloud_price()
    if price is None:
        return None
    prompt, generated = int(totals["prompt_tokens"]), int(totals["generated_tokens"])
    return Comparison(local_cost=float(totals["cost"]), local_currency=totals["currency"],
                      cloud_cost=cloud_cost(price, prompt, generated),
                      cloud_currency=price.currency, input_tokens=prompt,
                      output_tokens=generated)


# -- the chart -------------------------------------------------------------------------
class PowerRateChart(QWidget):
    """Watts and tokens/s against seconds into the answer, each on its own scale."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.watts: list[tuple[float, float]] = []
        self.rates: list[tuple[float, float]] = []
        self.setMinimumSize(320, 140)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAccessibleName(self.tr("Watts and tokens per second over the answer"))

    def set_series(self, watts: Sequence[tuple[float, float]],
                   rates: Sequence[tuple[float, float]]) -> None:
        self.watts = [(float(t), float(v)) for t, v in watts]
        self.rates = [(float(t), float(v)) for t, v in rates]
        self.update()

    def _plot(self, painter: QPainter, area: QRectF, points: list[tuple[float, float]],
              span: float, color: str) -> float:
        top = max((v for _, v in points), default=0.0) or 1.0
        if len(points) >= 2:
            poly = QPolygonF([QPointF(area.left() + t / span * area.width(),
                                      area.bottom() - v / top * area.height())
                              for t, v in points])
            painter.setPen(QPen(QColor(color), 1.8))
            painter.drawPolyline(poly)
        return top

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        metrics = painter.fontMetrics()
        pad = metrics.height()
        frame = QRectF(self.rect()).adjusted(1, 1, -1, -1)
        area = frame.adjusted(8, pad + 6, -8, -pad - 4)
        text = self.palette().text().color()
        painter.setPen(QPen(self.palette().mid().color()))
        painter.drawRect(frame)
        if len(self.watts) < 2 and len(self.rates) < 2:
            painter.setPen(QPen(text))
            painter.drawText(frame, Qt.AlignmentFlag.AlignCenter,
                             self.tr("No answer measured yet"))
            return
        span = max([t for t, _ in self.watts + self.rates] + [1e-9])
        top_w = self._plot(painter, area, self.watts, span, WATTS_COLOR)
        top_r = self._plot(painter, area, self.rates, span, RATE_COLOR)
        label = frame.adjusted(6, 2, -6, -2)
        painter.setPen(QPen(QColor(WATTS_COLOR)))
        painter.drawText(label, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
                         self.tr("watts (max {w:.0f} W)").format(w=top_w))
        painter.setPen(QPen(QColor(RATE_COLOR)))
        painter.drawText(label, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop,
                         self.tr("tokens/s (max {r:.0f})").format(r=top_r))
        painter.setPen(QPen(text))
        painter.drawText(label, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom, "0 s")
        painter.drawText(label, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom,
                         f"{span:.1f} s")


# -- the window ------------------------------------------------------------------------
class CostView(QWidget):
    """A separate, non-modal window; the main window owns it and feeds it.

    ``edit_settings_requested`` asks the owner to open the energy settings (where the cloud
    price is entered), then to call ``set_settings`` with the result.
    """

    edit_settings_requested = Signal()

    def __init__(self, history: HistoryStore, settings: Settings,
                 parent: QWidget | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle(self.tr("Energy and cost"))
        self.setAccessibleName(self.tr("Energy and cost"))
        self.history = history
        self.settings = settings
        self._clock = clock
        self._conversation_id: int | None = None
        self.totals: dict[str, dict[str, Any] | None] = {}
        self.provenance: dict[str, Provenance] = {}
        self.comparisons: dict[str, Comparison | None] = {}
        layout = QVBoxLayout(self)

        answer_box = QGroupBox(self.tr("Last answer"))
        answer_layout = QVBoxLayout(answer_box)
        self.chart = PowerRateChart()
        self.answer_label = self._label(self.tr("No answer measured yet."))
        answer_layout.addWidget(self.chart)
        answer_layout.addWidget(self.answer_label)
        layout.addWidget(answer_box, 1)

        totals_box = QGroupBox(self.tr("Totals"))
        grid = QGridLayout(totals_box)
        headers = (self.tr("Answers"), self.tr("Tokens (in + out)"), self.tr("Energy"),
                   self.tr("Electricity"), self.tr("CO2"), self.tr("Figures"))
        for col, header in enumerate(headers, start=1):
            head = QLabel(f"<b>{header}</b>")
            grid.addWidget(head, 0, col)
        self.period_labels: dict[str, QLabel] = {}
        self.cells: dict[tuple[str, str], QLabel] = {}
        for row, period in enumerate(PERIODS, start=1):
            self.period_labels[period] = QLabel()
            grid.addWidget(self.period_labels[period], row, 0)
            for col, key in enumerate(COLUMNS, start=1):
                cell = self._label("–")
                cell.setAccessibleName(f"{period} {key}")
                self.cells[(period, key)] = cell
                grid.addWidget(cell, row, col)
        self.totals_note = self._label("")
        grid.addWidget(self.totals_note, len(PERIODS) + 1, 0, 1, len(COLUMNS) + 1)
        layout.addWidget(totals_box)

        cloud_box = QGroupBox(self.tr("Compared with a cloud API"))
        cloud_layout = QVBoxLayout(cloud_box)
        self.cloud_header = self._label("")
        cloud_layout.addWidget(self.cloud_header)
        self.cloud_lines: dict[str, QLabel] = {}
        for period in PERIODS:
            self.cloud_lines[period] = self._label("")
            cloud_layout.addWidget(self.cloud_lines[period])
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.settings_button = QPushButton(self.tr("Energy settings…"))
        self.settings_button.clicked.connect(self.edit_settings_requested)
        buttons.addWidget(self.settings_button)
        cloud_layout.addLayout(buttons)
        layout.addWidget(cloud_box)
        self.resize(720, 560)
        self._placed = False
        self.refresh(None)

    def showEvent(self, event: QShowEvent) -> None:
        """The first time: centred on the main window and wholly on its screen."""
        if not self._placed:
            self._placed = True
            place_centered(self)
        super().showEvent(event)

    @staticmethod
    def _label(text: str) -> QLabel:
        label = QLabel(text)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return label

    # -- the answer ----------------------------------------------------------------------
    def set_answer(self, report: EnergyReport | None,
                   token_rates: Sequence[tuple[float, float]]) -> None:
        """Chart the answer: the report's (s, W) samples and (s, tok/s) points."""
        self.chart.set_series(report.samples if report is not None else (), token_rates)
        if report is None:
            self.answer_label.setText(self.tr("No energy measured for this answer."))
            return
        how = (self.tr("measured by {src}").format(src=report.source) if report.measured
               else self.tr("estimated ({src})").format(src=report.source))
        rate = ""
        if token_rates:
            rates = [r for _, r in token_rates]
            rate = self.tr(" · {avg:.1f} tok/s average, {top:.1f} peak").format(
                avg=sum(rates) / len(rates), top=max(rates))
        self.answer_label.setText(self.tr(
            "{w:.1f} W average ({idle:.1f} W idle) over {s:.1f} s · {j} J ({wh}), "
            "{above} J above idle{rate} — {how}").format(
                w=report.avg_watts, idle=report.idle_watts, s=report.seconds,
                j=significant(report.joules), wh=format_wh(report.watt_hours),
                above=significant(report.above_idle_joules), rate=rate, how=how))

    # -- settings and totals -------------------------------------------------------------
    def set_settings(self, settings: Settings) -> None:
        """New prices: the comparison changes (stored costs keep the price they had)."""
        self.settings = settings
        self.refresh(self._conversation_id)

    def refresh(self, conversation_id: int | None) -> None:
        """Re-read today's, this month's and the conversation's totals from the history."""
        self._conversation_id = conversation_id
        now = self._clock()
        today, month = day_start(now), month_start(now)
        self.period_labels["today"].setText(
            self.tr("<b>Today</b> ({d})").format(d=datetime.fromtimestamp(now).strftime(
                "%Y-%m-%d")))
        self.period_labels["month"].setText(
            self.tr("<b>This month</b> ({m})").format(m=datetime.fromtimestamp(now).strftime(
                "%Y-%m")))
        self.period_labels["conversation"].setText(self.tr("<b>This conversation</b>"))
        bounds: dict[str, tuple[int | None, float | None]] = {
            "today": (None, today), "month": (None, month)}
        if conversation_id is not None:
            bounds["conversation"] = (conversation_id, None)
        currencies: set[str] = set()
        without = 0
        for period in PERIODS:
            if period not in bounds:
                self.totals[period] = None
                self.provenance[period] = Provenance()
                self.comparisons[period] = None
                self._show_empty(period)
                continue
            cid, since = bounds[period]
            totals = self.history.totals(cid, since=since)
            prov = provenance(self.history, cid, since=since)
            self.totals[period] = totals
            self.provenance[period] = prov
            self.comparisons[period] = compare(totals, self.settings)
            self._show_totals(period, totals, prov)
            currencies.update(totals["currencies"])
            if period == "month":
                without = prov.without_energy
        notes = []
        if without:
            notes.append(self.tr("{n} answer(s) this month have no energy record (made before "
                                 "energy was measured, or stopped early); they are counted "
                                 "in answers and tokens only.").format(n=without))
        if len(currencies) > 1:
            notes.append(self.tr("Electricity costs were recorded in several currencies "
                                 "({c}) and are not added up.").format(
                                     c=", ".join(sorted(currencies))))
        notes.append(self.tr("Costs use the electricity price at the time of each answer."))
        self.totals_note.setText(" ".join(notes))
        self._show_cloud()

    def _show_empty(self, period: str) -> None:
        for key in COLUMNS:
            self.cells[(period, key)].setText("–")
        self.cells[(period, "source")].setText(self.tr("no conversation open"))

    def _show_totals(self, period: str, totals: dict[str, Any], prov: Provenance) -> None:
        cells = self.cells
        cells[(period, "answers")].setText(str(totals["answers"]))
        cells[(period, "tokens")].setText(
            f"{totals['prompt_tokens']:,} + {totals['generated_tokens']:,}")
        if totals["answers_with_energy"] == 0:
            for key in ("energy", "cost", "co2"):
                cells[(period, key)].setText("–")
        else:
            cells[(period, "energy")].setText(format_wh(totals["wh"]))
            cost = (format_money(totals["cost"], totals["currency"]) if totals["currency"]
                    else self.tr("mixed currencies"))
            cells[(period, "cost")].setText(cost)
            cells[(period, "co2")].setText(format_co2(totals["co2_g"]))
        cells[(period, "source")].setText(prov.tag)

    def _show_cloud(self) -> None:
        price = self.settings.cloud_price()
        if price is None:
            self.cloud_header.setText(self.tr(
                "No cloud price set. To compare, open Energy settings… and enter a cloud "
                "API's price per million input and output tokens with the date you read it."))
            for period in PERIODS:
                self.cloud_lines[period].setText("")
            return
        self.cloud_header.setText(self.tr(
            "<b>{name}</b>: {i:g} / {o:g} {cur} per million input / output tokens, prices "
            "as of {date} (your setting). Input tokens count each answer's whole prompt, "
            "as a chat API bills it.").format(name=price.name, i=price.input_per_million,
                                               o=price.output_per_million, cur=price.currency,
                                               date=price.as_of or self.tr("an unknown date")))
        names = {"today": self.tr("Today"), "month": self.tr("This month"),
                 "conversation": self.tr("This conversation")}
        for period in PERIODS:
            comparison = self.comparisons[period]
            if comparison is None:
                self.cloud_lines[period].setText("")
                continue
            prov = self.provenance[period]
            local = (format_money(comparison.local_cost, comparison.local_currency)
                     if prov.measured + prov.estimated else self.tr("no energy data"))
            text = self.tr("{p}: cloud {cloud} vs local electricity {local} ({tag})").format(
                p=names[period], cloud=format_money(comparison.cloud_cost,
                                                    comparison.cloud_currency),
                local=local, tag=prov.tag)
            ratio = comparison.ratio
            if ratio is not None:
                text += self.tr(" — cloud ×{r}").format(r=significant(ratio))
            elif comparison.local_cost > 0 and not comparison.comparable:
                text += self.tr(" — different currencies, not converted")
            self.cloud_lines[period].setText(text)

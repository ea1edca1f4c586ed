"""Live figures while the model writes, and the figures of a finished answer.

Compact by default: the tok/s chart, speed, memory, and the last answer's energy and cost;
"More figures" opens the rest (first token, prompt, context, RAM, GPU, CPU, power).

It refreshes on its own steady timer (4 Hz), not per token, so a fast stream costs it
nothing extra; the timer runs only while the panel is visible.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING

import psutil
from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from chatdesk.core.events import GenerationResult
from chatdesk.core.figures import (
    AnswerStats,
    EnergyFigures,
    figure,
    format_money,
    significant,
)
from chatdesk.core.units import decode_rate, format_bytes
from chatdesk.ui.expander import Expander

if TYPE_CHECKING:
    from chatdesk.core.energy import EnergyMeter
    from chatdesk.session import ChatSession

REFRESH_MS = 250


class Sparkline(QWidget):
    """A small line chart of recent values (tokens/s over the current answer)."""

    def __init__(self, parent: QWidget | None = None, capacity: int = 240) -> None:
        super().__init__(parent)
        self.values: deque[float] = deque(maxlen=capacity)
        self.setMinimumHeight(48)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setAccessibleName(self.tr("Tokens per second over the answer"))

    def add(self, value: float) -> None:
        self.values.append(value)
        self.update()

    def clear(self) -> None:
        self.values.clear()
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = self.rect().adjusted(1, 1, -1, -1)
        painter.setPen(QPen(self.palette().mid().color()))
        painter.drawRect(rect)
        if len(self.values) < 2:
            return
        top = max(self.values) or 1.0
        step = rect.width() / (len(self.values) - 1)
        points = QPolygonF([
            QPointF(rect.left() + i * step, rect.bottom() - value / top * (rect.height() - 4))
            for i, value in enumerate(self.values)])
        painter.setPen(QPen(QColor("#2f855a"), 1.6))
        painter.drawPolyline(points)
        painter.setPen(QPen(self.palette().text().color()))
        painter.drawText(rect.adjusted(4, 2, -4, -2),
                         Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop,
                         f"max {top:.0f}")


COMPACT_ROWS = (("speed", "Tokens/s"), ("process", "chatdesk memory"), ("energy", "Energy"),
                ("cost", "Cost and CO2"))
MORE_ROWS = (("ttft", "First token"), ("prompt", "Prompt eval"), ("context", "Context used"),
             ("system", "System RAM"), ("vram", "GPU memory"), ("cpu", "CPU"),
             ("power", "Power"))


class StatsPanel(QGroupBox):
    more_toggled = Signal(bool)  # the user opened or closed "More figures"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(self.tr("Live stats"), parent)
        self.setAccessibleName(self.tr("Live statistics"))
        layout = QVBoxLayout(self)
        self.chart = Sparkline()
        layout.addWidget(self.chart)
        self.labels: dict[str, QLabel] = {}
        layout.addLayout(self._form(COMPACT_ROWS))
        more = QWidget()
        more.setLayout(self._form(MORE_ROWS))
        more.layout().setContentsMargins(0, 0, 0, 0)
        self.more = Expander(self.tr("More figures"), more)
        self.more.toggled.connect(self.more_toggled)
        layout.addWidget(self.more)
        self._process = psutil.Process()
        self._process.cpu_percent(None)  # the first call only starts the measurement
        self._tokens = 0
        self._first_token_at: float | None = None
        self._token_elapsed = 0.0
        self._sent_at: float | None = None
        self._generating = False
        self._context_length = 0
        self._context_used = 0
        self.vram_reader = None  # callable returning (used, total) bytes, when a GPU is known
        self.power_reader = None  # EnergyMeter.sample_now: (t, watts) or None
        self.power_source = ""  # "measured" or "estimated"
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)

    def _form(self, rows: tuple[tuple[str, str], ...]) -> QFormLayout:
        form = QFormLayout()
        for key, title in rows:
            label = QLabel("–")
            label.setAccessibleName(self.tr(title))
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(True)
            self.labels[key] = label
            form.addRow(self.tr(title), label)
        return form

    def follow(self, session: ChatSession) -> None:
        """Show the session's answers as they run, and its engine's power meter."""
        session.answer_started.connect(lambda _started: self.start_answer(
            session.model.context_length if session.model else 0))
        session.answer_text.connect(lambda chunk: self.on_tokens(
            chunk.tokens_so_far, chunk.elapsed_s, chunk.context_used))
        session.answer_done.connect(
            lambda done: self.finish_answer(done.result, done.message.energy))
        session.answer_failed.connect(lambda _failed: self.finish_answer(None))
        self.use_meter(session.host.worker.meter)

    def use_meter(self, meter: EnergyMeter | None) -> None:
        """Read live power from ``meter``; its tooltip says where the figure comes from."""
        if meter is None:
            return
        self.power_reader = meter.sample_now
        self.power_source = "measured" if meter.measured else "estimated"
        reasons = meter.unavailable_reasons()  # e.g. RAPL root-only, with its fix
        self.labels["power"].setToolTip("\n".join([f"Source: {meter.source}", *reasons]))

    # -- answer lifecycle (called by the window) ----------------------------------------
    def start_answer(self, context_length: int = 0) -> None:
        self.chart.clear()
        self._context_length = context_length
        self._context_used = 0
        self._tokens = 0
        self._first_token_at = None
        self._sent_at = time.perf_counter()
        self._generating = True
        for key in ("speed", "ttft", "prompt", "context"):
            self.labels[key].setText("–")

    def on_tokens(self, tokens_so_far: int, elapsed_s: float, context_used: int = 0) -> None:
        """From each TokenChunk: cheap bookkeeping only; the timer does the drawing."""
        if self._first_token_at is None:
            self._first_token_at = time.perf_counter()
            if self._sent_at is not None:
                self.labels["ttft"].setText(f"{self._first_token_at - self._sent_at:.2f} s")
        self._tokens = tokens_so_far
        self._token_elapsed = elapsed_s
        self._context_used = context_used

    def finish_answer(self, result: GenerationResult | None,
                      energy: dict | None = None) -> None:
        self._generating = False
        if result is not None:
            self.show_result(result)
        if energy:
            self.show_energy(energy)

    def show_energy(self, energy: dict | EnergyFigures) -> None:
        e = energy if isinstance(energy, EnergyFigures) else EnergyFigures.from_dict(energy)
        if e.is_remote:  # a server's work: never this machine's watts
            self.labels["energy"].setText(e.provenance)
            self.labels["cost"].setText(format_money(e.cost, e.currency) if e.cost is not None
                                        else "no price set for this server")
            self.labels["cost"].setToolTip(e.cost_source or "")
            return
        how = "measured" if e.measured else "estimated"
        self.labels["energy"].setText(f"{significant(e.joules)} J · {significant(e.wh, 2)} Wh · "
                                      f"{figure(e.avg_watts, '.1f')} W avg ({how})")
        self.labels["cost"].setText(f"{format_money(e.cost, e.currency)} · "
                                    f"{significant(e.co2_g, 2)} g CO2")

    def show_result(self, result: GenerationResult | AnswerStats) -> None:
        """The figures of one finished answer (also used when one is selected)."""
        s = (result if isinstance(result, AnswerStats) else AnswerStats.from_result(result))

        self.labels["speed"].setText(f"{figure(s.tokens_per_s, '.1f')} tok/s "
                                     f"({figure(s.generated_tokens)} tokens)")
        self.labels["ttft"].setText(f"{figure(s.ttft_s, '.2f')} s")
        self.labels["prompt"].setText(f"{figure(s.prompt_eval_tokens)}/{figure(s.prompt_tokens)} "
                                      f"tokens at {figure(s.prompt_tokens_per_s, '.0f')} tok/s")
        self.labels["context"].setText(f"{figure(s.context_used)} / {figure(s.context_length)}")

    # -- the steady refresh -------------------------------------------------------------
    def refresh(self) -> None:
        rate = decode_rate(self._tokens, self._token_elapsed)
        if self._generating and rate > 0:
            self.labels["speed"].setText(f"{rate:.1f} tok/s ({self._tokens} tokens)")
            self.chart.add(rate)
        if self._generating and self._context_used:
            self.labels["context"].setText(f"{self._context_used} / {self._context_length}")
        memory = self._process.memory_info()
        self.labels["process"].setText(format_bytes(memory.rss))
        system = psutil.virtual_memory()
        self.labels["system"].setText(
            f"{format_bytes(system.total - system.available)} of {format_bytes(system.total)}")
        self.labels["cpu"].setText(f"{self._process.cpu_percent(None):.0f} % (chatdesk), "
                                   f"{psutil.cpu_percent(None):.0f} % (all)")
        sample = self.power_reader() if self.power_reader is not None else None
        if sample is not None:
            self.labels["power"].setText(f"{sample[1]:.1f} W ({self.power_source})")
        elif self.power_reader is None:
            self.labels["power"].setText(self.tr("not measured"))
        if self.vram_reader is not None:
            used, total = self.vram_reader()
            self.labels["vram"].setText(f"{format_bytes(used)} of {format_bytes(total)}")
        else:
            self.labels["vram"].setText(self.tr("no GPU in use"))

    def showEvent(self, event) -> None:
        self.refresh()
        self._timer.start()
        super().showEvent(event)

    def hideEvent(self, event) -> None:
        self._timer.stop()
        super().hideEvent(event)

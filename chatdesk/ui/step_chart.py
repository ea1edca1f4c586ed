"""One sampling step as a small chart: the likeliest candidates at each stage of the
sampler chain (core/sampling_chain.py), as bars, with the sampling values used.

The chain is recomputed from the step's stored logits whenever the sampling controls
change, so moving the temperature slider shows at once what it does to this step.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetricsF, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

from chatdesk.core import hood_figures
from chatdesk.core.sampling import SamplingParams
from chatdesk.core.sampling_chain import StepExplanation, StepLogits, explain_step

BAR = QColor(70, 130, 200)
CHOSEN = QColor(220, 120, 40)
ROW_GAP = 2.0


class StepChart(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("step-chart")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.explanation: StepExplanation | None = None
        self.message = self.tr("Click a token to see how it was chosen.")
        self.params: SamplingParams | None = None
        self.real_choice: str | None = None

    def sizeHint(self) -> QSize:
        return QSize(560, 320)

    def show_message(self, text: str) -> None:
        self.explanation = None
        self.message = text
        self.update()

    def explain(self, step: StepLogits, params: SamplingParams) -> StepExplanation:
        seed = step.seed if step.seed is not None else 0  # a greedy answer drew nothing
        self.explanation = explain_step(step.logits, params, step.history, seed, step.step,
                                        step.name)
        self.params = params
        self.real_choice = step.name(step.chosen)
        self.update()
        return self.explanation

    def caption(self) -> str:
        """The sampling values and the choice, in words (also the chart's accessible text)."""
        explanation, params = self.explanation, self.params
        if explanation is None or params is None:
            return self.message
        values = (f"temperature {params.temperature:g}, top-k {params.top_k}, "
                  f"top-p {params.top_p:g}, min-p {params.min_p:g}, repeat penalty "
                  f"{params.repeat_penalty:g}, presence {params.presence_penalty:g}, "
                  f"frequency {params.frequency_penalty:g}")
        how = (self.tr("greedy: the most likely token") if explanation.greedy else
               self.tr("drawn at {f} of the kept probability").format(
                   f=hood_figures.percent(explanation.draw)))
        return self.tr("With {values}: chosen “{token}” ({how}). The answer has “{real}”."
                       ).format(values=values, token=hood_figures.token_label(
                           explanation.chosen_text), how=how,
                           real=hood_figures.token_label(self.real_choice or ""))

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        palette = self.palette()
        text_colour = palette.color(QPalette.ColorRole.Text)
        painter.setPen(text_colour)
        metrics = QFontMetricsF(self.font())
        line = metrics.height()
        width = float(self.width())
        caption_rect = QRectF(0, 0, width, line * 3)
        painter.drawText(caption_rect, Qt.TextFlag.TextWordWrap, self.caption())
        explanation = self.explanation
        if explanation is None:
            return
        stages = explanation.stages
        top = line * 3 + 4
        column = (width - 8 * (len(stages) - 1)) / max(1, len(stages))
        label_w = column * 0.4
        percent_w = metrics.horizontalAdvance("100.0%") + 6
        bar_room = max(4.0, column - label_w - percent_w - 4)
        for i, stage in enumerate(stages):
            x = i * (column + 8)
            title = hood_figures.STAGE_NAMES.get(stage.name, stage.name)
            painter.setPen(text_colour)
            painter.drawText(QRectF(x, top, column, line * 2), Qt.TextFlag.TextWordWrap,
                             title)
            painter.drawText(QRectF(x, top + line * 2, column, line),
                             self.tr("{n} candidates").format(n=f"{stage.kept:,}"))
            y = top + line * 3 + 4
            for candidate in stage.top:
                bar_w = bar_room * candidate.probability
                chosen = candidate.token == explanation.chosen
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(CHOSEN if chosen else BAR)
                painter.drawRect(QRectF(x + label_w + 2, y + 2, max(1.0, bar_w), line - 4))
                painter.setPen(text_colour)
                painter.drawText(QRectF(x, y, label_w, line),
                                 Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                                 metrics.elidedText(hood_figures.token_label(candidate.text),
                                                    Qt.TextElideMode.ElideRight, label_w - 4))
                painter.drawText(QRectF(x + column - percent_w, y, percent_w, line),
                                 Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                                 hood_figures.percent(candidate.probability))
                y += line + ROW_GAP

"""The token view of one answer: how each token was chosen.

Every generated token is drawn as a chip whose background is stronger the less likely
the model thought it (a sure token is plain, a surprising one stands out). Hovering a
token shows its top-5 alternatives with their probabilities; clicking it selects it: the
panel below lists the alternatives (each can start a branch: the answer regenerated from
there with that token forced, a new ‹ n/m › alternative) and explains the step through
the sampler chain (ui/step_chart.py) with the sampling controls' current values.

It reads the answer's stored trace (core/token_records.py), so it works on old answers.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRectF, QSize, Qt, Signal, Slot
from PySide6.QtGui import QColor, QFontMetricsF, QMouseEvent, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from chatdesk.core import hood_figures
from chatdesk.core.token_records import TokenRecord, TokenTrace
from chatdesk.session import ChatSession, StepFailed
from chatdesk.ui.step_chart import StepChart

PAD_X, PAD_Y, GAP = 3.0, 2.0, 2.0
SURPRISE = QColor(230, 120, 40)  # the colour of an unlikely token, drawn translucent


def surprise_alpha(probability: float) -> int:
    """0 for a certain token, up to 200 for a very unlikely one."""
    return int(200 * (1.0 - max(0.0, min(1.0, probability))) ** 1.5)


class TokenFlow(QWidget):
    """The tokens as wrapped chips; hover tells, click selects."""

    token_clicked = Signal(int)  # the step

    def __init__(self, trace: TokenTrace, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.trace = trace
        self.selected: int | None = None
        self._rects: list[QRectF] = []
        self._laid_for = -1
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return int(self._layout(width)) + 4

    def sizeHint(self) -> QSize:
        return QSize(560, self.heightForWidth(560))

    def _layout(self, width: int) -> float:
        metrics = QFontMetricsF(self.font())
        line = metrics.height() + 2 * PAD_Y
        x = y = 0.0
        self._rects = []
        for record in self.trace.tokens:
            text = hood_figures.token_label(record.text)
            w = metrics.horizontalAdvance(text) + 2 * PAD_X
            if x > 0 and x + w > width:
                x, y = 0.0, y + line + GAP
            self._rects.append(QRectF(x, y, w, line))
            x += w + GAP
            if record.text.endswith("\n"):  # the text breaks the line here: so do the chips
                x, y = 0.0, y + line + GAP
        self._laid_for = width
        return y + line

    def token_rect(self, step: int) -> QRectF:
        if self._laid_for != self.width():
            self._layout(self.width())
        return self._rects[step]

    def step_at(self, point: QPoint) -> int | None:
        if self._laid_for != self.width():
            self._layout(self.width())
        return next((i for i, r in enumerate(self._rects) if r.contains(point.toPointF())),
                    None)

    def paintEvent(self, _event: QPaintEvent) -> None:
        if self._laid_for != self.width():
            self._layout(self.width())
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        text_colour = self.palette().color(QPalette.ColorRole.Text)
        highlight = self.palette().color(QPalette.ColorRole.Highlight)
        for step, (record, rect) in enumerate(zip(self.trace.tokens, self._rects,
                                                  strict=True)):
            fill = QColor(SURPRISE)
            fill.setAlpha(surprise_alpha(record.probability))
            painter.setPen(highlight if step == self.selected else Qt.PenStyle.NoPen)
            painter.setBrush(fill)
            painter.drawRoundedRect(rect, 3, 3)
            painter.setPen(text_colour)
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter,
                             hood_figures.token_label(record.text))

    def tooltip_text(self, step: int) -> str:
        record = self.trace.tokens[step]
        return hood_figures.token_tooltip(record.text, record.probability,
                                     [(a.text, a.probability) for a in record.top])

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        step = self.step_at(event.position().toPoint())
        if step is None:
            QToolTip.hideText()
        else:
            QToolTip.showText(event.globalPosition().toPoint(), self.tooltip_text(step), self)
        super().mouseMoveEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        step = self.step_at(event.position().toPoint())
        if step is not None and event.button() == Qt.MouseButton.LeftButton:
            self.select(step)
            self.token_clicked.emit(step)
        super().mousePressEvent(event)

    def select(self, step: int | None) -> None:
        self.selected = step
        self.update()


class TokenDialog(QDialog):
    """One answer's token view (not modal: the chat stays usable beside it)."""

    def __init__(self, session: ChatSession, answer_id: int, trace: TokenTrace,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("token-view")
        self.setWindowTitle(self.tr("How each token was chosen"))
        self.session = session
        self.answer_id = answer_id
        self.trace = trace
        self.flow = TokenFlow(trace)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.flow)
        mean = sum(t.probability for t in trace.tokens) / len(trace.tokens)
        self.summary = QLabel(self.tr(
            "{n} tokens · average probability {p} · the stronger the colour, the less "
            "likely the model thought the token. Hover a token for its alternatives; click "
            "it to see how it was sampled or to branch from it.").format(
                n=len(trace.tokens), p=hood_figures.percent(mean)))
        self.summary.setWordWrap(True)
        self.step_title = QLabel()
        self.step_title.setWordWrap(True)
        self.alternatives = QHBoxLayout()
        self.chart = StepChart()
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(scroll, 2)
        layout.addWidget(self.step_title)
        layout.addLayout(self.alternatives)
        layout.addWidget(self.chart, 3)
        self.resize(760, 640)
        self.flow.token_clicked.connect(self.show_step)
        session.step_ready.connect(self._on_step)
        session.prompt_changed.connect(self._redraw_chain)  # the sampling controls moved
        self._step_logits = None

    @Slot(int)
    def show_step(self, step: int) -> None:
        """Select token ``step``: list its alternatives and ask for its sampling chain."""
        self.flow.select(step)
        record: TokenRecord = self.trace.tokens[step]
        self.step_title.setText(self.tr("Token {n}: “{t}”, probability {p}").format(
            n=step + 1, t=hood_figures.token_label(record.text), p=hood_figures.percent(
                record.probability)))
        while self.alternatives.count():
            item = self.alternatives.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        for alternative in record.top:
            button = QPushButton(f"{hood_figures.token_label(alternative.text)}  "
                                 f"{hood_figures.percent(alternative.probability)}")
            button.setObjectName(f"branch-{alternative.token}")
            button.setToolTip(self.tr("Regenerate from here with this token"))
            button.setEnabled(alternative.token != record.token)
            button.clicked.connect(lambda _=False, s=step, t=alternative.token:
                                   self.branch(s, t))
            self.alternatives.addWidget(button)
        self.alternatives.addStretch(1)
        self._step_logits = None
        self.chart.show_message(self.tr("Reading the model's logits at this step…"))
        if not self.session.request_step(self.answer_id, step):
            self.chart.show_message(self.tr(
                "This step can be explained while its conversation is open and a model "
                "is loaded."))

    def branch(self, step: int, token: int) -> bool:
        started = self.session.branch_at_token(self.answer_id, step, token)
        if started:
            self.accept()
        return started

    @Slot(object)
    def _on_step(self, result: object) -> None:
        if getattr(result, "answer_id", None) != self.answer_id or \
                getattr(result, "step", None) != self.flow.selected:
            return
        if isinstance(result, StepFailed):
            self.chart.show_message(result.message)
            return
        self._step_logits = result
        self._redraw_chain()

    @Slot()
    def _redraw_chain(self) -> None:
        if self._step_logits is not None:
            self.chart.explain(self._step_logits, self.session.sampling)

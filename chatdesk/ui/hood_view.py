"""Models › Under the hood: the loaded model's card, the arithmetic of one token on this
machine, and what serving many users would cost (issue 14).

* **Model card**: the GGUF's numbers (core/model_card.py) and a drawing of the block
  stack: the embedding, N × [attention, feed-forward], the output.
* **One token**: FLOPs, weight bytes and KV bytes per token, this machine's memory
  bandwidth (measured once in the background, cached: core/bandwidth.py), the decode
  speed limit and the last answer's speed as a share of it, in two sentences.
* **Cost at scale**: users per day × tokens per user at the measured speed and energy
  (core/scale_cost.py); each input says whether it was measured here or is a setting.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRectF, QSize, Qt, Slot
from PySide6.QtGui import QColor, QFontMetricsF, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from chatdesk.core import figures, hood_figures
from chatdesk.core.bandwidth import Bandwidth, cached_bandwidth
from chatdesk.core.decode_limit import DecodeLimit, decode_limit
from chatdesk.core.gguf_file import InvalidModelFileError
from chatdesk.core.model_card import ModelCard, read_model_card
from chatdesk.core.model_ref import parse_remote
from chatdesk.core.scale_cost import ESTIMATED, MEASURED, SETTING, Input, ScaleInputs, scale_cost
from chatdesk.core.units import format_bytes
from chatdesk.session import ChatSession
from chatdesk.threads import run_op

ATTENTION = QColor(90, 140, 210)
FEED_FORWARD = QColor(110, 180, 120)
ENDS = QColor(200, 160, 80)


class BlockStack(QWidget):
    """The model drawn as what a token passes through, bottom to top."""

    def __init__(self, card: ModelCard, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("block-stack")
        self.card = card
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(260, 360)

    def labels(self) -> list[str]:
        """The boxes' words, bottom to top (tests read them)."""
        card = self.card
        return [
            self.tr("Embedding: {v} tokens × {d}").format(v=f"{card.vocabulary:,}",
                                                          d=card.embedding),
            self.tr("Attention: {h} query heads, {k} key/value").format(h=card.heads,
                                                                       k=card.kv_heads),
            self.tr("Feed-forward: {d} → {f} → {d}").format(d=card.embedding,
                                                           f=card.feed_forward),
            self.tr("× {n} blocks").format(n=card.layers),
            self.tr("Output: {d} → {v} logits{tied}").format(
                d=card.embedding, v=f"{card.vocabulary:,}",
                tied=self.tr(" (the embedding, tied)") if card.tied_output else ""),
        ]

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        text = self.palette().color(QPalette.ColorRole.Text)
        embed, attention, ffn, repeat, output = self.labels()
        metrics = QFontMetricsF(self.font())
        box_h = metrics.height() * 1.8
        width = float(self.width())
        height = float(self.height())
        margin = 8.0
        gap = box_h * 0.35
        # bottom to top: embedding, the repeated block (attention, then FFN), output
        boxes = [
            (QRectF(margin, height - margin - box_h, width - 2 * margin, box_h), ENDS, embed),
            (QRectF(margin * 3, height - margin - box_h * 2 - gap * 2, width - 6 * margin,
                    box_h), ATTENTION, attention),
            (QRectF(margin * 3, height - margin - box_h * 3 - gap * 3, width - 6 * margin,
                    box_h), FEED_FORWARD, ffn),
            (QRectF(margin, height - margin - box_h * 4 - gap * 6, width - 2 * margin, box_h),
             ENDS, output),
        ]
        frame = QRectF(margin * 2, boxes[2][0].top() - gap, width - 4 * margin,
                       box_h * 2 + gap * 3)
        painter.setPen(text)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(frame, 6, 6)
        painter.drawText(QRectF(frame.left(), frame.top() - metrics.height() - 2,
                                frame.width(), metrics.height()),
                         Qt.AlignmentFlag.AlignRight, repeat)
        for rect, colour, label in boxes:
            fill = QColor(colour)
            fill.setAlpha(110)
            painter.setBrush(fill)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.drawRoundedRect(rect, 4, 4)
            painter.setPen(text)
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter,
                             metrics.elidedText(label, Qt.TextElideMode.ElideRight,
                                                rect.width() - 8))


class HoodDialog(QDialog):
    def __init__(self, session: ChatSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("under-the-hood")
        self.setWindowTitle(self.tr("Under the hood"))
        self.session = session
        self.card: ModelCard | None = None
        self.bandwidth: Bandwidth | None = None
        self.limit: DecodeLimit | None = None
        self.tabs = QTabWidget()
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        self.card_tab = QWidget()
        self.token_tab = QWidget()
        self.scale_tab = QWidget()
        self.tabs.addTab(self.card_tab, self.tr("Model card"))
        self.tabs.addTab(self.token_tab, self.tr("One token"))
        self.tabs.addTab(self.scale_tab, self.tr("Cost at scale"))
        self.card_form = QFormLayout()
        self.stack: BlockStack | None = None
        card_layout = QVBoxLayout(self.card_tab)
        card_layout.addLayout(self.card_form)
        self.token_form = QFormLayout()
        self.limit_text = QLabel()
        self.limit_text.setWordWrap(True)
        self.limit_text.setObjectName("decode-limit-text")
        token_layout = QVBoxLayout(self.token_tab)
        token_layout.addLayout(self.token_form)
        token_layout.addWidget(self.limit_text)
        token_layout.addStretch(1)
        self._build_scale_tab()
        self.resize(720, 620)
        self._read_card()
        self._measure_bandwidth()

    # -- the model card -----------------------------------------------------------------
    def _model_path(self) -> str | None:
        model = self.session.model
        if model is None or parse_remote(model.path) is not None:
            return None
        return model.path

    def _read_card(self) -> None:
        path = self._model_path()
        if path is None:
            self.card_form.addRow(QLabel(self.tr(
                "Load a model file to see its card (a server's model has no file here).")))
            return
        try:
            self.card = read_model_card(path)
        except InvalidModelFileError as error:
            self.card_form.addRow(QLabel(str(error)))
            return
        for label, value in hood_figures.describe_card(self.card, self._context()):
            field = QLabel(value)
            field.setWordWrap(True)
            field.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.card_form.addRow(label, field)
        self.stack = BlockStack(self.card)
        self.card_tab.layout().addWidget(self.stack, 1)

    def _context(self) -> int:
        last = self.session.last_answer
        return last.result.context_used if last is not None else 0

    def _measured_speed(self) -> float | None:
        last = self.session.last_answer
        speed = last.result.generation_tokens_per_s if last is not None else 0.0
        return speed or None

    # -- one token ------------------------------------------------------------------------
    def _measure_bandwidth(self) -> None:
        folder = Path(self.session.history.path).parent
        self.limit_text.setText(self.tr("Measuring this machine's memory bandwidth…"))
        run_op(lambda: cached_bandwidth(folder), self.set_bandwidth, self._bandwidth_failed,
               name="bandwidth")

    @Slot(object)
    def set_bandwidth(self, bandwidth: Bandwidth) -> None:
        self.bandwidth = bandwidth
        self._fill_token_tab()
        self._fill_scale_tab()

    def _bandwidth_failed(self, error: Exception) -> None:
        self.limit_text.setText(self.tr("The bandwidth test failed: {e}").format(e=error))

    def _fill_token_tab(self) -> None:
        while self.token_form.rowCount():
            self.token_form.removeRow(0)
        if self.card is None or self.bandwidth is None:
            self.limit_text.setText(self.tr("Load a model file to see its arithmetic."))
            return
        context = self._context()
        self.limit = decode_limit(self.card, self.bandwidth.gb_per_s, context,
                                  self._measured_speed())
        limit = self.limit
        how = self.tr("cached") if self.bandwidth.cached else self.tr("measured now")
        rows = [
            (self.tr("Context"), self.tr("{n} tokens (the last answer's)").format(
                n=f"{context:,}")),
            (self.tr("FLOPs per token"), hood_figures.flops(limit.flops_per_token)),
            (self.tr("Weights read per token"), format_bytes(limit.weight_bytes_per_token)),
            (self.tr("KV cache per token"), format_bytes(self.card.kv_bytes_per_token)),
            (self.tr("KV cache read per token"), format_bytes(limit.kv_bytes_read)),
            (self.tr("Memory bandwidth"), f"{figures.significant(limit.bandwidth_gbs)} GB/s "
                                          f"({how})"),
            (self.tr("Decode speed limit"), f"{figures.significant(limit.limit_tok_s)} "
                                            "tokens/s"),
            (self.tr("Last answer"), figures.MISSING if limit.measured_tok_s is None else
             f"{figures.significant(limit.measured_tok_s)} tokens/s, "
             f"{hood_figures.percent(limit.share)} of the limit"),
        ]
        for label, value in rows:
            self.token_form.addRow(label, QLabel(value))
        self.limit_text.setText(hood_figures.decode_limit_text(limit))

    # -- cost at scale ----------------------------------------------------------------------
    def _build_scale_tab(self) -> None:
        settings = self.session.store.settings
        self.users = QSpinBox()
        self.users.setRange(1, 2_000_000_000)
        self.users.setValue(settings.scale_users_per_day)
        self.per_user = QSpinBox()
        self.per_user.setRange(1, 100_000_000)
        self.per_user.setValue(settings.scale_tokens_per_user)
        self.scale_form = QFormLayout()
        self.scale_form.addRow(self.tr("Users per day (setting)"), self.users)
        self.scale_form.addRow(self.tr("Tokens per user (setting)"), self.per_user)
        self.scale_rows = QFormLayout()
        layout = QVBoxLayout(self.scale_tab)
        layout.addLayout(self.scale_form)
        layout.addLayout(self.scale_rows)
        layout.addStretch(1)
        self.users.valueChanged.connect(self._scale_changed)
        self.per_user.valueChanged.connect(self._scale_changed)

    @Slot()
    def _scale_changed(self) -> None:
        self.session.store.update(scale_users_per_day=self.users.value(),
                                  scale_tokens_per_user=self.per_user.value())
        self._fill_scale_tab()

    def scale_inputs(self) -> ScaleInputs:
        settings = self.session.store.settings
        price = settings.price()
        cloud = settings.cloud_price()
        last = self.session.last_answer
        joules = None
        if last is not None and last.energy_report is not None and \
                last.result.generated_tokens:
            joules = last.energy_report.joules / last.result.generated_tokens
        energy_source = MEASURED
        if joules is not None and last is not None:  # an estimate is not a measurement
            report = last.energy_report
            energy_source = (f"{MEASURED if report.measured else ESTIMATED}: {report.source}")
        return ScaleInputs(
            users_per_day=Input(self.users.value(), SETTING),
            tokens_per_user=Input(self.per_user.value(), SETTING),
            tokens_per_s=Input(self._measured_speed(), MEASURED),
            joules_per_token=Input(joules, energy_source),
            price_per_kwh=Input(price.per_kwh, f"{SETTING}: {price.source}"),
            currency=price.currency,
            grid_g_per_kwh=Input(settings.grid_g_per_kwh, SETTING),
            cloud_per_million=Input(cloud.output_per_million if cloud else None,
                                    f"{SETTING}: {cloud.name}" if cloud else SETTING),
            cloud_currency=cloud.currency if cloud else "")

    def _fill_scale_tab(self) -> None:
        while self.scale_rows.rowCount():
            self.scale_rows.removeRow(0)
        inputs = self.scale_inputs()
        cost = scale_cost(inputs)
        none_yet = self.tr("– (generate an answer to measure it)")

        def source(entry: Input) -> str:
            return hood_figures.scale_source(entry.source)

        def number(value: float | None, unit: str) -> str:
            return none_yet if value is None else f"{figures.significant(value)} {unit}"

        rows = [
            (self.tr("Tokens per day"), f"{hood_figures.big_count(cost.tokens_per_day)}"),
            (self.tr("Speed of one machine"),
             f"{number(inputs.tokens_per_s.value, 'tokens/s')} {source(inputs.tokens_per_s)}"),
            (self.tr("Machines needed"), none_yet if cost.machines is None else self.tr(
                "{n} (one answer at a time each; {h} machine-hours a day)").format(
                    n=f"{cost.machines:,}", h=figures.significant(cost.machine_hours))),
            (self.tr("Energy per token"),
             f"{number(inputs.joules_per_token.value, 'J')} "
             f"{source(inputs.joules_per_token)}"),
            (self.tr("Energy per day"), none_yet if cost.kwh_per_day is None
             else figures.format_wh(cost.kwh_per_day * 1000)),
            (self.tr("Electricity per day"),
             f"{figures.format_money(cost.money_per_day, inputs.currency)} at "
             f"{figures.format_money(inputs.price_per_kwh.value, inputs.currency)}/kWh "
             f"{source(inputs.price_per_kwh)}"),
            (self.tr("CO2 per day"),
             f"{figures.format_co2(cost.co2_g_per_day)} at "
             f"{figures.significant(inputs.grid_g_per_kwh.value)} g/kWh "
             f"{source(inputs.grid_g_per_kwh)}"),
            (self.tr("The same tokens from a cloud API"),
             self.tr("– (set a cloud price in Costs › Energy settings)")
             if cost.cloud_per_day is None else
             f"{figures.format_money(cost.cloud_per_day, inputs.cloud_currency)} a day "
             f"{source(inputs.cloud_per_million)}"),
        ]
        for label, value in rows:
            field = QLabel(value)
            field.setWordWrap(True)
            self.scale_rows.addRow(label, field)

"""The right panel: model and load settings, sampling controls, system prompt, presets.

The everyday controls (model, preset, temperature, max tokens, system prompt) are always
shown; load settings, the other sampling knobs and stop strings wait under "Advanced", so a
new user meets five controls, not twenty. Every sampling control is a slider paired with a
number box (the slider for feel, the box for exact values), with a one-sentence tooltip.
The panel emits a validated SamplingParams whenever a value changes; it never talks to the
engine itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from chatdesk.core.sampling import MAX_SEED, InvalidParameterError, SamplingParams
from chatdesk.ui.expander import Expander

DEFAULTS = SamplingParams()
EVERYDAY = ("temperature", "max_tokens")  # the knobs shown outside "Advanced"


@dataclass(frozen=True)
class Knob:
    """One numeric sampling control: its range, step and the sentence that explains it."""

    field: str
    label: str
    low: float
    high: float
    step: float
    decimals: int
    tip: str


KNOBS: tuple[Knob, ...] = (
    Knob("temperature", "Temperature", 0.0, 2.0, 0.05, 2,
         "How adventurous the wording is: 0 always picks the likeliest word, higher values "
         "give more varied (and more error-prone) answers."),
    Knob("top_k", "Top-k", 0, 200, 1, 0,
         "Only the k likeliest next words are considered; 0 turns this filter off."),
    Knob("top_p", "Top-p", 0.05, 1.0, 0.01, 2,
         "Only the likeliest words that together make up this share of probability are "
         "considered; 1.0 turns it off."),
    Knob("min_p", "Min-p", 0.0, 1.0, 0.01, 2,
         "Words less likely than this fraction of the best word's probability are dropped; "
         "0 turns it off."),
    Knob("repeat_penalty", "Repeat penalty", 0.5, 2.0, 0.01, 2,
         "Above 1.0, words used recently become less likely, which curbs loops; 1.0 is off."),
    Knob("repeat_last_n", "Repeat window", 0, 2048, 16, 0,
         "How many recent tokens the repeat penalty looks back over."),
    Knob("presence_penalty", "Presence penalty", -2.0, 2.0, 0.05, 2,
         "Penalises any word that has appeared at all, nudging the model to new topics."),
    Knob("frequency_penalty", "Frequency penalty", -2.0, 2.0, 0.05, 2,
         "Penalises words by how often they have appeared, reducing repetition."),
    Knob("max_tokens", "Max tokens", 1, 32768, 16, 0,
         "The longest answer, in tokens (roughly ¾ of a word each)."),
)


class KnobRow(QWidget):
    """A slider and a spin box kept in step; the spin box holds the true value."""

    changed = Signal()

    def __init__(self, knob: Knob, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.knob = knob
        self.scale = 10 ** knob.decimals
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(round(knob.low * self.scale), round(knob.high * self.scale))
        self.slider.setSingleStep(max(1, round(knob.step * self.scale)))
        self.box: QSpinBox | QDoubleSpinBox
        if knob.decimals:
            self.box = QDoubleSpinBox()
            self.box.setDecimals(knob.decimals)
        else:
            self.box = QSpinBox()
        self.box.setRange(knob.low, knob.high)  # type: ignore[arg-type]
        self.box.setSingleStep(knob.step)  # type: ignore[arg-type]
        self.box.setMinimumWidth(80)
        for widget in (self.slider, self.box, self):
            widget.setToolTip(knob.tip)
        self.slider.setAccessibleName(knob.label)
        self.box.setAccessibleName(f"{knob.label} value")
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.box)
        self.slider.valueChanged.connect(lambda v: self.box.setValue(v / self.scale))
        self.box.valueChanged.connect(self._box_changed)

    def _box_changed(self, value: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(round(value * self.scale))
        self.slider.blockSignals(False)
        self.changed.emit()

    def value(self) -> float | int:
        value = self.box.value()
        return value if self.knob.decimals else int(value)

    def set_value(self, value: float) -> None:
        self.box.setValue(value)  # type: ignore[arg-type]


class SamplingPanel(QScrollArea):
    """Emits intents; the window decides what they do."""

    sampling_changed = Signal(object)  # SamplingParams
    system_prompt_changed = Signal(str)
    model_chosen = Signal(str)  # a model path to load
    reload_requested = Signal(int, object, object)  # context length, gpu layers|None, threads|None
    preset_saved = Signal(str, object)  # name, SamplingParams
    preset_deleted = Signal(str)
    advanced_toggled = Signal(bool)  # the user opened or closed "Advanced"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumWidth(320)
        self.setAccessibleName(self.tr("Model and sampling settings"))
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.addWidget(self._build_model_group())
        layout.addWidget(self._build_sampling_group())
        layout.addWidget(self._build_prompt_group())
        advanced = QWidget()
        advanced_layout = QVBoxLayout(advanced)
        advanced_layout.setContentsMargins(0, 0, 0, 0)
        advanced_layout.addWidget(self._build_load_group())
        advanced_layout.addWidget(self._build_advanced_sampling_group())
        self.advanced = Expander(self.tr("Advanced"), advanced)
        self.advanced.button.setToolTip(self.tr("Load settings, the other sampling controls "
                                                "and stop strings"))
        self.advanced.toggled.connect(self.advanced_toggled)
        layout.addWidget(self.advanced)
        layout.addStretch(1)
        self.setWidget(body)
        self._presets: dict[str, SamplingParams] = {}
        self._loading = False
        self.set_sampling(DEFAULTS)

    # -- model --------------------------------------------------------------------------
    def _build_model_group(self) -> QGroupBox:
        group = QGroupBox(self.tr("Model"))
        form = QFormLayout(group)
        self.model_combo = QComboBox()
        self.model_combo.setAccessibleName(self.tr("Installed models"))
        self.model_combo.setToolTip(self.tr("Switching frees the current model, then loads "
                                            "this one in the background."))
        self.model_combo.activated.connect(
            lambda index: self.model_chosen.emit(self.model_combo.itemData(index)))
        form.addRow(self.model_combo)
        return group

    def _build_load_group(self) -> QGroupBox:
        group = QGroupBox(self.tr("Load settings"))
        form = QFormLayout(group)
        self.context_box = QSpinBox()
        self.context_box.setRange(0, 1 << 20)
        self.context_box.setSingleStep(1024)
        self.context_box.setSpecialValueText(self.tr("model's trained length"))
        self.context_box.setToolTip(self.tr("How many tokens of conversation the model sees; "
                                            "more needs more memory. Applied on reload."))
        self.gpu_box = QSpinBox()
        self.gpu_box.setRange(-2, 999)
        self.gpu_box.setSpecialValueText(self.tr("auto"))
        self.gpu_box.setToolTip(self.tr("Layers offloaded to the GPU: auto (as many as fit), "
                                        "-1 all, 0 CPU only. Applied on reload."))
        self.threads_box = QSpinBox()
        self.threads_box.setRange(0, 512)
        self.threads_box.setSpecialValueText(self.tr("auto"))
        self.threads_box.setToolTip(self.tr("CPU threads for llama.cpp; auto uses the physical "
                                            "cores. Applied on reload."))
        for box, name in ((self.context_box, "Context length"), (self.gpu_box, "GPU layers"),
                          (self.threads_box, "Threads")):
            box.setAccessibleName(self.tr(name))
        reload_button = QPushButton(self.tr("Reload with these settings"))
        reload_button.clicked.connect(self._emit_reload)
        form.addRow(self.tr("Context length"), self.context_box)
        form.addRow(self.tr("GPU layers"), self.gpu_box)
        form.addRow(self.tr("Threads"), self.threads_box)
        form.addRow(reload_button)
        return group

    def set_models(self, paths: Sequence[Path], current: str | None,
                   remote: Sequence[tuple[str, str]] = ()) -> None:
        """Local files, then server models ((label, reference), marked as remote)."""
        self.model_combo.clear()
        for path in paths:
            self.model_combo.addItem(path.name, str(path))
        for label, ref in remote:
            self.model_combo.addItem(label, ref)
        index = self.model_combo.findData(current) if current else -1
        self.model_combo.setCurrentIndex(index)

    def set_load_options(self, context_length: int, gpu_layers: int | None,
                         threads: int | None) -> None:
        self.context_box.setValue(context_length)
        self.gpu_box.setValue(-2 if gpu_layers is None else gpu_layers)
        self.threads_box.setValue(threads or 0)

    def _emit_reload(self) -> None:
        gpu = self.gpu_box.value()
        self.reload_requested.emit(self.context_box.value(), None if gpu == -2 else gpu,
                                   self.threads_box.value() or None)

    # -- sampling -----------------------------------------------------------------------
    def _build_sampling_group(self) -> QGroupBox:
        """Presets and the everyday knobs; the rest is built by the "Advanced" group."""
        group = QGroupBox(self.tr("Sampling"))
        form = QFormLayout(group)
        presets = QHBoxLayout()
        self.preset_combo = QComboBox()
        self.preset_combo.setAccessibleName(self.tr("Presets"))
        self.preset_combo.setPlaceholderText(self.tr("Presets"))
        self.preset_combo.activated.connect(self._apply_preset)
        save = QPushButton(self.tr("Save…"))
        save.setToolTip(self.tr("Save these sampling settings as a named preset"))
        save.clicked.connect(self._save_preset)
        delete = QPushButton(self.tr("Delete"))
        delete.setToolTip(self.tr("Delete the selected preset"))
        delete.clicked.connect(self._delete_preset)
        presets.addWidget(self.preset_combo, 1)
        presets.addWidget(save)
        presets.addWidget(delete)
        form.addRow(presets)
        self.knobs: dict[str, KnobRow] = {}
        self._add_knobs(form, [k for k in KNOBS if k.field in EVERYDAY])
        self.error_label = QLabel()
        self.error_label.setStyleSheet("color: #c53030")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        form.addRow(self.error_label)
        return group

    def _add_knobs(self, form: QFormLayout, knobs: Sequence[Knob]) -> None:
        for knob in knobs:
            row = KnobRow(knob)
            row.changed.connect(self._emit_sampling)
            self.knobs[knob.field] = row
            label = QLabel(self.tr(knob.label))
            label.setToolTip(knob.tip)
            form.addRow(label, row)

    def _build_advanced_sampling_group(self) -> QGroupBox:
        group = QGroupBox(self.tr("More sampling"))
        form = QFormLayout(group)
        self._add_knobs(form, [k for k in KNOBS if k.field not in EVERYDAY])
        seed_row = QHBoxLayout()
        self.random_seed = QCheckBox(self.tr("random"))
        self.random_seed.setToolTip(self.tr("A new seed per answer; untick to make answers "
                                            "repeatable with a fixed seed."))
        self.seed_box = QSpinBox()
        self.seed_box.setRange(0, min(MAX_SEED, 2**31 - 1))
        self.seed_box.setAccessibleName(self.tr("Seed"))
        self.random_seed.toggled.connect(lambda on: self.seed_box.setEnabled(not on))
        self.random_seed.toggled.connect(self._emit_sampling)
        self.seed_box.valueChanged.connect(self._emit_sampling)
        seed_row.addWidget(self.random_seed)
        seed_row.addWidget(self.seed_box, 1)
        form.addRow(self.tr("Seed"), seed_row)
        self.stop_edit = QPlainTextEdit()
        self.stop_edit.setPlaceholderText(self.tr("one stop string per line"))
        self.stop_edit.setToolTip(self.tr("The answer ends as soon as the model writes any of "
                                          "these (one per line; \\n means a new line)."))
        self.stop_edit.setAccessibleName(self.tr("Stop strings"))
        self.stop_edit.setMaximumHeight(60)
        self.stop_edit.textChanged.connect(self._emit_sampling)
        form.addRow(self.tr("Stop strings"), self.stop_edit)
        reset = QPushButton(self.tr("Reset to defaults"))
        reset.clicked.connect(lambda: self.set_sampling(DEFAULTS, emit=True))
        form.addRow(reset)
        return group

    def set_sampling(self, params: SamplingParams, emit: bool = False) -> None:
        self._loading = True
        try:
            for name, row in self.knobs.items():
                row.set_value(getattr(params, name))
            self.random_seed.setChecked(params.seed is None)
            self.seed_box.setValue(params.seed or 0)
            self.stop_edit.setPlainText("\n".join(s.replace("\n", "\\n") for s in params.stop))
        finally:
            self._loading = False
        self._show_error("")
        if emit:
            self._emit_sampling()

    def sampling(self) -> SamplingParams:
        """The panel's values as validated SamplingParams (raises InvalidParameterError)."""
        values = {name: row.value() for name, row in self.knobs.items()}
        stops = tuple(line.replace("\\n", "\n")
                      for line in self.stop_edit.toPlainText().split("\n") if line)
        seed = None if self.random_seed.isChecked() else self.seed_box.value()
        return dataclasses.replace(DEFAULTS, **values, seed=seed, stop=stops).validated()

    def _emit_sampling(self) -> None:
        if self._loading:
            return
        try:
            params = self.sampling()
        except InvalidParameterError as exc:
            self._show_error(str(exc))
            return
        self._show_error("")
        self.sampling_changed.emit(params)

    def _show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.setVisible(bool(message))

    # -- presets ------------------------------------------------------------------------
    def set_presets(self, presets: dict[str, SamplingParams]) -> None:
        self._presets = dict(presets)
        self.preset_combo.clear()
        for name in sorted(self._presets):
            self.preset_combo.addItem(name)
        self.preset_combo.setCurrentIndex(-1)

    def _apply_preset(self, index: int) -> None:
        name = self.preset_combo.itemText(index)
        if name in self._presets:
            self.set_sampling(self._presets[name], emit=True)

    def _save_preset(self) -> None:
        name, ok = QInputDialog.getText(self, self.tr("Save preset"), self.tr("Preset name:"))
        if ok and name.strip():
            self.save_preset(name.strip())

    def save_preset(self, name: str) -> None:
        try:
            params = self.sampling()
        except InvalidParameterError as exc:
            self._show_error(str(exc))
            return
        self._presets[name] = params
        self.set_presets(self._presets)
        self.preset_combo.setCurrentText(name)
        self.preset_saved.emit(name, params)

    def _delete_preset(self) -> None:
        name = self.preset_combo.currentText()
        if name in self._presets:
            del self._presets[name]
            self.set_presets(self._presets)
            self.preset_deleted.emit(name)

    # -- system prompt ------------------------------------------------------------------
    def _build_prompt_group(self) -> QGroupBox:
        group = QGroupBox(self.tr("System prompt (this conversation)"))
        layout = QVBoxLayout(group)
        self.system_prompt = QPlainTextEdit()
        self.system_prompt.setAccessibleName(self.tr("System prompt"))
        self.system_prompt.setPlaceholderText(self.tr("e.g. You are a concise assistant."))
        self.system_prompt.setToolTip(self.tr("Instructions the model sees before the "
                                              "conversation; kept even when old turns no "
                                              "longer fit the context."))
        self.system_prompt.setMaximumHeight(100)
        self.system_prompt.textChanged.connect(
            lambda: self._loading or self.system_prompt_changed.emit(
                self.system_prompt.toPlainText()))
        layout.addWidget(self.system_prompt)
        return group

    def set_system_prompt(self, text: str) -> None:
        self._loading = True
        try:
            self.system_prompt.setPlainText(text)
        finally:
            self._loading = False

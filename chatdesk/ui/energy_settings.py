"""The energy and cost settings: electricity price, grid CO2, CPU TDP, a cloud price.

Every default says where it came from (the locale's price table with its source and date,
codecarbon's world-average grid intensity, the detected TDP and the rule that chose it), so
the user can judge whether to replace it. Blank fields mean "use the default"; nothing is
saved until every field is valid, and each refusal says which field and why.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from typing import Protocol

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QLabel,
    QLineEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from chatdesk.core.energy.cost import WORLD_GRID_G_PER_KWH, ElectricityPrice, default_price
from chatdesk.core.energy.cpu_tdp import TdpGuess, guess_tdp
from chatdesk.core.settings import Settings
from chatdesk.ui.details import Details, note_label
from chatdesk.ui.placement import available_area

log = logging.getLogger(__name__)

MIN_WIDTH = 600
CLOUD_EXAMPLE = ("example only, not a current price: gpt-4o-mini at $0.15 input / $0.60 "
                 "output per million tokens, as listed in 2024-07")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_DATE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?$")


class HasReasons(Protocol):
    """What the dialog needs of an EnergyMeter (so tests can pass a stand-in)."""

    @property
    def source(self) -> str: ...

    @property
    def measured(self) -> bool: ...

    def unavailable_reasons(self) -> list[str]: ...


class InvalidEnergySettings(ValueError):
    """A field the user typed cannot be saved; ``field`` names it for the message."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _number(text: str, field: str, *, positive: bool = False) -> float | None:
    """Blank → None; else a finite number ≥ 0 (> 0 when ``positive``), or a clear refusal."""
    text = text.strip().replace(",", ".")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise InvalidEnergySettings(field, f"{field}: “{text}” is not a number.") from None
    if not math.isfinite(value):
        raise InvalidEnergySettings(field, f"{field}: enter a finite number.")
    if value < 0:
        raise InvalidEnergySettings(field, f"{field} cannot be negative.")
    if positive and value == 0:
        raise InvalidEnergySettings(field, f"{field} must be more than 0.")
    return value


def _currency(text: str, field: str) -> str | None:
    text = text.strip().upper()
    if not text:
        return None
    if not _CURRENCY.match(text):
        raise InvalidEnergySettings(field, f"{field}: use a three-letter ISO code such as "
                                    "EUR, USD or GBP.")
    return text


class EnergySettingsDialog(QDialog):
    """Edits the energy fields of ``Settings``; ``result_settings()`` gives the new ones."""

    def __init__(self, settings: Settings, parent: QWidget | None = None, *,
                 meter: HasReasons | None = None, detected_tdp: TdpGuess | None = None,
                 locale_price: ElectricityPrice | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Energy and cost settings"))
        self._settings = settings
        self._result: Settings | None = None
        self.locale_price = locale_price or default_price()
        if detected_tdp is None:
            try:
                detected_tdp = guess_tdp()
            except (OSError, ValueError) as exc:  # never block the dialog on detection
                log.warning("TDP detection failed: %s", exc)
        self.detected_tdp = detected_tdp
        self.details: list[Details] = []
        # Wrapped help text needs a width to wrap into: at Qt's default (324 px) it was
        # cut mid-sentence. The groups sit in a scroll area, which gives wrapped labels
        # their height for the width (a plain layout squeezes them once the screen is
        # full); the dialog grows with opened details up to the screen, then scrolls.
        self.setMinimumWidth(MIN_WIDTH)
        self.content = QWidget()
        groups = QVBoxLayout(self.content)
        groups.setContentsMargins(0, 0, 0, 0)
        groups.addWidget(self._electricity_group())
        groups.addWidget(self._cpu_group())
        groups.addWidget(self._cloud_group())
        if meter is not None:
            groups.addWidget(self._meter_group(meter))
        groups.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(self.content)
        layout = QVBoxLayout(self)
        layout.addWidget(self.scroll, 1)
        self.error_label = QLabel()
        self.error_label.setObjectName("energySettingsError")
        self.error_label.setStyleSheet("color: #c53030;")
        self.error_label.setWordWrap(True)
        self.error_label.setAccessibleName(self.tr("Problem with the settings"))
        self.error_label.hide()
        layout.addWidget(self.error_label)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.fit_height()

    def fit_height(self) -> None:
        """As tall as the content at this width, within the screen's available height."""
        width = max(self.width(), MIN_WIDTH) if self.isVisible() else MIN_WIDTH
        margins = self.layout().contentsMargins()
        inner = width - margins.left() - margins.right()
        wanted = (self.content.heightForWidth(inner) + self.buttons.sizeHint().height()
                  + margins.top() + margins.bottom() + 2 * self.layout().spacing())
        if not self.error_label.isHidden():
            wanted += self.error_label.heightForWidth(inner) + self.layout().spacing()
        room = int(available_area(self).height() * 0.9)
        self.resize(width, min(wanted, room))

    # -- building ----------------------------------------------------------------------
    @staticmethod
    def _note(text: str) -> QLabel:
        return note_label(text)

    @staticmethod
    def _field(text: str, placeholder: str, name: str) -> QLineEdit:
        edit = QLineEdit(text)
        edit.setPlaceholderText(placeholder)
        edit.setAccessibleName(name)
        edit.setClearButtonEnabled(True)
        return edit

    def _details(self, form: QFormLayout | QVBoxLayout, *texts: str) -> list[QLabel]:
        """A "Details" expander under plain words: sources, formulas and jargon."""
        details = Details(self)
        details.toggle.toggled.connect(lambda _opened: self.fit_height())
        self.details.append(details)
        if isinstance(form, QFormLayout):
            form.addRow(details)
        else:
            form.addWidget(details)
        return [details.add(text) for text in texts]

    def _electricity_group(self) -> QGroupBox:
        s, d = self._settings, self.locale_price
        group = QGroupBox(self.tr("Electricity"))
        form = QFormLayout(group)
        self.price_edit = self._field(
            "" if s.electricity_price is None else f"{s.electricity_price:g}",
            f"{d.per_kwh:g} (default)", self.tr("Electricity price per kWh"))
        self.currency_edit = self._field(s.currency or "", f"{d.currency} (default)",
                                         self.tr("Electricity currency"))
        self.currency_edit.setMaxLength(3)
        form.addRow(self.tr("Price per kWh"), self.price_edit)
        form.addRow(self.tr("Currency"), self.currency_edit)
        form.addRow(self._note(self.tr(
            "What you pay for electricity. Leave it blank to use {price:g} {cur} per kWh, a "
            "typical price where you live; your own tariff is better if you know it.")
            .format(price=d.per_kwh, cur=d.currency)))
        self.price_note, = self._details(form, self.tr(
            "The default comes from {source} ({as_of}). Prices change, so enter your own "
            "tariff if you know it.").format(source=d.source, as_of=d.as_of))
        self.grid_edit = self._field(f"{s.grid_g_per_kwh:g}", f"{WORLD_GRID_G_PER_KWH:g}",
                                     self.tr("Grid carbon intensity"))
        form.addRow(self.tr("CO2 per kWh (g)"), self.grid_edit)
        form.addRow(self._note(self.tr(
            "How much CO2 one kWh of your electricity emits; {g:g} g is the world average.")
            .format(g=WORLD_GRID_G_PER_KWH)))
        self._details(form, self.tr(
            "Default {g:g} g CO2/kWh: the world average codecarbon uses when it knows no "
            "better (IEA Global Energy & CO2 Status Report 2019). Your country's grid may be "
            "far lower or higher.").format(g=WORLD_GRID_G_PER_KWH))
        return group

    def _cpu_group(self) -> QGroupBox:
        s = self._settings
        group = QGroupBox(self.tr("Power estimate"))
        form = QFormLayout(group)
        detected = self.detected_tdp
        self.tdp_edit = self._field(
            "" if s.tdp_watts is None else f"{s.tdp_watts:g}",
            f"{detected.watts:g} (detected)" if detected else self.tr("detected"),
            self.tr("CPU TDP override in watts"))
        form.addRow(self.tr("CPU power (W)"), self.tdp_edit)
        plain = self.tr("When this machine cannot measure its power, chatdesk estimates it "
                        "from how busy the processor is.")
        if detected is not None:
            plain += " " + self.tr("Leave it blank to use {w:g} W, found for this "
                                   "processor.").format(w=detected.watts)
        form.addRow(self._note(plain))
        if detected is not None and detected.how != "override":
            text = self.tr("Detected: {d}. Leave blank to use it.").format(d=detected.describe())
        else:
            text = self.tr("Leave blank to use the detected TDP.")
        self.tdp_note, = self._details(form, text + " " + self.tr(
            "The value is the processor's TDP (its rated power). It is used only when power "
            "cannot be measured (estimate = TDP × CPU utilisation, at least 10 %, plus RAM); "
            "a change takes effect the next time the meter starts."))
        return group

    def _cloud_group(self) -> QGroupBox:
        s = self._settings
        group = QGroupBox(self.tr("Cloud API price, for comparison"))
        form = QFormLayout(group)

        def price(value: float | None) -> str:
            return "" if value is None else f"{value:g}"

        self.cloud_name_edit = self._field(s.cloud_name, "e.g. gpt-4o-mini",
                                           self.tr("Cloud API name"))
        self.cloud_input_edit = self._field(price(s.cloud_input_per_million), "e.g. 0.15",
                                            self.tr("Cloud price per million input tokens"))
        self.cloud_output_edit = self._field(price(s.cloud_output_per_million), "e.g. 0.60",
                                             self.tr("Cloud price per million output tokens"))
        self.cloud_currency_edit = self._field(s.cloud_currency, "USD",
                                               self.tr("Cloud price currency"))
        self.cloud_currency_edit.setMaxLength(3)
        self.cloud_as_of_edit = self._field(s.cloud_as_of, "e.g. 2024-07",
                                            self.tr("Date the cloud prices were read"))
        form.addRow(self._note(self.tr(
            "Optional: a cloud service's prices, to see what the same answers would have "
            "cost there. Leave both prices blank for no comparison.")))
        form.addRow(self.tr("Name"), self.cloud_name_edit)
        form.addRow(self.tr("Per M input tokens"), self.cloud_input_edit)
        form.addRow(self.tr("Per M output tokens"), self.cloud_output_edit)
        form.addRow(self.tr("Currency"), self.cloud_currency_edit)
        form.addRow(self.tr("Prices as of"), self.cloud_as_of_edit)
        self._details(form, self.tr(
            "No price is built in: they change often. Copy one from the provider's pricing "
            "page with the date you read it (YYYY-MM or YYYY-MM-DD). The grey text is an {ex}."
            ).format(ex=CLOUD_EXAMPLE))
        return group

    def _meter_group(self, meter: HasReasons) -> QGroupBox:
        group = QGroupBox(self.tr("How power is measured now"))
        box = QVBoxLayout(group)
        how = self.tr("measured") if meter.measured else self.tr("estimated")
        box.addWidget(self._note(
            self.tr("Measured by this machine's own power meter.") if meter.measured else
            self.tr("Estimated: chatdesk cannot read this machine's power meter, so the "
                    "figures are an estimate.")))
        reasons = meter.unavailable_reasons()
        lines = [self.tr("Source: {src} ({how}).").format(src=meter.source, how=how)]
        if reasons:
            lines.append(self.tr("To get measured figures:"))
        lines += ["• " + reason for reason in reasons]
        self._details(box, *lines)
        self.reason_lines = reasons
        return group

    # -- reading -----------------------------------------------------------------------
    def values(self) -> Settings:
        """The settings as typed; raises InvalidEnergySettings naming the first bad field."""
        price = _number(self.price_edit.text(), self.tr("Electricity price"))
        currency = _currency(self.currency_edit.text(), self.tr("Electricity currency"))
        if currency is not None and price is None:
            raise InvalidEnergySettings(
                "Electricity price", self.tr("Enter a price per kWh in {c}, or leave the "
                                             "currency blank to use the default {p:g} {d}.")
                .format(c=currency, p=self.locale_price.per_kwh, d=self.locale_price.currency))
        grid = _number(self.grid_edit.text(), self.tr("Grid carbon intensity"))
        tdp = _number(self.tdp_edit.text(), self.tr("CPU TDP"), positive=True)
        if tdp is not None and tdp > 2000:
            raise InvalidEnergySettings("CPU TDP", self.tr(
                "CPU TDP: {w:g} W is more than any CPU draws; enter watts, e.g. 65.")
                .format(w=tdp))
        cloud_in = _number(self.cloud_input_edit.text(), self.tr("Cloud input price"))
        cloud_out = _number(self.cloud_output_edit.text(), self.tr("Cloud output price"))
        cloud_currency = _currency(self.cloud_currency_edit.text(), self.tr("Cloud currency"))
        name = self.cloud_name_edit.text().strip()
        as_of = self.cloud_as_of_edit.text().strip()
        if (cloud_in is None) != (cloud_out is None):
            raise InvalidEnergySettings("Cloud price", self.tr(
                "Cloud price: enter both the input and the output price per million tokens, "
                "or leave both blank."))
        if cloud_in is not None:
            if not name:
                raise InvalidEnergySettings("Cloud name", self.tr(
                    "Cloud price: enter the API or model name the prices belong to."))
            if not as_of:
                raise InvalidEnergySettings("Cloud date", self.tr(
                    "Cloud price: enter the date you read these prices (e.g. 2025-01); "
                    "cloud prices change often."))
        if as_of and not _DATE.match(as_of):
            raise InvalidEnergySettings("Cloud date", self.tr(
                "Prices as of: “{d}” is not a date; use YYYY-MM or YYYY-MM-DD.").format(d=as_of))
        return dataclasses.replace(
            self._settings, electricity_price=price, currency=currency,
            grid_g_per_kwh=WORLD_GRID_G_PER_KWH if grid is None else grid, tdp_watts=tdp,
            cloud_name=name, cloud_input_per_million=cloud_in,
            cloud_output_per_million=cloud_out, cloud_currency=cloud_currency or "USD",
            cloud_as_of=as_of)

    def accept(self) -> None:
        """Save only valid settings; otherwise say what is wrong and stay open."""
        try:
            self._result = self.values()
        except InvalidEnergySettings as exc:
            self.error_label.setText(str(exc))
            self.error_label.show()
            self.fit_height()
            return
        self.error_label.hide()
        super().accept()

    def result_settings(self) -> Settings | None:
        """The accepted settings, or None if the dialog was cancelled."""
        return self._result if self.result() == QDialog.DialogCode.Accepted else None


def edit_energy_settings(parent: QWidget | None, settings: Settings, *,
                         meter: HasReasons | None = None) -> Settings | None:
    """Show the dialog modally; the new settings, or None when cancelled."""
    dialog = EnergySettingsDialog(settings, parent, meter=meter)
    try:
        dialog.exec()
        return dialog.result_settings()
    finally:
        dialog.deleteLater()

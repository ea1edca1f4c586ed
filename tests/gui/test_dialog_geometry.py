"""Dialogs open where people can use them (issue 17, bug 6): the Energy and cost window
centred on the main window and wholly on screen, Energy settings wide enough that no
help text is cut (jargon behind "Details"), and a rename prompt that fits its title.

Geometry is checked offscreen: frames inside the screen's available geometry, centres
within a few pixels of the parent's, and labels given the height their text needs."""

from __future__ import annotations

from PySide6.QtCore import QRect
from PySide6.QtWidgets import QApplication, QDialog, QLabel, QMainWindow

from chatdesk.core.energy import ElectricityPrice
from chatdesk.core.energy.cpu_tdp import TdpGuess
from chatdesk.core.history import HistoryStore
from chatdesk.core.settings import Settings
from chatdesk.ui.cost_view import CostView
from chatdesk.ui.energy_settings import EnergySettingsDialog
from chatdesk.ui.rename_dialog import rename_dialog

TDP = TdpGuess(10.0, "AMD EPYC", "per-core, 2 × 5 W")
LOCALE = ElectricityPrice(0.3943, "EUR", "Eurostat nrg_pc_204, Germany", "2024-S2")
CENTRE_SLACK_PX = 4


class StandInMeter:
    source = "estimate"
    measured = False

    def unavailable_reasons(self) -> list[str]:
        return ["RAPL energy counters are readable by root only (CVE-2020-8694). Fix: run "
                "`sudo chmod a+r /sys/class/powercap/intel-rapl:0/energy_uj`"]


def available() -> QRect:
    return QApplication.primaryScreen().availableGeometry()


def main_window(qtbot, x: int, y: int, width: int, height: int) -> QMainWindow:
    window = QMainWindow()
    qtbot.addWidget(window)
    window.setGeometry(x, y, width, height)
    window.show()
    qtbot.waitExposed(window)
    return window


def assert_centred_on_screen(window, parent) -> None:
    """Inside the available area, and as near the parent's centre as that allows."""
    frame, area = window.frameGeometry(), available()
    assert area.contains(frame), (frame, area)
    target = parent.frameGeometry().center()

    def nearest(start: int, size: int, low: int, high: int) -> int:
        return max(low, min(start, high - size + 1))

    left = nearest(target.x() - frame.width() // 2, frame.width(), area.left(), area.right())
    top = nearest(target.y() - frame.height() // 2, frame.height(), area.top(),
                  area.bottom())
    assert abs(frame.left() - left) <= CENTRE_SLACK_PX, (frame, target, area)
    assert abs(frame.top() - top) <= CENTRE_SLACK_PX, (frame, target, area)


def assert_no_label_cut(widget) -> None:
    """Every visible wrapped label got at least the height its text needs at its width."""
    for label in widget.findChildren(QLabel):
        if label.isVisible() and label.wordWrap() and label.text():
            needed = label.heightForWidth(label.width())
            assert label.height() >= needed, (label.text()[:60], label.size(), needed)


def test_energy_and_cost_opens_centred_on_the_main_window(qtbot, tmp_path):
    area = available()
    parent = main_window(qtbot, area.left() + 40, area.top() + 60, 700, 500)
    with HistoryStore.open(tmp_path / "history.db") as history:
        costs = CostView(history, Settings(), parent)
        costs.show()
        qtbot.waitExposed(costs)
        assert_centred_on_screen(costs, parent)
        costs.close()


def test_energy_and_cost_stays_on_screen_near_the_bottom_edge(qtbot, tmp_path):
    """The tour's case: the main window low on the screen; the window opened partly
    below the edge. It is pushed back inside (and shrunk if the screen is small)."""
    area = available()
    parent = main_window(qtbot, area.left() + 100, area.bottom() - 300, 600, 280)
    with HistoryStore.open(tmp_path / "history.db") as history:
        costs = CostView(history, Settings(), parent)
        costs.show()
        qtbot.waitExposed(costs)
        assert_centred_on_screen(costs, parent)
        costs.close()


def test_energy_settings_are_wide_enough_that_no_help_text_is_cut(qtbot):
    parent = main_window(qtbot, 0, 0, 700, 500)
    dialog = EnergySettingsDialog(Settings(), parent, meter=StandInMeter(),
                                  detected_tdp=TDP, locale_price=LOCALE)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert dialog.width() >= 560
    assert available().contains(dialog.frameGeometry())
    assert_no_label_cut(dialog)
    for details in dialog.details:  # opened one by one, then all: still nothing cut
        details.set_open(True)
        qtbot.wait(10)
        assert_no_label_cut(dialog)
    assert available().contains(dialog.frameGeometry())


def test_energy_settings_say_it_plainly_and_keep_the_jargon_behind_details(qtbot):
    dialog = EnergySettingsDialog(Settings(), meter=StandInMeter(), detected_tdp=TDP,
                                  locale_price=LOCALE)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    shown = " ".join(label.text() for label in dialog.findChildren(QLabel)
                     if label.isVisible())
    for jargon in ("RAPL", "TDP", "powercap", "codecarbon", "CVE"):
        assert jargon not in shown, jargon
    assert "What you pay for electricity" in shown
    assert not dialog.price_note.isVisible() and not dialog.tdp_note.isVisible()
    for details in dialog.details:
        assert details.toggle.text() == "Details"
        details.toggle.click()
    assert dialog.price_note.isVisible() and dialog.tdp_note.isVisible()
    shown = " ".join(label.text() for label in dialog.findChildren(QLabel)
                     if label.isVisible())
    assert "powercap" in shown and "TDP" in shown and "codecarbon" in shown


def test_rename_dialog_is_readable_and_its_title_fits(qtbot):
    parent = main_window(qtbot, 50, 50, 700, 500)
    old = "A conversation about the capital of France and other things"
    dialog = rename_dialog(parent, old)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    title_width = dialog.fontMetrics().horizontalAdvance(dialog.windowTitle())
    assert dialog.windowTitle() == "Rename conversation"
    assert dialog.width() >= max(420, title_width + 150)
    assert dialog.textValue() == old
    assert_centred_on_screen(dialog, parent)
    dialog.setTextValue("  Paris  ")
    dialog.accept()
    assert dialog.result() == QDialog.DialogCode.Accepted


def test_rename_from_the_sidebar_uses_the_wide_prompt(qtbot, monkeypatch):
    """conversation_list's rename goes through rename_dialog (a width, a title)."""
    from chatdesk.ui import rename_dialog as module
    from chatdesk.ui.conversation_list import ConversationList

    seen: list[QDialog] = []

    def exec_and_type(self) -> int:
        seen.append(self)
        self.setTextValue("  New name ")
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(module.QInputDialog, "exec", exec_and_type)
    sidebar = ConversationList()
    qtbot.addWidget(sidebar)
    with qtbot.waitSignal(sidebar.rename_requested) as renamed:
        sidebar.ask_rename(7)
    assert renamed.args == [7, "New name"]
    assert seen and seen[0].width() >= 420

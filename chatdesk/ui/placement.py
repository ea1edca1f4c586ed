"""Where a window or dialog opens: centred on its parent, wholly on the parent's screen.

Qt centres a *dialog* on its parent but keeps neither a dialog nor a separate window
(``Qt.WindowType.Window``) on screen: the Energy and cost window opened partly below the
screen's edge. ``place_centered`` shrinks a window that is larger than the available area
(the taskbar and panels left out), centres it on the parent, then pushes it back inside.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSize
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget


def available_area(widget: QWidget) -> QRect:
    """The available geometry of the screen that ``widget`` (or its parent) is on."""
    anchor = widget.parentWidget() or widget
    screen = anchor.screen() or QGuiApplication.primaryScreen()
    return screen.availableGeometry()


def place_centered(window: QWidget, parent: QWidget | None = None) -> None:
    """Size ``window`` to fit the parent's screen and centre it on ``parent``'s frame
    (or on the screen without a parent). Call before the first ``show()``."""
    parent = parent if parent is not None else window.parentWidget()
    area = available_area(parent if parent is not None else window)
    # The frame (title bar, borders) is only known once shown; before that the window
    # manager's typical margins are guessed from a shown parent's frame.
    extra = QSize(0, 0)
    if parent is not None and parent.isVisible():
        extra = parent.frameGeometry().size() - parent.geometry().size()
    room = area.size() - extra
    size = window.size().boundedTo(room).expandedTo(window.minimumSize().boundedTo(room))
    window.resize(size)
    frame = QRect(QPoint(0, 0), size + extra)
    center = parent.frameGeometry().center() if parent is not None else area.center()
    frame.moveCenter(center)
    frame.moveLeft(max(area.left(), min(frame.left(), area.right() - frame.width() + 1)))
    frame.moveTop(max(area.top(), min(frame.top(), area.bottom() - frame.height() + 1)))
    window.move(frame.topLeft())  # move() places the frame's top-left corner

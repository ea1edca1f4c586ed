"""The window's icons: Material Design glyphs from qtawesome, painted in the palette's text
colour at the moment they are drawn, so one QIcon stays crisp at every size and right in
both themes (switching the theme needs no re-setting of icons).

An icon font that cannot load (a broken install, a platform without font support) must not
stop the app: ``icon`` then returns an empty QIcon and every button keeps its words.
"""

from __future__ import annotations

import logging
import os
from functools import cache

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QIconEngine, QPainter, QPalette, QPixmap

log = logging.getLogger(__name__)

# What the window calls an icon -> the Material Design Icons (mdi6) glyph that draws it.
GLYPHS = {
    "send": "mdi6.send",
    "stop": "mdi6.stop",
    "new_chat": "mdi6.message-plus-outline",
    "pin": "mdi6.pin",
    "unpin": "mdi6.pin-off-outline",
    "copy": "mdi6.content-copy",
    "regenerate": "mdi6.refresh",
    "tokens": "mdi6.chart-bar",  # the token view of an answer
    "hood": "mdi6.engine-outline",  # Models › Under the hood
    "edit": "mdi6.pencil-outline",
    "rename": "mdi6.form-textbox",
    "delete": "mdi6.delete-outline",
    "export": "mdi6.export-variant",
    "import": "mdi6.import",
    "search": "mdi6.magnify",
    "settings": "mdi6.cog-outline",
    "models": "mdi6.cube-outline",
    "open": "mdi6.folder-open-outline",
    "energy": "mdi6.lightning-bolt-outline",
    "panel": "mdi6.dock-right",
    "keyboard": "mdi6.keyboard-outline",
    "help": "mdi6.help-circle-outline",
    "about": "mdi6.information-outline",
    "logs": "mdi6.text-box-search-outline",
    "quit": "mdi6.exit-to-app",
    "expand": "mdi6.chevron-right",
    "collapse": "mdi6.chevron-down",
    "attach": "mdi6.paperclip",
    "folder": "mdi6.folder-text-outline",
}


@cache
def _qtawesome():
    """The qtawesome module, or None when it (or its fonts) cannot load here."""
    os.environ.setdefault("QT_API", "pyside6")  # qtpy: the binding chatdesk runs on
    try:
        import qtawesome

        qtawesome.icon(GLYPHS["send"])  # loads the font: fails here if it is going to
    except Exception as exc:  # any failure means "no icons", never "no app"
        log.warning("icons unavailable (%s); buttons keep their words", exc)
        return None
    return qtawesome


def available() -> bool:
    return QGuiApplication.instance() is not None and _qtawesome() is not None


def glyph_color(mode: QIcon.Mode) -> QColor:
    """The application palette's colour for icons in ``mode``, read when painting."""
    palette = QGuiApplication.palette()
    group = (QPalette.ColorGroup.Disabled if mode == QIcon.Mode.Disabled
             else QPalette.ColorGroup.Active)
    role = (QPalette.ColorRole.HighlightedText if mode == QIcon.Mode.Selected
            else QPalette.ColorRole.ButtonText)
    return palette.color(group, role)


class PaletteIconEngine(QIconEngine):
    """Paints one glyph in the current palette's colour; nothing is cached per theme."""

    def __init__(self, glyph: str) -> None:
        super().__init__()
        self.glyph = glyph

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode,
              state: QIcon.State) -> None:
        qta = _qtawesome()
        if qta is None:
            return
        qta.icon(self.glyph, color=glyph_color(mode)).paint(
            painter, rect, Qt.AlignmentFlag.AlignCenter, QIcon.Mode.Normal, state)

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        pixmap = QPixmap(size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        self.paint(painter, QRect(0, 0, size.width(), size.height()), mode, state)
        painter.end()
        return pixmap

    def clone(self) -> QIconEngine:
        return PaletteIconEngine(self.glyph)


def icon(name: str) -> QIcon:
    """The icon for ``name`` (a GLYPHS key); an empty QIcon when icons are unavailable."""
    if not available():
        return QIcon()
    return QIcon(PaletteIconEngine(GLYPHS[name]))

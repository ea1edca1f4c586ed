"""Light, dark, or follow the system: Fusion style with an explicit palette, so the app
looks the same on every desktop and the dark theme is really dark."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

_DARK = {
    QPalette.ColorRole.Window: "#1f2329",
    QPalette.ColorRole.WindowText: "#e6e6e6",
    QPalette.ColorRole.Base: "#16191d",
    QPalette.ColorRole.AlternateBase: "#23272e",
    QPalette.ColorRole.ToolTipBase: "#2d333b",
    QPalette.ColorRole.ToolTipText: "#e6e6e6",
    QPalette.ColorRole.Text: "#e6e6e6",
    QPalette.ColorRole.Button: "#2a2f36",
    QPalette.ColorRole.ButtonText: "#e6e6e6",
    QPalette.ColorRole.BrightText: "#ff6b6b",
    QPalette.ColorRole.Link: "#6cb6ff",
    QPalette.ColorRole.Highlight: "#2f6feb",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.PlaceholderText: "#8b949e",
}


def system_prefers_dark() -> bool:
    hints = QGuiApplication.styleHints()
    return hints.colorScheme() == Qt.ColorScheme.Dark


def dark_palette() -> QPalette:
    palette = QPalette()
    for role, color in _DARK.items():
        palette.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText,
                 QPalette.ColorRole.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6e7681"))
    return palette


def is_dark(theme: str) -> bool:
    return theme == "dark" or (theme == "system" and system_prefers_dark())


def apply_theme(app: QApplication, theme: str) -> None:
    """Apply "light", "dark" or "system" (which follows later system changes too)."""
    app.setStyle("Fusion")
    app.setPalette(dark_palette() if is_dark(theme) else app.style().standardPalette())
    app.setProperty("chatdesk_theme", theme)
    hints = QGuiApplication.styleHints()
    if not app.property("chatdesk_theme_hooked"):
        hints.colorSchemeChanged.connect(lambda _scheme: _follow_system(app))
        app.setProperty("chatdesk_theme_hooked", True)


def _follow_system(app: QApplication) -> None:
    if app.property("chatdesk_theme") == "system":
        apply_theme(app, "system")

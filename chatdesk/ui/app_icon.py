"""The app icon as a QIcon, from the packaged PNGs (every size, so Qt picks a sharp one for
the title bar, the dock and the About dialog without needing its SVG plugin)."""

from __future__ import annotations

from PySide6.QtGui import QIcon

from chatdesk.core.assets import icon_files


def app_icon() -> QIcon:
    icon = QIcon()
    for path in icon_files().values():
        icon.addFile(str(path))
    return icon

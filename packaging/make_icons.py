"""Export assets/chatdesk.svg to the PNG sizes a desktop needs (16 to 512 px).

Run it after editing the SVG, and commit the PNGs with it:
    QT_QPA_PLATFORM=offscreen .venv/bin/python packaging/make_icons.py

Qt's own SVG renderer draws them (already a dependency, so no extra tool to install), and
a test checks that every PNG is there at its size.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chatdesk.core.assets import ICON_SIZES  # noqa: E402  (after the path is set)

SVG = ROOT / "assets" / "chatdesk.svg"
ICONS = ROOT / "assets" / "icons"


def render(size: int, out: Path) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"make_icons: {SVG} is not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    if not image.save(str(out), "PNG"):
        raise SystemExit(f"make_icons: could not write {out}")


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    ICONS.mkdir(parents=True, exist_ok=True)
    for size in ICON_SIZES:
        out = ICONS / f"chatdesk-{size}.png"
        render(size, out)
        print(f"{out.relative_to(ROOT)}  {size}x{size}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

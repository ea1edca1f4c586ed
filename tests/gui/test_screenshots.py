"""The README's screenshots come from a script anyone can rerun: it must keep working."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from PySide6.QtGui import QImage

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "make_screenshots.py"


def test_the_screenshot_script_saves_the_four_pictures(qtbot, tmp_path):
    spec = importlib.util.spec_from_file_location("make_screenshots", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    saved = script.main(tmp_path, token_delay_s=0.0)
    sizes = {path.name: QImage(str(path)).size().toTuple() for path in saved}
    assert sizes == {"main-window-light-1600x1000.png": (1600, 1000),
                     "main-window-dark-1600x1000.png": (1600, 1000),
                     "main-window-light-800x600.png": (800, 600),
                     "main-window-dark-800x600.png": (800, 600)}
    light, dark = (mean_lightness(tmp_path / f"main-window-{theme}-800x600.png")
                   for theme in ("light", "dark"))
    assert light > 180 > 80 > dark  # the themes really differ, all over the window


def mean_lightness(path: Path) -> float:
    image = QImage(str(path))
    samples = [image.pixelColor(x, y).lightness()
               for x in range(0, image.width(), 10) for y in range(0, image.height(), 10)]
    return sum(samples) / len(samples)

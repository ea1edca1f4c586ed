"""Where the packaged assets (icons, desktop entry, metainfo) are.

They travel inside the package as chatdesk/assets: a symlink to the top-level assets/ in a
checkout, real files in a wheel, and the same relative place in a PyInstaller bundle, so
one lookup works in all three (like chatdesk/models.json, core/catalog.py).
"""

from __future__ import annotations

from pathlib import Path

import chatdesk

ICON_SIZES = (16, 32, 48, 64, 128, 256, 512)


def assets_dir() -> Path:
    return Path(chatdesk.__file__).resolve().parent / "assets"


def icon_files() -> dict[int, Path]:
    """The app icon's PNGs by pixel size (those present)."""
    icons = assets_dir() / "icons"
    found = {size: icons / f"chatdesk-{size}.png" for size in ICON_SIZES}
    return {size: path for size, path in found.items() if path.is_file()}

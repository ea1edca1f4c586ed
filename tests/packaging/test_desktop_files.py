"""The icon, the desktop entry, the MIME type and the AppStream metainfo in assets/."""

from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from packaging_helpers import ROOT, tool

from chatdesk.core.assets import ICON_SIZES, assets_dir, icon_files

ASSETS = ROOT / "assets"


def test_assets_are_found_through_the_package():
    assert assets_dir().resolve() == ASSETS.resolve()
    assert sorted(icon_files()) == sorted(ICON_SIZES)


def test_every_icon_size_is_exported_at_its_size():
    from PySide6.QtGui import QImage

    for size, path in icon_files().items():
        image = QImage(str(path))
        assert (image.width(), image.height()) == (size, size), path
        assert image.hasAlphaChannel()


def test_desktop_entry_validates_and_opens_gguf():
    completed = subprocess.run([tool("desktop-file-validate"), str(ASSETS / "chatdesk.desktop")],
                               capture_output=True, text=True)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.strip() == ""  # no hints either
    entry = (ASSETS / "chatdesk.desktop").read_text("utf-8")
    assert re.search(r"^Exec=chatdesk %f$", entry, re.M)
    assert re.search(r"^MimeType=application/x-gguf;$", entry, re.M)
    assert re.search(r"^Icon=chatdesk$", entry, re.M)


def test_mime_type_matches_gguf_files(tmp_path: Path):
    xml = ASSETS / "chatdesk-mime.xml"
    ns = {"m": "http://www.freedesktop.org/standards/shared-mime-info"}
    mime = ET.parse(xml).getroot().find("m:mime-type", ns)
    assert mime is not None and mime.get("type") == "application/x-gguf"
    assert mime.find("m:glob", ns).get("pattern") == "*.gguf"
    database = tmp_path / "mime"
    (database / "packages").mkdir(parents=True)
    (database / "packages" / "chatdesk.xml").write_bytes(xml.read_bytes())
    completed = subprocess.run([tool("update-mime-database"), str(database)],
                               capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    assert "application/x-gguf:*.gguf" in (database / "globs2").read_text("utf-8")
    assert "application/x-gguf" in (database / "magic").read_bytes().decode("latin-1")


def test_metainfo_validates_and_its_screenshot_is_in_docs():
    metainfo = ASSETS / "chatdesk.metainfo.xml"
    completed = subprocess.run([tool("appstreamcli"), "validate", "--no-net", str(metainfo)],
                               capture_output=True, text=True)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    root = ET.parse(metainfo).getroot()
    assert root.findtext("launchable") == "chatdesk.desktop"
    images = [image.text or "" for image in root.iterfind("screenshots/screenshot/image")]
    assert images
    for image in images:  # the URL's path is the file's place in this repository
        assert (ROOT / image.split("chatdesk.invalid/", 1)[1]).is_file(), image

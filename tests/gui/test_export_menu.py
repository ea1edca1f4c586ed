"""File > Export conversation…, Export all…, Import… and the sidebar's Export…, driven
from the window (file dialogs answered by the test, work done in the background)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_engine import FakeEngine
from PySide6.QtWidgets import QFileDialog, QInputDialog
from window_driver import ask

from chatdesk.app import build_window
from chatdesk.core.settings import Settings
from chatdesk.worker import EngineHost


@pytest.fixture
def window(qtbot, app_paths, model_file):
    win = build_window(EngineHost(FakeEngine(), app_paths.models_dir), app_paths, Settings())
    qtbot.addWidget(win)
    win.show()
    win.load_model(str(model_file))
    qtbot.waitUntil(lambda: win.session.model is not None, timeout=2000)
    ask(qtbot, win, "What is the capital of France? <script>alert(1)</script>")
    yield win
    win.close()


def test_export_conversation_from_the_menu_writes_markdown(qtbot, window, tmp_path: Path,
                                                            monkeypatch):
    target = tmp_path / "out.md"
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *a, **k: (str(target), "Markdown (*.md)"))
    with qtbot.waitSignal(window.exchange.exported, timeout=5000):
        window.export_action.trigger()
    text = target.read_text(encoding="utf-8")
    assert "What is the capital of France?" in text
    assert "Paris is the capital of France." in text
    assert "Exported" in window.statusBar().currentMessage()


def test_sidebar_export_as_html_escapes_the_message(qtbot, window, tmp_path: Path,
                                                    monkeypatch):
    target = tmp_path / "chat.html"
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *a, **k: (str(target), "HTML page (*.html)"))
    with qtbot.waitSignal(window.exchange.exported, timeout=5000):
        window.sidebar.export_requested.emit(window.session.conversation_id)
    page = target.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)</script>" not in page


def test_export_all_then_import_the_json_back(qtbot, window, tmp_path: Path, monkeypatch):
    folder = tmp_path / "all"
    folder.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    monkeypatch.setattr(QInputDialog, "getItem",
                        lambda *a, **k: ("chatdesk JSON (lossless) (.json)", True))
    with qtbot.waitSignal(window.exchange.exported, timeout=5000) as exported:
        window.exchange.export_all()
    (path,) = exported.args[0]
    assert path.suffix == ".json" and path.parent == folder

    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    before = window.sidebar.list.count()
    with qtbot.waitSignal(window.exchange.imported, timeout=5000) as imported:
        window.exchange.import_chats()
    (new_id,) = imported.args[0]
    assert window.sidebar.list.count() == before + 1
    assert window.session.conversation_id == new_id  # the imported chat is opened
    assert [m.content for m in window.session.thread][-1] == "Paris is the capital of France."


def test_a_bad_import_shows_a_clear_error_and_imports_nothing(qtbot, window, tmp_path: Path,
                                                              monkeypatch):
    bad = tmp_path / "notes.json"
    bad.write_text('{"hello": "not a chat"}', encoding="utf-8")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(bad), ""))
    before = window.sidebar.list.count()
    window.exchange.import_chats()
    qtbot.waitUntil(window.error_banner.isVisible, timeout=5000)
    assert "Import failed" in window.error_banner.text()
    assert window.sidebar.list.count() == before


def test_importing_the_same_chat_twice_skips_it_and_says_so(qtbot, window, tmp_path: Path,
                                                            monkeypatch):
    """Issue 17, bug 9: no second identical chat, and "1 conversation", not "1 ...s"."""
    folder = tmp_path / "all"
    folder.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    monkeypatch.setattr(QInputDialog, "getItem",
                        lambda *a, **k: ("chatdesk JSON (lossless) (.json)", True))
    with qtbot.waitSignal(window.exchange.exported, timeout=5000) as exported:
        window.exchange.export_all()
    (path,) = exported.args[0]
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    before = window.sidebar.list.count()
    with qtbot.waitSignal(window.exchange.imported, timeout=5000):
        window.exchange.import_chats()
    assert window.statusBar().currentMessage() == "Imported 1 conversation."
    with qtbot.waitSignal(window.exchange.imported, timeout=5000) as again:
        window.exchange.import_chats()
    assert list(again.args[0]) == []
    assert window.statusBar().currentMessage() == "Skipped 1 conversation already imported."
    assert window.sidebar.list.count() == before + 1

"""File dialogs open where the user last was, with the format last chosen (issue 17):
export, export all, import and open model, remembered in the settings file."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_engine import FakeEngine
from PySide6.QtWidgets import QFileDialog, QInputDialog
from window_driver import ask

from chatdesk.app import build_window
from chatdesk.core.settings import Settings, load_settings
from chatdesk.worker import EngineHost


@pytest.fixture
def window(qtbot, app_paths, model_file):
    win = build_window(EngineHost(FakeEngine(), app_paths.models_dir), app_paths, Settings())
    qtbot.addWidget(win)
    win.show()
    win.load_model(str(model_file))
    qtbot.waitUntil(lambda: win.session.model is not None, timeout=2000)
    ask(qtbot, win, "What is the capital of France?")
    yield win
    win.close()


class Answers:
    """Stands in for a QFileDialog static method: records what it was asked, answers."""

    def __init__(self, *answers) -> None:
        self.answers, self.calls = list(answers), []

    def __call__(self, *args):
        self.calls.append(args)
        return self.answers.pop(0)


def test_export_remembers_the_folder_and_the_format(qtbot, window, tmp_path: Path,
                                                    monkeypatch, app_paths):
    folder = tmp_path / "exports"
    folder.mkdir()
    save = Answers((str(folder / "chat.html"), "HTML page (*.html *.htm)"), ("", ""))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", save)
    conversation = window.session.conversation_id
    with qtbot.waitSignal(window.exchange.exported, timeout=5000):
        window.exchange.export_conversation(conversation, "Paris")
    window.exchange.export_conversation(conversation, "Paris")  # the second dialog
    first, second = save.calls
    assert Path(first[2]).parent == Path.home() and first[2].endswith("Paris.md")
    assert Path(second[2]) == folder / "Paris.html"  # the folder and format of last time
    assert second[4] == "HTML page (*.html *.htm)"  # that format's filter is selected
    saved = load_settings(app_paths.settings_file)  # on disk, for the next start
    assert saved.file_dialog_folders["export"] == str(folder)
    assert saved.last_export_format == "html"

    pick = Answers("")
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", pick)
    items = Answers(("", False))
    monkeypatch.setattr(QInputDialog, "getItem", items)
    window.exchange.export_all()
    assert pick.calls[0][2] == str(folder)


def test_import_and_open_model_remember_their_folders(qtbot, window, tmp_path: Path,
                                                      monkeypatch, app_paths, model_file):
    chats = tmp_path / "downloads"
    chats.mkdir()
    bad = chats / "notes.json"
    bad.write_text("{}", encoding="utf-8")
    opened = Answers((str(bad), ""), ("", ""), (str(model_file), ""), ("", ""))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", opened)
    window.exchange.import_chats()
    qtbot.waitUntil(lambda: not window.exchange.busy, timeout=5000)
    window.exchange.import_chats()
    assert opened.calls[0][2] == str(Path.home())
    assert opened.calls[1][2] == str(chats)  # remembered even though the file was bad

    window.choose_model_file()
    qtbot.waitUntil(lambda: window.session.model is not None, timeout=2000)
    window.choose_model_file()
    assert opened.calls[2][2] == str(app_paths.models_dir)  # the first time: models dir
    assert opened.calls[3][2] == str(model_file.parent)
    assert load_settings(app_paths.settings_file).file_dialog_folders == {
        "import": str(chats), "model": str(model_file.parent)}


def test_a_remembered_folder_that_is_gone_falls_back(qtbot, window, tmp_path: Path,
                                                     monkeypatch):
    window.session.store.update(file_dialog_folders={"import": str(tmp_path / "gone")})
    opened = Answers(("", ""))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", opened)
    window.exchange.import_chats()
    assert opened.calls[0][2] == str(Path.home())

"""The first-run card in the window's empty chat, with fake memory readings: it fits, it is
tight, nothing fits, offline; it stays in view while its download runs and the user chats
on, and one click switches. (The real download against a stand-in Hub:
tests/integration/test_first_run_card.py.)"""

from __future__ import annotations

import pytest
from fake_engine import FakeEngine
from PySide6.QtCore import Qt
from window_driver import ask

from chatdesk.app import build_window
from chatdesk.core.catalog import load_catalog, packaged_catalog_path
from chatdesk.core.fit import MemoryInfo
from chatdesk.core.recommend import Reach, Reachability
from chatdesk.core.settings import Settings
from chatdesk.download_manager import DownloadJob, JobState, JobUpdate
from chatdesk.ui.first_run_card import FirstRunCard
from chatdesk.ui.main_window import MainWindow
from chatdesk.worker import EngineHost

GB = 10**9
ONLINE = Reachability(Reach.ONLINE, "test")
LEFT = Qt.MouseButton.LeftButton


def memory(available_gb: float, total_gb: float = 16) -> MemoryInfo:
    return MemoryInfo(total_ram=int(total_gb * GB), available_ram=int(available_gb * GB),
                      free_vram=None)


@pytest.fixture
def window(qtbot, app_paths, model_file, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # never the network, whatever a test forgets
    made = build_window(EngineHost(FakeEngine(), app_paths.models_dir), app_paths, Settings(),
                        load_catalog(packaged_catalog_path()))
    made.fake_model = str(model_file)
    qtbot.addWidget(made)
    made.show()
    qtbot.waitExposed(made)
    yield made
    made.close()
    assert not made.session.host.is_running()


def offer(qtbot, window: MainWindow, **readings) -> FirstRunCard:
    card = window.first_run.offer(**readings)
    assert card is not None
    with qtbot.waitSignal(card.checked, timeout=10_000):
        pass
    return card


def test_build_window_alone_offers_nothing(window: MainWindow):
    """The check is started by app.main only: a window as the tests build it has no card
    and no check thread."""
    assert window.first_run.card is None


def test_it_fits_recommends_one_download_with_size_and_time(qtbot, window: MainWindow):
    card = offer(qtbot, window, memory=memory(4.0), reachability=ONLINE)
    assert card.isVisible() and window.empty_hint.isVisible()
    assert card.parent() is not None and window.chat_column.isAncestorOf(card)
    text = card.text.text()
    # 4 GB free: the biggest catalog model that fits with headroom (see test_recommend).
    assert "<b>Qwen2.5 3B Instruct</b> (3B parameters, up to " in text
    assert "fits this machine." in text and "just" not in text
    assert "The download takes about " in text and "assuming 10 MB/s" in text
    assert card.download_button.isVisible() and card.dismiss_button.isVisible()


def test_tight_says_so(qtbot, window: MainWindow):
    # 1 GB free of 1.4 GB: the 0.5B model (0.9 GB) loads but leaves no headroom, and
    # every other one needs more than 80 % of all the RAM.
    card = offer(qtbot, window, memory=memory(1.0, total_gb=1.4), reachability=ONLINE)
    text = card.text.text()
    assert "<b>Qwen2.5 0.5B Instruct</b>" in text
    assert "fits this machine, just: close other programs before you load it" in text
    assert card.download_button.isVisible()


def test_nothing_fits_is_one_sentence(qtbot, window: MainWindow):
    card = offer(qtbot, window, memory=memory(0.2, total_gb=0.5), reachability=ONLINE)
    assert card.isVisible()
    assert card.text.text().startswith("No catalog model fits this machine's free memory")
    assert not card.download_button.isVisible() and not card.title.isVisible()


def test_offline_says_so_plainly_and_stays_out_of_the_way(qtbot, window: MainWindow):
    card = offer(qtbot, window, memory=memory(8.0))  # the real check: HF_HUB_OFFLINE=1
    assert card.isVisible()
    assert card.text.text() == "You are offline: the bundled model works without a network."
    for widget in (card.title, card.download_button, card.progress, card.switch_button,
                   card.dismiss_button):
        assert not widget.isVisible()
    window.load_model(window.fake_model)
    qtbot.waitUntil(lambda: window.session.model is not None, timeout=2000)
    ask(qtbot, window, "Hello")  # chatting: the sentence goes away with the empty hint
    assert not card.isVisible() and not window.empty_hint.isVisible()
    window.new_chat()  # an empty chat again: it is back
    assert card.isVisible()


def test_a_download_stays_in_view_while_chatting_and_one_click_switches(
        qtbot, window: MainWindow, app_paths, monkeypatch: pytest.MonkeyPatch):
    card = offer(qtbot, window, memory=memory(4.0), reachability=ONLINE)
    manager = window.dialogs.download_manager()
    job = DownloadJob(7, "Qwen2.5 3B Instruct", "org/repo", "qwen.gguf")
    enqueued: list[tuple] = []

    def enqueue(*args, **kwargs) -> DownloadJob:  # the real download: the integration test
        enqueued.append(args)
        return job

    monkeypatch.setattr(manager, "enqueue", enqueue)
    qtbot.mouseClick(card.download_button, LEFT)
    assert enqueued and enqueued[0][0] == "Qwen2.5 3B Instruct"
    assert card.progress.isVisible() and not card.download_button.isVisible()

    window.load_model(window.fake_model)
    qtbot.waitUntil(lambda: window.session.model is not None, timeout=2000)
    ask(qtbot, window, "Hello")  # the user chats on with the small model meanwhile
    assert card.isVisible() and card.progress.isVisible()

    installed = app_paths.models_dir / "qwen.gguf"
    installed.write_bytes(b"GGUF")
    manager.update.emit(JobUpdate(job, JobState.DONE, path=str(installed)))
    qtbot.waitUntil(card.switch_button.isVisible, timeout=2000)
    assert card.switch_button.text() == "Switch to Qwen2.5 3B Instruct"
    assert window.isAncestorOf(card) and card.isVisible()

    qtbot.mouseClick(card.switch_button, LEFT)
    qtbot.waitUntil(lambda: window.session.model is not None
                    and window.session.model.path == str(installed), timeout=2000)
    assert window.first_run.card is None  # done: the card is gone
    # With a downloaded model installed, there is nothing to offer any more.
    assert window.first_run.offer(memory=memory(4.0), reachability=ONLINE) is None


def test_not_now_hides_it(qtbot, window: MainWindow):
    card = offer(qtbot, window, memory=memory(4.0), reachability=ONLINE)
    qtbot.mouseClick(card.dismiss_button, LEFT)
    assert window.first_run.card is None and not card.isVisible()

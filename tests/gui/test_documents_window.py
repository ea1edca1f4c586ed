"""Chat with your documents in the window (fake engine, real files, real SQLite): a PDF
dropped or pasted or attached shows as a chip, the question gets its passages, the answer
lists exactly them as Sources and each opens in context; a folder of 2,000 files is
indexed in the background while the GUI thread keeps ticking."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from fake_engine import FakeEngine
from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDropEvent

from chatdesk.app import build_window
from chatdesk.core.documents.grounding import grounded_question
from chatdesk.core.history import HistoryStore
from chatdesk.core.settings import Settings
from chatdesk.worker import EngineHost

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
import itertools

from documents_files import write_pdf


@pytest.fixture
def window(qtbot, app_paths, model_file):
    engine = FakeEngine()
    window = build_window(EngineHost(engine, app_paths.models_dir), app_paths, Settings())
    window.engine = engine
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.load_model(str(model_file))
    qtbot.waitUntil(lambda: window.session.model is not None, timeout=2000)
    yield window
    window.close()
    assert not window.session.host.is_running()


def _pdf(tmp_path: Path) -> Path:
    return write_pdf(tmp_path / "harbor.pdf", ["The Harbor Report: boats and weather.",
                                               "The lighthouse keeper is Marguerite Vance."])


def test_a_dropped_pdf_grounds_the_answer_and_its_sources_open(qtbot, window, tmp_path,
                                                               monkeypatch):
    pdf = _pdf(tmp_path)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(pdf)), QUrl("https://example.com/x.pdf")])
    drop = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(drop)
    bar = window.documents.bar
    qtbot.waitUntil(lambda: len(bar.chips) == 1, timeout=5000)
    assert bar.isVisible() and "harbor.pdf · 2 pages" in bar.chips[0].text()

    session = window.session
    window.send_message("Who is the lighthouse keeper?")
    qtbot.waitUntil(lambda: not session.busy, timeout=5000)
    assert bar.chips == [] and not bar.isVisible()  # the files went with the message

    sent = window.engine.chat_calls[-1][0]
    question, answer = session.thread[-2:]
    sources = session.sources_for(answer.id)
    assert [s.page for s in sources] == [1, 2] and all(s.whole for s in sources)
    assert sent[-1].content == grounded_question("Who is the lighthouse keeper?", sources)
    with HistoryStore.open(window.paths.database, check_integrity=False) as history:
        assert history.message_sources([answer.id])[answer.id] == sources  # kept as given
        assert [f.name for f in history.message_files([question.id])[question.id]] == [
            "harbor.pdf"]

    view = window.chat_view
    assert "📎 harbor.pdf · 2 pages" in view.plain_text()
    assert "Sources: · [1] harbor.pdf p. 1 · [2] harbor.pdf p. 2" in view.plain_text()
    opened = []
    monkeypatch.setattr("chatdesk.ui.documents_actions.open_file", opened.append)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                     pos=view.target_rect(question.id, "footer:0").center())
    assert opened and opened[0].read_bytes() == pdf.read_bytes()
    assert opened[0].name == "harbor.pdf"

    second = view.target_rect(answer.id, "footer:2")  # "Sources:", [1], [2]
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=second.center())
    dialog = window.documents.source_dialog
    assert dialog is not None and dialog.isVisible()
    assert "harbor.pdf, page 2" in dialog.windowTitle()
    shown = dialog.text.toPlainText()
    assert "Marguerite Vance" in shown and "The Harbor Report" in shown  # in its context
    dialog.close()


def test_pasted_and_refused_files_say_why_and_keep_the_rest(qtbot, window, tmp_path):
    good = tmp_path / "notes.md"
    good.write_text("# Notes\n\nThe code word is heliotrope.", encoding="utf-8")
    scan = write_pdf(tmp_path / "scan.pdf", [""], text_layer=False)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(good)), QUrl.fromLocalFile(str(scan))])
    window.input_box.insertFromMimeData(mime)
    qtbot.waitUntil(lambda: len(window.documents.bar.chips) == 1, timeout=5000)
    qtbot.waitUntil(window.error_banner.isVisible, timeout=2000)
    banner = window.error_banner
    texts = " ".join(label.text() for label in banner.findChildren(type(window.edit_label)))
    assert "scan.pdf: no text to read: OCR is not supported" in texts
    assert window.input_box.toPlainText() == ""  # no file path pasted as text
    window.documents.bar.chips[0].click()  # ✕ takes it off again
    assert window.session.documents.pending == []


def test_the_context_meter_counts_the_documents(qtbot, window, tmp_path):
    window.session.attach([_pdf(tmp_path)])
    qtbot.waitUntil(lambda: bool(window.session.documents.pending), timeout=5000)
    window.input_box.setPlainText("Who keeps the lighthouse?")
    window.context_meter.count_now()
    qtbot.waitUntil(lambda: "documents ≈" in window.context_meter.text(), timeout=3000)


def test_a_folder_of_2000_files_indexes_in_the_background(qtbot, window, tmp_path, capsys):
    folder = tmp_path / "knowledge"
    for n in range(2000):
        sub = folder / f"part{n % 20}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"file{n}.txt").write_text(
            f"# File {n}\n\nThis is note number {n}. Its secret animal is animal{n}.\n\n"
            + "Filler sentence about nothing in particular. " * 20, encoding="utf-8")
    session = window.session
    progress, done = [], []
    session.documents.folder_progress.connect(progress.append)
    session.documents.folders_indexed.connect(done.append)
    ticks: list[float] = []
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(5)  # the UI bench's stall timer
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    started = time.perf_counter()
    session.add_knowledge_folder(str(folder))
    assert session.documents.indexing
    qtbot.waitUntil(lambda: bool(done), timeout=240_000)
    elapsed = time.perf_counter() - started
    timer.stop()
    (report,) = done[0]
    assert (report.files, report.read, report.failed, report.cancelled) == (2000, 2000, (), False)
    assert len(progress) > 1 and progress[-1].done == 2000  # shown while it ran
    gaps = [(b - a) * 1000 for a, b in itertools.pairwise(ticks)]
    assert len(ticks) > 10  # the GUI thread kept running its timers meanwhile
    with capsys.disabled():
        print(f"\n2,000 files indexed in {elapsed:.1f} s ({2000 / elapsed:.0f} files/s); "
              f"GUI stall p99 {sorted(gaps)[int(0.99 * (len(gaps) - 1))]:.1f} ms, "
              f"max {max(gaps):.1f} ms over {len(ticks)} ticks")
    assert str(folder) in session.folders
    window.send_message("Which animal is in note 1234?")
    qtbot.waitUntil(lambda: not session.busy, timeout=5000)
    answer = session.thread[-1]
    files = [s.file for s in session.sources_for(answer.id)]
    assert "knowledge/part14/file1234.txt" in files  # 1234 % 20 == 14


def test_indexing_can_be_cancelled_and_keeps_what_it_read(qtbot, window, tmp_path):
    folder = tmp_path / "big"
    folder.mkdir()
    for n in range(3000):
        (folder / f"f{n}.md").write_text(f"note {n}", encoding="utf-8")
    session = window.session
    done = []
    session.documents.folders_indexed.connect(done.append)
    session.add_knowledge_folder(str(folder))
    qtbot.waitUntil(lambda: session.documents.indexing, timeout=1000)
    window.documents.indexing.cancel_button.click()
    qtbot.waitUntil(lambda: bool(done), timeout=60_000)
    assert done[0][0].cancelled or done[0][0].read == 3000  # it may have finished first
    assert not session.documents.indexing
    assert session.index_folders()  # the next run goes on from there
    qtbot.waitUntil(lambda: len(done) == 2, timeout=120_000)
    assert done[1][0].files == 3000 and not done[1][0].cancelled

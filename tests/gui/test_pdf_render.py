"""PDF export through Qt: a real PDF of the HTML export, offscreen, inside the test app."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QSize
from PySide6.QtPdf import QPdfDocument

from chatdesk.core.exchange import export_conversation
from chatdesk.core.history import HistoryStore, NewMessage
from chatdesk.ui.pdf_export import ensure_gui_application, export_pdf, render_pdf

TEXT = "Bonjour <script>alert(1)</script> — naïve café 🙂"


def _history(tmp_path: Path, n: int = 6) -> tuple[HistoryStore, int]:
    store = HistoryStore.open(tmp_path / "h.sqlite3")
    messages = [NewMessage(i, i - 1 if i else None, "user" if i % 2 == 0 else "assistant",
                           f"{TEXT} {i}\n\n```python\nprint({i})\n```", model="m")
                for i in range(n)]
    return store, store.import_conversation("PDF: test/1", messages).id


def _page_text(path: Path) -> tuple[int, str]:
    document = QPdfDocument()
    document.load(str(path))
    text = "".join(document.getAllText(page).text() for page in range(document.pageCount()))
    count = document.pageCount()
    document.close()
    return count, text


def test_export_pdf_writes_a_real_pdf_with_the_text(qtbot, tmp_path):
    store, cid = _history(tmp_path)
    try:
        path = export_pdf(store, cid, tmp_path)
    finally:
        store.close()
    assert path.name == "PDF_ test_1.pdf"
    data = path.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 5_000 and b"%%EOF" in data[-64:]
    pages, text = _page_text(path)
    assert pages >= 1
    assert "Bonjour <script>alert(1)</script>" in text  # escaped markup shows as text
    assert "print(5)" in text and "PDF: test/1" in text


def test_the_core_api_delegates_pdf_and_never_overwrites(qtbot, tmp_path):
    store, cid = _history(tmp_path)
    try:
        first = export_conversation(store, cid, "pdf", tmp_path / "out.pdf")
        second = export_conversation(store, cid, "pdf", tmp_path / "out.pdf")
    finally:
        store.close()
    assert (first.name, second.name) == ("out.pdf", "out (2).pdf")


def test_render_pdf_renders_pages_that_are_not_blank(qtbot, tmp_path):
    assert ensure_gui_application() is not None
    path = tmp_path / "r.pdf"
    path.write_bytes(render_pdf("<h1>Title</h1>" + "<p>line</p>" * 200, title="t"))
    document = QPdfDocument()
    document.load(str(path))
    assert document.pageCount() >= 2  # 200 paragraphs do not fit on one page
    image = document.render(0, QSize(200, 280))
    colors = {image.pixel(x, y) for x in range(0, 200, 4) for y in range(0, 280, 4)}
    document.close()
    assert len(colors) > 1  # something is drawn


def test_pdf_of_a_long_conversation(qtbot, tmp_path):
    store, cid = _history(tmp_path, n=1000)
    try:
        start = time.perf_counter()
        path = export_pdf(store, cid, tmp_path / "long.pdf")
        took = time.perf_counter() - start
    finally:
        store.close()
    pages, _ = _page_text(path)
    print(f"\nPDF of 1,000 messages: {took:.2f} s, {pages} pages, "
          f"{path.stat().st_size / 1e6:.1f} MB")
    assert pages > 20

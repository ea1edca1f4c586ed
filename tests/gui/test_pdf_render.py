"""PDF export through Qt: a real PDF of the HTML export's paged form, offscreen, inside the
test app: its text, its bubbles, and messages kept with their headings across pages."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QSize
from PySide6.QtGui import QColor
from PySide6.QtPdf import QPdfDocument

from chatdesk.core.exchange import export_conversation, import_file
from chatdesk.core.exchange.html import BUBBLES
from chatdesk.core.history import HistoryStore, NewMessage
from chatdesk.pdf_render import (
    MIN_SPLIT_PX,
    ensure_gui_application,
    export_pdf,
    register,
    render_pdf,
)


@pytest.fixture(autouse=True)
def _pdf_registered() -> None:
    register()  # as the app and the CLI do at start

TEXT = "Bonjour <script>alert(1)</script> — naïve café 🙂"


def _history(tmp_path: Path, n: int = 6) -> tuple[HistoryStore, int]:
    store = HistoryStore.open(tmp_path / "h.sqlite3")
    messages = [NewMessage(i, i - 1 if i else None, "user" if i % 2 == 0 else "assistant",
                           f"{TEXT} {i}\n\n```python\nprint({i})\n```", model="m")
                for i in range(n)]
    return store, store.import_conversation("PDF: test/1", messages).id


def _pages(path: Path) -> list[str]:
    document = QPdfDocument()
    document.load(str(path))
    pages = [document.getAllText(page).text() for page in range(document.pageCount())]
    document.close()
    return pages


def _page_text(path: Path) -> tuple[int, str]:
    pages = _pages(path)
    return len(pages), "".join(pages)


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


def _chat(tmp_path: Path, bodies: list[str]) -> tuple[HistoryStore, int]:
    store = HistoryStore.open(tmp_path / "chat.sqlite3")
    messages = [NewMessage(i, i - 1 if i else None, "user" if i % 2 == 0 else "assistant",
                           body, model="m") for i, body in enumerate(bodies)]
    return store, store.import_conversation("Kept together", messages).id


def test_no_heading_is_left_at_the_bottom_of_a_page(qtbot, tmp_path):
    """Every message starts with a marker: a heading ('You ·', 'Assistant ·') on a page
    whose marker is on the next page would be a heading stranded there."""
    lengths = [3, 40, 2, 90, 5, 25, 1, 60, 4, 33, 2, 70, 6, 12, 3, 45] * 2
    bodies = [f"M{i:02d} " + "words in a line of text. " * n for i, n in enumerate(lengths)]
    store, cid = _chat(tmp_path, bodies)
    try:
        path = export_pdf(store, cid, tmp_path / "kept.pdf")
    finally:
        store.close()
    pages = _pages(path)
    assert len(pages) >= 3  # the page breaks really are tested
    for number, text in enumerate(pages, start=1):
        headings = len(re.findall(r"(?:You|Assistant) · ", text))
        markers = len(re.findall(r"M\d\d ", text))
        assert headings == markers, f"page {number}: a heading without its message"


def test_a_message_longer_than_a_page_still_flows_over_pages(qtbot, tmp_path):
    store, cid = _chat(tmp_path, ["short question",
                                  "START " + "a long answer line. " * 1500 + "END"])
    try:
        path = export_pdf(store, cid, tmp_path / "long.pdf")
    finally:
        store.close()
    pages, text = _page_text(path)
    assert pages >= 3 and "START" in text and "END" in text
    assert MIN_SPLIT_PX > 0


def test_pdf_messages_are_bubbles_in_the_html_colours(qtbot, tmp_path):
    store, cid = _history(tmp_path, n=2)
    try:
        path = export_pdf(store, cid, tmp_path / "bubbles.pdf")
    finally:
        store.close()
    document = QPdfDocument()
    document.load(str(path))
    image = document.render(0, QSize(595, 842))
    document.close()
    colours = {QColor(image.pixel(x, y)).name() for x in range(0, 595, 2)
               for y in range(0, 842, 2)}
    user_background = BUBBLES["user"][0]
    assert user_background in colours  # the question's bubble is filled as in the HTML


def test_a_json_import_with_partial_figures_exports_as_pdf_with_dashes(qtbot, tmp_path):
    document = {"format": "chatdesk-conversation", "version": 1, "conversation": {
        "title": "Partial", "created_at": 1_700_000_000, "updated_at": 1_700_000_000},
        "messages": [
            {"id": 1, "parent": None, "role": "user", "content": "Q"},
            {"id": 2, "parent": 1, "role": "assistant", "content": "A", "model": "m.gguf",
             "stats": {"generated_tokens": 5}, "energy": {"cost": 1.7e-06,
                                                        "currency": "USD"}}]}
    source = tmp_path / "partial.json"
    source.write_text(json.dumps(document), encoding="utf-8")
    with HistoryStore.open(tmp_path / "h.sqlite3") as store:
        (cid,) = import_file(store, source)
        path = export_conversation(store, cid, "pdf", tmp_path / "partial.pdf")
    _, text = _page_text(path)
    assert "5 tokens · – tok/s · first token – s" in text
    assert "< 0.0001 USD" in text

"""PDF export: Qt lays out the HTML export (QTextDocument) and prints it (QPdfWriter).

Why Qt and not another library: Qt is already here, it shapes every script the app shows
(CJK, right-to-left, emoji through font fallback), and the document is the same HTML as the
HTML export, so the two never drift apart. QTextDocument understands a subset of CSS and
ignores the rest; the result is plainer than the browser's but complete.

It needs a QGuiApplication (fonts): inside the app there is one; from the CLI or a script
``ensure_gui_application`` creates one on the offscreen platform, no display needed.
QTextDocument and QPdfWriter are reentrant, so a worker thread may export with its own
HistoryStore while the window stays responsive.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QCoreApplication, QIODevice, QMarginsF
from PySide6.QtGui import QGuiApplication, QPageLayout, QPageSize, QPdfWriter, QTextDocument

from chatdesk.core.exchange import ExchangeError, export_conversation
from chatdesk.core.history import HistoryStore

PDF_RESOLUTION_DPI = 96  # CSS pixels map 1:1, as in a browser; text stays vector
PAGE_MARGINS_MM = QMarginsF(15, 15, 15, 15)
_created_app: QGuiApplication | None = None  # kept alive for the rest of the process


def ensure_gui_application() -> QGuiApplication:
    """The running QGuiApplication, or a new offscreen one (CLI, scripts)."""
    global _created_app
    app = QCoreApplication.instance()
    if app is None:
        _created_app = QGuiApplication([sys.argv[0] if sys.argv else "chatdesk",
                                        "-platform", "offscreen"])
        return _created_app
    if not isinstance(app, QGuiApplication):
        raise ExchangeError("PDF export needs a QGuiApplication, but this process runs a "
                            "QCoreApplication.")
    return app


def render_pdf(html: str, *, title: str = "") -> bytes:
    """The PDF bytes of an HTML document, A4 with 15 mm margins and page numbers."""
    ensure_gui_application()
    document = QTextDocument()
    document.setHtml(html)
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setResolution(PDF_RESOLUTION_DPI)
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4),
                                     QPageLayout.Orientation.Portrait, PAGE_MARGINS_MM,
                                     QPageLayout.Unit.Millimeter))
    writer.setTitle(title)
    writer.setCreator("chatdesk")
    document.print_(writer)  # paints every page and finishes the file
    del writer
    buffer.close()
    result = bytes(data.data())
    if not result.startswith(b"%PDF"):
        raise ExchangeError("Qt did not produce a PDF.")
    return result


def export_pdf(history: HistoryStore, conversation_id: int, out: Path, *,
               overwrite: bool = False) -> Path:
    """Write one conversation as PDF (visible thread); same rules as export_conversation."""
    return export_conversation(history, conversation_id, "pdf", out, overwrite=overwrite)

"""PDF export: Qt lays out the paged HTML export (QTextDocument) and paints its pages
(QPdfWriter). The exchange layer (core, Qt-free) cannot import this; the app and the CLI
call ``register()`` at start, and core finds it through ``register_renderer``.

Why Qt and not another library: Qt is already here, it shapes every script the app shows
(CJK, right-to-left, emoji through font fallback), and the document is the HTML export's
own markup, so the two never drift apart. QTextDocument understands a subset of CSS; the
paged form of the HTML draws each message as a one-cell table, the one block Qt gives a
border, a background and padding (chatdesk/core/exchange/html.py).

Keeping things together is ours to do: Qt knows no ``page-break-inside: avoid`` (it
honours only ``page-break-before/after: always``) and splits a table cell anywhere, which
left a message's heading alone at the bottom of a page. ``keep_together`` lays the
document out, and moves a message that would be split to the next page when it is short,
or when too little of it would stay under its heading.

It needs a QGuiApplication (fonts): inside the app there is one; from the CLI or a script
``ensure_gui_application`` creates one on the offscreen platform, no display needed.
QTextDocument and QPdfWriter are reentrant, so a worker thread may export with its own
HistoryStore while the window stays responsive.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import (
    QBuffer,
    QByteArray,
    QCoreApplication,
    QIODevice,
    QMarginsF,
    QRectF,
    QSizeF,
    Qt,
)
from PySide6.QtGui import (
    QColor,
    QFont,
    QGuiApplication,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
    QTextCursor,
    QTextDocument,
    QTextFormat,
)

from chatdesk.core.exchange import ExchangeError, export_conversation, register_renderer
from chatdesk.core.exchange.common import ExportData
from chatdesk.core.exchange.html import render_html
from chatdesk.core.history import HistoryStore

PDF_RESOLUTION_DPI = 96  # CSS pixels map 1:1, as in a browser; text stays vector
PAGE_MARGINS_MM = QMarginsF(15, 15, 15, 12)
FOOTER_PX = 24  # the page number's line, below the text
MIN_SPLIT_PX = 120  # a message split over two pages keeps at least this much on the first
KEEP_WHOLE = 0.4  # a message up to this part of a page is never split
MAX_PASSES = 8  # keep_together's layouts at most (two or three suffice in practice)
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


def _must_move(height: float, room: float, page: float) -> bool:
    """Whether a block of ``height`` with ``room`` left on its page goes to the next one."""
    if height <= room or room >= page - 1:
        return False  # it fits, or it starts a page and is taller than one: it must split
    return height <= KEEP_WHOLE * page or room < MIN_SPLIT_PX


def keep_together(document: QTextDocument) -> int:
    """Start on a new page each top-level block (a message, the header) that a page break
    would cut, when it is short (at most KEEP_WHOLE of a page) or too little of it
    (MIN_SPLIT_PX) would stay with its heading. A long answer still flows on, as in a
    browser, rather than leaving most of a page blank. Returns how many were moved; the
    document must have its page size set.

    A format change makes Qt lay the document out again, so one change per block would
    cost a layout each (15 s for 1,000 messages). Each pass instead decides every block
    from one layout, counting the room the blocks moved before it pushed down, and
    applies its changes in one edit; a later pass mends what that count got wrong.
    """
    page = document.pageSize().height()
    layout = document.documentLayout()
    frames = document.rootFrame().childFrames()
    moved = 0
    for _ in range(MAX_PASSES):
        shift = 0.0
        to_move = []
        for frame in frames:
            rect = layout.frameBoundingRect(frame)
            room = page - (rect.top() + shift) % page
            if _must_move(rect.height(), room, page):
                to_move.append(frame)
                shift += room
        if not to_move:
            break
        cursor = QTextCursor(document)
        cursor.beginEditBlock()
        for frame in to_move:
            frame_format = frame.frameFormat()
            frame_format.setPageBreakPolicy(QTextFormat.PageBreakFlag.PageBreak_AlwaysBefore)
            frame.setFrameFormat(frame_format)
        cursor.endEditBlock()
        moved += len(to_move)
    return moved


def render_pdf(html: str, *, title: str = "") -> bytes:
    """The PDF bytes of an HTML document: A4, its pages numbered, blocks kept together."""
    ensure_gui_application()
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
    area = writer.pageLayout().paintRectPixels(PDF_RESOLUTION_DPI)
    width, height = float(area.width()), float(area.height() - FOOTER_PX)
    document = QTextDocument()
    document.setDocumentMargin(0)
    document.setHtml(html)
    document.setPageSize(QSizeF(width, height))
    keep_together(document)
    painter = QPainter(writer)
    footer = QFont(document.defaultFont())
    footer.setPixelSize(11)
    for page in range(document.pageCount()):
        if page:
            writer.newPage()
        painter.save()
        painter.translate(0, -page * height)
        document.drawContents(painter, QRectF(0, page * height, width, height))
        painter.restore()
        painter.setFont(footer)
        painter.setPen(QColor("#718096"))
        painter.drawText(QRectF(0, height, width, FOOTER_PX),
                         Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom,
                         f"{page + 1} / {document.pageCount()}")
    painter.end()
    del writer
    buffer.close()
    result = bytes(data.data())
    if not result.startswith(b"%PDF"):
        raise ExchangeError("Qt did not produce a PDF.")
    return result


def render_export(data: ExportData) -> bytes:
    """The exchange layer's PDF renderer: the paged HTML export, laid out by Qt."""
    return render_pdf(render_html(data, paged=True), title=data.conversation.title)


def register() -> None:
    """Make PDF export available to chatdesk.core.exchange in this process."""
    register_renderer("pdf", render_export)


def export_pdf(history: HistoryStore, conversation_id: int, out: Path, *,
               overwrite: bool = False) -> Path:
    """Write one conversation as PDF (visible thread); same rules as export_conversation."""
    register()
    return export_conversation(history, conversation_id, "pdf", out, overwrite=overwrite)

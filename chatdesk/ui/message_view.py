"""The conversation: a lazy model/view list of messages rendered from Markdown.

Design (measured on this machine, 2 cores, offscreen, PySide6 6.11; ``chatdesk bench ui``):

* ``MessageView`` is a ``QListView`` over ``MessageListModel`` (a ``QAbstractListModel`` of
  frozen ``MessageItem`` s); the view paints each row through ``MessageDelegate``: a bubble,
  a header (role or model name, "‹ 2/3 ›" alternatives, actions on hover), the message
  body (``QTextDocument`` s from ``markdown_render``) and a grey footer (stats,
  "incomplete").
* Only rows that are (nearly) visible are rendered. ``sizeHint`` never renders: it returns
  the measured height of a row if there is one, else an estimate from the text length.
  Whenever rows come into view (opening, scrolling, resizing, appending) they are rendered
  and measured *before* Qt paints; if a height differs from what the view assumed, the list
  is laid out again with the first visible row (or the bottom, while following the stream)
  held in place, so estimates above the viewport never make the content jump. QListView's
  layout pass only reads cached heights (~2.5 µs a row: 5 ms for 2,000 rows). Opening a
  2,000-message conversation renders ~7 rows: ~30 ms until painted, where a QTextBrowser
  given the whole conversation as Markdown took 256 ms (without code colours or bubbles)
  and the first window's ChatView 370 ms (plain text).
* Rendered documents are kept per message id in an LRU cache and laid out per width;
  measured heights are kept per id and width for every row seen.
* Streaming: ``append_stream`` only appends to a list. A single-shot timer (~30 Hz) renders
  the streamed message alone, and only its last, unfinished top-level block: finished
  blocks were rendered once into their own documents (``StreamRenderer``). Only if the row's
  height changed is the list laid out again (cached heights); otherwise only that row is
  repainted. No other row is re-rendered, and no dataChanged is emitted per flush (QListView
  answers dataChanged by laying out every row). A 5 ms timer's p99 gap stays ~9 ms streaming
  into 500 messages, also for a 8,000-character answer.
* Auto-scroll follows the bottom until the user scrolls up; scrolling back to the bottom
  resumes it. Esc is left to the window (the Stop shortcut).
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from dataclasses import dataclass, field, replace

from PySide6.QtCore import (
    QAbstractListModel,
    QEvent,
    QModelIndex,
    QObject,
    QPoint,
    QPointF,
    QRect,
    QRectF,
    QSize,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QContextMenuEvent,
    QDesktopServices,
    QFont,
    QFontMetrics,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QMenu,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolTip,
    QWidget,
)

from chatdesk.ui.code_highlight import COMMON_LANGUAGES, warm_up
from chatdesk.ui.markdown_render import (
    RenderedMessage,
    RenderTheme,
    StreamRenderer,
    blend,
    render_markdown,
    render_plain,
)

FLUSH_INTERVAL_MS = 33          # streamed text reaches the screen at most ~30 times a second
DOCUMENT_CACHE_SIZE = 256       # rendered documents kept (the rest keep only their height)
FOLLOW_SLACK_PX = 4             # "at the bottom" within this many pixels

# Row geometry, in pixels.
MARGIN_H = 14
MARGIN_V = 5
PAD = 10
RADIUS = 8
HEADER_GAP = 4
FOOTER_GAP = 4
USER_MAX_FRACTION = 0.82
CHIP_PAD = 7
CHIP_GAP = 4

ITEM_ROLE = Qt.ItemDataRole.UserRole + 1

_ROLE_COLORS = {  # label colour: (light theme, dark theme)
    "user": ("#2b6cb0", "#90cdf4"),
    "assistant": ("#2f855a", "#9ae6b4"),
    "system": ("#718096", "#a0aec0"),
}
_INCOMPLETE_COLORS = ("#c05621", "#f6ad55")


@dataclass(frozen=True)
class MessageItem:
    """One message as the view shows it (the window builds these from the history)."""

    id: int
    role: str                 # "user" | "assistant" | "system"
    text: str                 # Markdown for answers, shown as typed for user messages
    title: str                # "You", or the model name for answers
    note: str = ""            # the grey stats line under an answer
    incomplete: bool = False  # an interrupted answer
    sibling_index: int = 0    # which alternative this is (0-based) ...
    sibling_count: int = 1    # ... of how many
    tooltip: str = ""         # shown when hovering a finished answer (default: ``note``)


class MessageListModel(QAbstractListModel):
    """The messages of one conversation, in order."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._items: list[MessageItem] = []
        self._rows: dict[int, int] = {}

    # -- Qt model API -------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item = self._items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return item.text
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"{item.title}: {item.text}"
        if role == ITEM_ROLE:
            return item
        return None

    # -- ours ---------------------------------------------------------------------------
    @property
    def items(self) -> list[MessageItem]:
        return self._items

    def item(self, row: int) -> MessageItem:
        return self._items[row]

    def row_of(self, message_id: int) -> int | None:
        return self._rows.get(message_id)

    def reset(self, items: list[MessageItem]) -> None:
        self.beginResetModel()
        self._items = list(items)
        self._reindex()
        self.endResetModel()

    def append(self, item: MessageItem) -> int:
        row = len(self._items)
        self.beginInsertRows(QModelIndex(), row, row)
        self._items.append(item)
        self._rows[item.id] = row
        self.endInsertRows()
        return row

    def replace(self, row: int, item: MessageItem, *, notify: bool = True) -> None:
        old = self._items[row]
        self._items[row] = item
        if old.id != item.id:
            if self._rows.get(old.id) == row:
                del self._rows[old.id]
            self._rows[item.id] = row
        if notify:
            index = self.index(row)
            self.dataChanged.emit(index, index)

    def remove(self, row: int) -> None:
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._items[row]
        self._reindex()
        self.endRemoveRows()

    def _reindex(self) -> None:
        self._rows = {item.id: row for row, item in enumerate(self._items)}


@dataclass
class _Geometry:
    """Where everything of one row is, in viewport coordinates."""

    bubble: QRectF
    label: QRectF
    label_text: str
    doc_origin: QPointF
    doc_rect: QRectF
    nav: tuple[QRectF, QRectF, QRectF] | None = None  # ‹, "2/3", ›
    actions: list[tuple[str, QRectF]] = field(default_factory=list)
    footer: QRectF | None = None
    code_copy: list[QRectF] = field(default_factory=list)


class MessageDelegate(QStyledItemDelegate):
    """Paints a row from the view's cached document; never renders in ``sizeHint``."""

    def __init__(self, view: MessageView) -> None:
        super().__init__(view)
        self._view = view

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        view = self._view
        return QSize(view._layout_width, view._row_height(index.row()))

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex) -> None:
        self._view._paint_row(painter, option, index.row())


class MessageView(QListView):
    """The conversation. Emits user intents; the window owns the history."""

    copy_requested = Signal(int)
    delete_requested = Signal(int)
    regenerate_requested = Signal(int)
    edit_requested = Signal(int)
    sibling_requested = Signal(int, int)  # (message id, new sibling index)
    code_copied = Signal(int, int)        # (message id, code block index): on the clipboard
    link_activated = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model = MessageListModel(self)
        self._delegate = MessageDelegate(self)
        self.setModel(self._model)
        self.setItemDelegate(self._delegate)
        self.setAccessibleName(self.tr("Conversation"))
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAutoScroll(False)
        self.setUniformItemSizes(False)
        self.setSpacing(0)
        self.setMouseTracking(True)
        self.viewport().setMouseTracking(True)

        self._theme: RenderTheme | None = None
        self._rendered: OrderedDict[int, RenderedMessage] = OrderedDict()
        self._heights: dict[int, tuple[int, int]] = {}   # id → (layout width, row height)
        self._estimates: dict[int, tuple[int, int]] = {}  # id → (layout width, estimate)
        self._layout_width = self._compute_layout_width()
        self._follow = True
        self._programmatic = 0
        self._measuring = False
        self._hover: tuple[int, str, object] | None = None  # (row, kind, key)
        self._pressed: tuple[int, str, object] | None = None
        self._highlight: tuple[int, str] | None = None
        self._copied: tuple[int, int] | None = None  # (message id, code block) just copied

        self._stream_row: int | None = None
        self._stream_renderer: StreamRenderer | None = None
        self._stream_text = ""
        self._pending: list[str] = []
        self._flush_timer = QTimer(self)
        self._flush_timer.setObjectName("message-view-flush")
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(FLUSH_INTERVAL_MS)
        self._flush_timer.timeout.connect(self._flush)
        self._fixup_timer = QTimer(self)  # a row painted before it was measured
        self._fixup_timer.setObjectName("message-view-fixup")
        self._fixup_timer.setSingleShot(True)
        self._fixup_timer.setInterval(0)
        self._fixup_timer.timeout.connect(self._ensure_visible_measured)

        self._warm_languages = list(COMMON_LANGUAGES)
        self._warm_timer = QTimer(self)  # loads common lexers in idle turns (see warm_up)
        self._warm_timer.setObjectName("message-view-warm-up")
        self._warm_timer.setSingleShot(True)
        self._warm_timer.setInterval(0)
        self._warm_timer.timeout.connect(self._warm_next_lexer)

        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._on_scroll_value)
        bar.rangeChanged.connect(self._on_scroll_range)

    # ================================================================== public API
    def set_messages(self, items: list[MessageItem]) -> None:
        """Show a whole conversation (replacing what was there), scrolled to its end.

        A running stream goes on if its message (by id) is among ``items``; otherwise it
        ends without a trace (later ``append_stream`` calls are ignored).
        """
        stream_id, streamed = None, ""
        if self._stream_row is not None:
            stream_id = self._model.item(self._stream_row).id
            streamed = self._stream_text + "".join(self._pending)
        keep = stream_id is not None and any(item.id == stream_id for item in items)
        if not keep:
            self._drop_stream()
        self._highlight = None
        self._hover = self._pressed = None
        ids = {item.id for item in items}
        self._heights = {k: v for k, v in self._heights.items() if k in ids}
        self._estimates = {k: v for k, v in self._estimates.items() if k in ids}
        self._follow = True
        self._model.reset(items)
        if keep:
            row = self._model.row_of(stream_id)
            self._stream_row, self._stream_text, self._pending = row, streamed, []
            self._model.replace(row, replace(self._model.item(row), text=streamed),
                                notify=False)
            self._forget(stream_id)
        self._after_change()

    def append_message(self, item: MessageItem) -> None:
        self._forget(item.id)
        self._model.append(item)
        self._after_change()

    def begin_stream(self, item: MessageItem) -> None:
        """Add an answer that ``append_stream`` text flows into (ends a running stream)."""
        if self._stream_row is not None:
            self.end_stream(self._model.item(self._stream_row))
        self._forget(item.id)
        self._stream_row = self._model.append(item)
        self._stream_text = item.text
        self._pending = []
        self._after_change()

    def append_stream(self, text: str) -> None:
        """Queue streamed text; it is shown by the next flush (≤ FLUSH_INTERVAL_MS away)."""
        if self._stream_row is None or not text:
            return
        self._pending.append(text)
        if not self._flush_timer.isActive():
            self._flush_timer.start()

    def end_stream(self, final: MessageItem) -> None:
        """Replace the streamed row with ``final`` (its id, note, flags...).

        If ``final.text`` is empty, the text streamed so far is kept. Without a running
        stream this is ``update_message(final)`` when ``final`` has text, else nothing.
        """
        if self._stream_row is None:
            if final.text:
                self.update_message(final)
            return
        self._flush_timer.stop()
        row = self._stream_row
        streamed = self._stream_text + "".join(self._pending)
        self._stream_row, self._stream_text, self._pending = None, "", []
        self._stream_renderer = None
        if not final.text and streamed:
            final = replace(final, text=streamed)
        self._forget(self._model.item(row).id)
        self._forget(final.id)
        self._model.replace(row, final)
        self._after_change()

    def update_message(self, item: MessageItem) -> None:
        """Show a new version of a message (by id); unknown ids are ignored."""
        row = self._model.row_of(item.id)
        if row is None:
            return
        if row == self._stream_row:
            self._stream_text = item.text
            self._pending = []
        self._forget(item.id)
        self._model.replace(row, item)
        self._after_change()

    def remove_message(self, message_id: int) -> None:
        row = self._model.row_of(message_id)
        if row is None:
            return
        if row == self._stream_row:
            self._drop_stream()
        elif self._stream_row is not None and row < self._stream_row:
            self._stream_row -= 1
        self._forget(message_id)
        self._hover = self._pressed = None
        self._model.remove(row)
        self._after_change()

    def clear(self) -> None:
        self.set_messages([])

    def scroll_to_message(self, message_id: int, highlight: str | None = None) -> None:
        """Bring a message into view (search results); ``highlight`` marks the hit text."""
        row = self._model.row_of(message_id)
        if row is None:
            return
        self._highlight = (message_id, highlight) if highlight else None
        self.executeDelayedItemsLayout()
        if self._measure(row):
            self._relayout(anchor_row=row)
        index = self._model.index(row)
        rect = self.visualRect(index)
        viewport_h = self.viewport().height()
        offset = None
        if highlight:
            offset = self._hit_offset(row, highlight)
        if offset is not None and rect.height() > viewport_h:
            target = rect.top() + offset - viewport_h // 3
        elif rect.height() <= viewport_h:
            target = rect.top() - (viewport_h - rect.height()) // 2
        else:
            target = rect.top()
        bar = self.verticalScrollBar()
        self._programmatic += 1
        try:
            bar.setValue(bar.value() + target)
        finally:
            self._programmatic -= 1
        self._follow = bar.value() >= bar.maximum() - FOLLOW_SLACK_PX
        self._ensure_visible_measured(anchor_row=row)
        self.setCurrentIndex(index)
        self.viewport().update()

    def clear_highlight(self) -> None:
        if self._highlight is not None:
            self._highlight = None
            self.viewport().update()

    def message_text(self, message_id: int) -> str:
        row = self._model.row_of(message_id)
        if row is None:
            return ""
        if row == self._stream_row:
            return self._stream_text + "".join(self._pending)
        return self._model.item(row).text

    @property
    def streaming(self) -> bool:
        return self._stream_row is not None

    @property
    def following(self) -> bool:
        """Whether the view sticks to the bottom as text arrives."""
        return self._follow

    def messages(self) -> list[MessageItem]:
        return list(self._model.items)

    def plain_text(self) -> str:
        """Everything as shown (titles, rendered text, footers); for tests. Renders all."""
        parts = []
        for row, item in enumerate(self._model.items):
            rendered = self._rendered.get(item.id)
            if rendered is None or rendered.source != item.text:
                rendered = self._render_uncached(item)
            lines = [self._label_text(row), rendered.plain_text()]
            footer = self._footer_text(row)
            if footer:
                lines.append(footer)
            parts.append("\n".join(lines))
        return "\n\n".join(parts)

    def rendered_documents(self, message_id: int) -> list:
        """The QTextDocument(s) a message is shown with, rendering it if needed: one for a
        finished message, one per finished block and one for the rest while streaming."""
        row = self._model.row_of(message_id)
        return [] if row is None else [part.doc for part in self._render(row).parts]

    def code_blocks(self, message_id: int) -> list[str]:
        row = self._model.row_of(message_id)
        return [] if row is None else [c.code for c in self._render(row).code_blocks]

    def target_rect(self, message_id: int, target: str) -> QRect | None:
        """Viewport rectangle of a clickable part of a visible message, for tests and
        automation: "copy", "edit", "regenerate", "delete", "previous", "next",
        "code:N" (the copy button of code block N), "bubble"."""
        row = self._model.row_of(message_id)
        if row is None:
            return None
        self.executeDelayedItemsLayout()
        geo = self._geometry(row, self.visualRect(self._model.index(row)))
        rect: QRectF | None = None
        if target == "bubble":
            rect = geo.bubble
        elif target in ("previous", "next") and geo.nav:
            rect = geo.nav[0] if target == "previous" else geo.nav[2]
        elif target.startswith("code:"):
            number = int(target[5:])
            rect = geo.code_copy[number] if number < len(geo.code_copy) else None
        else:
            rect = next((r for name, r in geo.actions if name == target), None)
        return rect.toAlignedRect() if rect is not None else None

    def context_menu(self, message_id: int) -> QMenu | None:
        """The menu of a message's actions (what right-click and the Menu key show)."""
        row = self._model.row_of(message_id)
        return None if row is None else self._build_menu(row)

    # ================================================================== streaming
    def _flush(self) -> None:
        row = self._stream_row
        if row is None or not self._pending:
            return
        self._stream_text += "".join(self._pending)
        self._pending = []
        item = replace(self._model.item(row), text=self._stream_text)
        # No dataChanged: QListView answers it by laying out every row again. The height
        # check below asks for a layout only when the streamed row actually grew.
        self._model.replace(row, item, notify=False)
        self.executeDelayedItemsLayout()
        if self._measure(row, force=True):
            self._relayout()
            self._ensure_visible_measured()
        else:
            self.viewport().update(self.visualRect(self._model.index(row)))

    def _drop_stream(self) -> None:
        self._flush_timer.stop()
        self._stream_row, self._stream_text, self._pending = None, "", []
        self._stream_renderer = None

    # ================================================================== measuring
    def _compute_layout_width(self) -> int:
        width = self.viewport().width()
        bar = self.verticalScrollBar()
        if not bar.isVisibleTo(self):
            # Lay out as if the scroll bar were there: its appearing must not change widths
            # (which would change heights, which could hide it again).
            width -= self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent, None,
                                              self)
        return max(120, width)

    def _theme_now(self) -> RenderTheme:
        if self._theme is None:
            self._theme = RenderTheme(self.palette(), self.font())
        return self._theme

    def _doc_width(self, item: MessageItem) -> int:
        inner = self._layout_width - 2 * MARGIN_H
        if item.role == "user":
            inner = int(inner * USER_MAX_FRACTION)
        return max(40, inner - 2 * PAD)

    def _render_uncached(self, item: MessageItem) -> RenderedMessage:
        theme = self._theme_now()
        if item.role == "user":
            return render_plain(item.text, theme)
        return render_markdown(item.text, theme)

    def _render(self, row: int) -> RenderedMessage:
        item = self._model.item(row)
        rendered = self._rendered.get(item.id)
        if rendered is None or rendered.source != item.text:
            if row == self._stream_row and item.role != "user":
                if self._stream_renderer is None:
                    self._stream_renderer = StreamRenderer(self._theme_now())
                rendered = self._stream_renderer.render(item.text)
            else:
                rendered = self._render_uncached(item)
            self._rendered[item.id] = rendered
            while len(self._rendered) > DOCUMENT_CACHE_SIZE:
                self._rendered.popitem(last=False)
        else:
            self._rendered.move_to_end(item.id)
        rendered.layout(self._doc_width(item))
        return rendered

    def _chrome_height(self, row: int) -> int:
        theme = self._theme_now()
        height = 2 * MARGIN_V + 2 * PAD + theme.bold_height + HEADER_GAP
        item = self._model.items[row]
        if item.note or item.incomplete or row == self._stream_row:  # see _footer_text
            height += FOOTER_GAP + theme.small_height
        return height

    def _row_height(self, row: int) -> int:
        """What the view lays out with: measured at this width, else a stale or estimated
        height. Never renders (QListView asks this for every row on every layout)."""
        item = self._model.items[row]
        known = self._heights.get(item.id)
        if known is not None:
            return known[1]
        estimate = self._estimates.get(item.id)
        if estimate is None or estimate[0] != self._layout_width:
            estimate = (self._layout_width, self._estimate(row))
            self._estimates[item.id] = estimate
        return estimate[1]

    def _estimate(self, row: int) -> int:
        item = self._model.items[row]
        theme = self._theme_now()
        chars_per_line = max(10, self._doc_width(item) // theme.average_char_width)
        text = item.text
        lines = len(text) / chars_per_line + text.count("\n") * 0.6 + 1
        fences = text.count("```") // 2
        extra = fences * (theme.code_header_height + 28)
        return int(self._chrome_height(row) + lines * theme.line_spacing + extra)

    def _measure(self, row: int, *, force: bool = False) -> bool:
        """Render and measure a row at the current width; True if its height changed."""
        item = self._model.items[row]
        known = self._heights.get(item.id)
        if known is not None and known[0] == self._layout_width and not force:
            return False
        before = self._row_height(row)
        height = self._render(row).height + self._chrome_height(row)
        self._heights[item.id] = (self._layout_width, height)
        return height != before

    def _forget(self, message_id: int) -> None:
        self._heights.pop(message_id, None)
        self._estimates.pop(message_id, None)
        self._rendered.pop(message_id, None)

    def _visible_rows(self, margin: int) -> range:
        count = self._model.rowCount()
        if not count:
            return range(0)
        index = self._model.index
        height = self.viewport().height()
        first = bisect.bisect_left(range(count), -margin,
                                   key=lambda r: self.visualRect(index(r)).bottom())
        last = bisect.bisect_right(range(count), height + margin,
                                   key=lambda r: self.visualRect(index(r)).top())
        return range(min(first, count - 1), max(last, first + 1))

    def _first_visible_row(self) -> int | None:
        rows = self._visible_rows(0)
        return rows.start if rows else None

    def _ensure_visible_measured(self, anchor_row: int | None = None) -> None:
        """Render the rows in (and half a screen around) the viewport before Qt paints
        them; lay out again, keeping the anchor still, while heights change."""
        if self._measuring or not self._model.rowCount():
            return
        self._measuring = True
        try:
            for _ in range(8):
                self.executeDelayedItemsLayout()
                changed = False
                for row in self._visible_rows(self.viewport().height() // 2):
                    changed |= self._measure(row)
                if not changed:
                    break
                self._relayout(anchor_row)
        finally:
            self._measuring = False

    def _relayout(self, anchor_row: int | None = None) -> None:
        """Lay the list out again (cached heights) without moving what the user reads."""
        bar = self.verticalScrollBar()
        if anchor_row is None and not self._follow:
            anchor_row = self._first_visible_row()
        before = None
        if anchor_row is not None and not self._follow:
            before = self.visualRect(self._model.index(anchor_row)).top()
        self._programmatic += 1
        try:
            self.doItemsLayout()
            if self._follow:
                bar.setValue(bar.maximum())
            elif before is not None:
                after = self.visualRect(self._model.index(anchor_row)).top()
                if after != before:
                    bar.setValue(bar.value() + after - before)
        finally:
            self._programmatic -= 1

    def _after_change(self) -> None:
        self.executeDelayedItemsLayout()
        self._ensure_visible_measured()
        if self._follow:
            self._scroll_to_bottom()
        self.viewport().update()

    def _scroll_to_bottom(self) -> None:
        bar = self.verticalScrollBar()
        self._programmatic += 1
        try:
            bar.setValue(bar.maximum())
        finally:
            self._programmatic -= 1

    def _on_scroll_value(self, value: int) -> None:
        if self._programmatic:
            return
        bar = self.verticalScrollBar()
        self._follow = value >= bar.maximum() - FOLLOW_SLACK_PX
        self._ensure_visible_measured()

    def _on_scroll_range(self, _minimum: int, maximum: int) -> None:
        if self._follow and self.verticalScrollBar().value() != maximum:
            self._scroll_to_bottom()

    def _hit_offset(self, row: int, needle: str) -> int | None:
        """Y of the first hit of ``needle`` within the row (row coordinates)."""
        y = self._render(row).first_hit_y(needle)
        if y is None:
            return None
        geo = self._geometry(row, QRect(0, 0, self._layout_width, self._row_height(row)))
        return int(geo.doc_origin.y() + y)

    # ================================================================== geometry
    def _bold_font(self) -> QFont:
        return self._theme_now().bold_font

    def _label_text(self, row: int) -> str:
        item = self._model.items[row]
        if item.title:
            return item.title
        return {"user": self.tr("You"), "assistant": self.tr("Assistant"),
                "system": self.tr("System")}.get(item.role, item.role)

    def _footer_text(self, row: int) -> str:
        item = self._model.items[row]
        parts = []
        if row == self._stream_row:
            parts.append(self.tr("generating…"))
        if item.incomplete:
            parts.append(self.tr("⚠ incomplete"))
        if item.note:
            parts.append(item.note)
        return " · ".join(parts)

    def _actions_for(self, row: int) -> list[tuple[str, str]]:
        if row == self._stream_row:
            return []
        role = self._model.items[row].role
        actions = [("copy", self.tr("Copy"))]
        if role == "user":
            actions.append(("edit", self.tr("Edit")))
        elif role == "assistant":
            actions.append(("regenerate", self.tr("Regenerate")))
        actions.append(("delete", self.tr("Delete")))
        return actions

    def _geometry(self, row: int, rect: QRect) -> _Geometry:
        item = self._model.items[row]
        theme = self._theme_now()
        rendered = self._render(row)
        bold = QFontMetrics(self._bold_font())
        small = QFontMetrics(theme.small_font)
        header_h = bold.height()
        label_text = self._label_text(row)
        label_w = bold.horizontalAdvance(label_text)

        chip_h = small.height() + 4
        actions = self._actions_for(row)
        action_widths = [small.horizontalAdvance(text) + 2 * CHIP_PAD for _, text in actions]
        actions_w = sum(action_widths) + CHIP_GAP * max(0, len(actions) - 1)
        nav_w = 0
        nav_text = ""
        if item.sibling_count > 1:
            nav_text = f"{item.sibling_index + 1}/{item.sibling_count}"
            nav_w = small.horizontalAdvance(nav_text) + 2 * (chip_h + 2)

        inner_w = self._layout_width - 2 * MARGIN_H  # what the document was laid out for
        footer = self._footer_text(row)
        if item.role == "user":
            header_min = label_w + (nav_w + 12 if nav_w else 0) + 16 + actions_w
            content_w = max(rendered.ideal_width, header_min,
                            small.horizontalAdvance(footer) if footer else 0)
            bubble_w = min(int(inner_w * USER_MAX_FRACTION), content_w + 2 * PAD)
            left = rect.left() + MARGIN_H + inner_w - bubble_w
        else:
            bubble_w = inner_w
            left = rect.left() + MARGIN_H
        bubble = QRectF(left, rect.top() + MARGIN_V, bubble_w, rect.height() - 2 * MARGIN_V)

        x0 = bubble.left() + PAD
        y0 = bubble.top() + PAD
        label = QRectF(x0, y0, label_w, header_h)
        nav = None
        if nav_w:
            nx = label.right() + 12
            cy = y0 + (header_h - chip_h) / 2
            prev_r = QRectF(nx, cy, chip_h, chip_h)
            text_r = QRectF(prev_r.right() + 2, cy, small.horizontalAdvance(nav_text), chip_h)
            next_r = QRectF(text_r.right() + 2, cy, chip_h, chip_h)
            nav = (prev_r, text_r, next_r)
        action_rects = []
        ax = bubble.right() - PAD
        for (name, _), width in zip(reversed(actions), reversed(action_widths), strict=True):
            r = QRectF(ax - width, y0 + (header_h - chip_h) / 2, width, chip_h)
            action_rects.append((name, r))
            ax -= width + CHIP_GAP
        action_rects.reverse()

        doc_origin = QPointF(x0, y0 + header_h + HEADER_GAP)
        doc_rect = QRectF(doc_origin, QPointF(bubble.right() - PAD,
                                              doc_origin.y() + rendered.height))
        footer_rect = None
        if footer:
            footer_rect = QRectF(x0, doc_rect.bottom() + FOOTER_GAP,
                                 bubble.width() - 2 * PAD, small.height())
        code_copy = []
        for box in rendered.boxes:
            width = small.horizontalAdvance(self.tr("Copied")) + 2 * CHIP_PAD
            h = theme.code_header_height - 6
            code_copy.append(QRectF(doc_origin.x() + box.right() - 6 - width,
                                    doc_origin.y() + box.top() + 3, width, h))
        return _Geometry(bubble, label, label_text, doc_origin, doc_rect, nav, action_rects,
                         footer_rect, code_copy)

    # ================================================================== painting
    def _paint_row(self, painter: QPainter, option: QStyleOptionViewItem, row: int) -> None:
        item = self._model.items[row]
        known = self._heights.get(item.id)
        if known is None or known[0] != self._layout_width:
            self._fixup_timer.start()  # painted before measured: fix the layout next turn
        theme = self._theme_now()
        geo = self._geometry(row, option.rect)
        palette = option.palette
        base = palette.color(QPalette.ColorRole.Base)
        text = palette.color(QPalette.ColorRole.Text)
        dark = theme.dark
        hover = self._hover if self._hover and self._hover[0] == row else None

        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        # -- bubble
        if item.role == "user":
            fill = blend(base, palette.color(QPalette.ColorRole.Highlight), 0.3 if dark else 0.13)
            border = QColor(fill)
        elif item.role == "system":
            fill = blend(base, QColor("#d69e2e"), 0.15)
            border = blend(base, text, 0.12)
        else:
            fill = blend(base, text, 0.05 if dark else 0.022)
            border = blend(base, text, 0.16 if dark else 0.11)
        if option.state & QStyle.StateFlag.State_HasFocus and self.hasFocus():
            border = palette.color(QPalette.ColorRole.Highlight)
        painter.setPen(QPen(border, 1))
        painter.setBrush(fill)
        painter.drawRoundedRect(geo.bubble.adjusted(0.5, 0.5, -0.5, -0.5), RADIUS, RADIUS)

        # -- header: label, alternatives, actions (on hover)
        light, dark_color = _ROLE_COLORS.get(item.role, _ROLE_COLORS["assistant"])
        painter.setFont(self._bold_font())
        painter.setPen(QColor(dark_color if dark else light))
        painter.drawText(geo.label, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         geo.label_text)
        painter.setFont(theme.small_font)
        muted = blend(base, text, 0.55)
        if geo.nav:
            prev_r, text_r, next_r = geo.nav
            for key, r, glyph, enabled in (
                    ("previous", prev_r, "‹", item.sibling_index > 0),
                    ("next", next_r, "›", item.sibling_index < item.sibling_count - 1)):
                if enabled and hover and hover[1] == "nav" and hover[2] == key:
                    painter.setPen(Qt.PenStyle.NoPen)
                    painter.setBrush(blend(fill, text, 0.12))
                    painter.drawRoundedRect(r, 4, 4)
                painter.setPen(text if enabled else blend(base, text, 0.3))
                painter.drawText(r, Qt.AlignmentFlag.AlignCenter, glyph)
            painter.setPen(muted)
            painter.drawText(text_r, Qt.AlignmentFlag.AlignCenter,
                             f"{item.sibling_index + 1}/{item.sibling_count}")
        if hover:
            labels = dict(self._actions_for(row))
            for name, r in geo.actions:
                hot = hover[1] == "action" and hover[2] == name
                painter.setPen(QPen(blend(fill, text, 0.25), 1))
                painter.setBrush(blend(fill, text, 0.14 if hot else 0.05))
                painter.drawRoundedRect(r.adjusted(0.5, 0.5, -0.5, -0.5), 4, 4)
                painter.setPen(text)
                painter.drawText(r, Qt.AlignmentFlag.AlignCenter, labels[name])

        # -- body
        rendered = self._render(row)
        painter.save()
        painter.translate(geo.doc_origin)
        visible = QRectF(self.viewport().rect()).translated(-geo.doc_origin)
        if rendered.bars:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(theme.code_border)
            for bar in rendered.bars:
                if bar.intersects(visible):
                    painter.drawRect(bar)
        for number, box in enumerate(rendered.boxes):
            if not box.intersects(visible):
                continue
            self._paint_code_box(painter, theme, rendered, number, box, item.id,
                                 hover is not None and hover[1] == "code"
                                 and hover[2] == number)
        doc_palette = QPalette(palette)
        doc_palette.setColor(QPalette.ColorRole.Text, text)
        # Only what is on screen: a streamed answer can be many screens tall.
        clip = QRectF(option.rect).intersected(QRectF(self.viewport().rect()))
        clip = clip.intersected(geo.doc_rect).translated(-geo.doc_origin)
        needle = self._highlight[1] if self._highlight and self._highlight[0] == item.id \
            else None
        rendered.draw(painter, doc_palette, clip, needle, theme.search_hit)
        painter.restore()

        # -- footer
        if geo.footer is not None:
            footer = self._footer_text(row)
            fm = QFontMetrics(theme.small_font)
            x = geo.footer.left()
            if item.incomplete:
                marker = self.tr("⚠ incomplete")
                start = footer.index(marker)
                before, after = footer[:start], footer[start + len(marker):]
                painter.setPen(muted)
                painter.drawText(QPointF(x, geo.footer.top() + fm.ascent()), before)
                x += fm.horizontalAdvance(before)
                painter.setPen(QColor(_INCOMPLETE_COLORS[1 if dark else 0]))
                painter.drawText(QPointF(x, geo.footer.top() + fm.ascent()), marker)
                x += fm.horizontalAdvance(marker)
                footer = after
            painter.setPen(muted)
            width = int(geo.footer.right() - x)
            painter.drawText(QPointF(x, geo.footer.top() + fm.ascent()),
                             fm.elidedText(footer, Qt.TextElideMode.ElideRight, width))
        painter.restore()

    def _paint_code_box(self, painter: QPainter, theme: RenderTheme,
                        rendered: RenderedMessage, number: int, box: QRectF,
                        message_id: int, hot: bool) -> None:
        box = box.adjusted(0.5, 0.5, -0.5, -0.5)
        painter.setPen(QPen(theme.code_border, 1))
        painter.setBrush(theme.code_bg)
        painter.drawRoundedRect(box, 6, 6)
        header = QRectF(box.left(), box.top(), box.width(), theme.code_header_height)
        path = QPainterPath()
        path.addRoundedRect(box, 6, 6)
        clip_path = QPainterPath()
        clip_path.addRect(header)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(theme.code_header_bg)
        painter.drawPath(path.intersected(clip_path))
        painter.setPen(QPen(theme.code_border, 1))
        painter.drawLine(QPointF(header.left(), header.bottom()),
                         QPointF(header.right(), header.bottom()))
        painter.setFont(theme.small_font)
        painter.setPen(theme.code_label)
        language = rendered.code_blocks[number].language or self.tr("code")
        painter.drawText(header.adjusted(8, 0, 0, 0),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, language)
        fm = QFontMetrics(theme.small_font)
        width = fm.horizontalAdvance(self.tr("Copied")) + 2 * CHIP_PAD
        button = QRectF(box.right() - 6 - width, box.top() + 3, width,
                        theme.code_header_height - 6)
        painter.setPen(QPen(theme.code_border, 1))
        painter.setBrush(blend(theme.code_header_bg, theme.text, 0.12 if hot else 0.0))
        painter.drawRoundedRect(button, 4, 4)
        painter.setPen(theme.text)
        copied = self._copied == (message_id, number)
        painter.drawText(button, Qt.AlignmentFlag.AlignCenter,
                         self.tr("Copied") if copied else self.tr("Copy"))

    # ================================================================== interaction
    def _hit(self, pos: QPoint) -> tuple[int, str, object] | None:
        index = self.indexAt(pos)
        if not index.isValid():
            return None
        row = index.row()
        geo = self._geometry(row, self.visualRect(index))
        point = QPointF(pos)
        for name, rect in geo.actions:
            if rect.contains(point):
                return (row, "action", name)
        if geo.nav:
            if geo.nav[0].contains(point):
                return (row, "nav", "previous")
            if geo.nav[2].contains(point):
                return (row, "nav", "next")
        for number, rect in enumerate(geo.code_copy):
            if rect.contains(point):
                return (row, "code", number)
        if geo.doc_rect.contains(point):
            anchor = self._render(row).anchor_at(point - geo.doc_origin)
            if anchor:
                return (row, "link", anchor)
        if geo.bubble.contains(point):
            return (row, "bubble", None)
        return (row, "row", None)

    def _set_hover(self, hit: tuple[int, str, object] | None) -> None:
        if hit == self._hover:
            return
        rows = {h[0] for h in (hit, self._hover) if h is not None}
        self._hover = hit
        for row in rows:
            if row < self._model.rowCount():
                self.viewport().update(self.visualRect(self._model.index(row)))
        clickable = hit is not None and hit[1] in ("action", "nav", "code", "link")
        self.viewport().setCursor(Qt.CursorShape.PointingHandCursor if clickable
                                  else Qt.CursorShape.ArrowCursor)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        self._set_hover(self._hit(event.position().toPoint()))
        if event.buttons() == Qt.MouseButton.NoButton:
            super().mouseMoveEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        hit = self._hit(event.position().toPoint())
        if event.button() == Qt.MouseButton.LeftButton and hit and hit[1] in (
                "action", "nav", "code", "link"):
            self._pressed = hit
            event.accept()
            return
        self._pressed = None
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        pressed, self._pressed = self._pressed, None
        if pressed is not None and event.button() == Qt.MouseButton.LeftButton:
            if self._hit(event.position().toPoint()) == pressed:
                self._activate(pressed, event.globalPosition().toPoint())
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        hit = self._hit(event.position().toPoint())
        if hit and hit[1] in ("action", "nav", "code", "link"):
            event.accept()  # a fast second click on a button is not a double click on a row
            return
        super().mouseDoubleClickEvent(event)

    def _activate(self, hit: tuple[int, str, object], global_pos: QPoint | None = None
                  ) -> None:
        row, kind, key = hit
        if row >= self._model.rowCount():
            return
        item = self._model.item(row)
        if kind == "action":
            self._run_action(row, str(key))
        elif kind == "nav":
            step = -1 if key == "previous" else 1
            target = item.sibling_index + step
            if 0 <= target < item.sibling_count:
                self.sibling_requested.emit(item.id, target)
        elif kind == "code":
            number = int(key)  # type: ignore[arg-type]
            blocks = self._render(row).code_blocks
            if number < len(blocks):
                QGuiApplication.clipboard().setText(blocks[number].code)
                self._copied = (item.id, number)
                self.viewport().update(self.visualRect(self._model.index(row)))
                QTimer.singleShot(1500, self, self._clear_copied)
                self.code_copied.emit(item.id, number)
        elif kind == "link":
            href = str(key)
            self.link_activated.emit(href)
            url = QUrl(href)
            if url.scheme() in ("http", "https", "mailto"):
                QDesktopServices.openUrl(url)

    def _clear_copied(self) -> None:
        if self._copied is not None:
            self._copied = None
            self.viewport().update()

    def _run_action(self, row: int, name: str) -> None:
        item = self._model.item(row)
        if name == "copy":
            QGuiApplication.clipboard().setText(self.message_text(item.id))
            self.copy_requested.emit(item.id)
        elif name == "edit":
            self.edit_requested.emit(item.id)
        elif name == "regenerate":
            self.regenerate_requested.emit(item.id)
        elif name == "delete":
            self.delete_requested.emit(item.id)

    def _build_menu(self, row: int) -> QMenu:
        item = self._model.item(row)
        menu = QMenu(self)
        for name, text in self._actions_for(row):
            action = menu.addAction(text)
            action.setObjectName(name)
            action.triggered.connect(lambda _=False, n=name, i=item.id: self._menu_action(i, n))
        if item.sibling_count > 1:
            menu.addSeparator()
            for name, text, target in (
                    ("previous", self.tr("Previous alternative"), item.sibling_index - 1),
                    ("next", self.tr("Next alternative"), item.sibling_index + 1)):
                action = menu.addAction(text)
                action.setObjectName(name)
                action.setEnabled(0 <= target < item.sibling_count)
                action.triggered.connect(
                    lambda _=False, i=item.id, t=target: self.sibling_requested.emit(i, t))
        return menu

    def _menu_action(self, message_id: int, name: str) -> None:
        row = self._model.row_of(message_id)
        if row is not None:
            self._run_action(row, name)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        if event.reason() == QContextMenuEvent.Reason.Mouse:
            index = self.indexAt(event.pos())
        else:
            index = self.currentIndex()
            rows = self._visible_rows(0)
            if not index.isValid() or index.row() not in rows:
                index = self._model.index(rows.start) if rows else QModelIndex()
        if not index.isValid():
            return
        menu = self._build_menu(index.row())
        if event.reason() == QContextMenuEvent.Reason.Mouse:
            position = event.globalPos()
        else:
            rect = self.visualRect(index)
            position = self.viewport().mapToGlobal(rect.topLeft() + QPoint(MARGIN_H, 0))
        menu.exec(position)
        menu.deleteLater()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        bar = self.verticalScrollBar()
        key = event.key()
        if key == Qt.Key.Key_Escape:
            event.ignore()  # the window's Stop shortcut, and dialogs, need it
            return
        if event.matches(QKeySequence.StandardKey.Copy) and self.currentIndex().isValid():
            self._run_action(self.currentIndex().row(), "copy")
            return
        # The conversation reads like a document: keys scroll it.
        if key == Qt.Key.Key_PageDown:
            bar.triggerAction(bar.SliderAction.SliderPageStepAdd)
        elif key == Qt.Key.Key_PageUp:
            bar.triggerAction(bar.SliderAction.SliderPageStepSub)
        elif key == Qt.Key.Key_Down:
            bar.triggerAction(bar.SliderAction.SliderSingleStepAdd)
        elif key == Qt.Key.Key_Up:
            bar.triggerAction(bar.SliderAction.SliderSingleStepSub)
        elif key == Qt.Key.Key_Home:
            bar.triggerAction(bar.SliderAction.SliderToMinimum)
        elif key == Qt.Key.Key_End:
            bar.triggerAction(bar.SliderAction.SliderToMaximum)
        else:
            super().keyPressEvent(event)

    def viewportEvent(self, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.ToolTip:
            self._show_tooltip(event)  # type: ignore[arg-type]
            return True
        if kind == QEvent.Type.Leave:
            self._set_hover(None)
        return super().viewportEvent(event)

    def tooltip_at(self, pos: QPoint) -> str:
        """The tooltip text for a viewport position ("" for none)."""
        hit = self._hit(pos)
        if hit is None:
            return ""
        row, kind, key = hit
        item = self._model.item(row)
        if kind == "action":
            return {"copy": self.tr("Copy this message"),
                    "edit": self.tr("Edit and resend this message"),
                    "regenerate": self.tr("Write a new answer (this one stays as an "
                                          "alternative)"),
                    "delete": self.tr("Delete this message")}.get(str(key), "")
        if kind == "nav":
            return (self.tr("Previous alternative") if key == "previous"
                    else self.tr("Next alternative"))
        if kind == "code":
            return self.tr("Copy the code")
        if kind == "link":
            return str(key)
        if kind == "bubble" and item.role == "assistant" and row != self._stream_row:
            return item.tooltip or item.note
        return ""

    def _show_tooltip(self, event) -> None:
        text = self.tooltip_at(event.pos())
        if text:
            QToolTip.showText(event.globalPos(), text, self.viewport())
        else:
            QToolTip.hideText()
            event.ignore()

    # ================================================================== Qt plumbing
    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._warm_languages and not self._warm_timer.isActive():
            self._warm_timer.start()

    def _warm_next_lexer(self) -> None:
        if self._stream_row is not None:  # never while text streams in: try again later
            self._warm_timer.start(500)
            return
        if self._warm_languages:
            warm_up(self._warm_languages.pop(0))
        if self._warm_languages:
            self._warm_timer.start(0)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        width = self._compute_layout_width()
        if width != self._layout_width:
            self._layout_width = width
            self._relayout()
            self._ensure_visible_measured()

    def updateGeometries(self) -> None:
        super().updateGeometries()
        bar = self.verticalScrollBar()
        bar.setSingleStep(max(12, QFontMetrics(self.font()).lineSpacing() * 2))
        bar.setPageStep(max(bar.singleStep(), self.viewport().height() - 40))

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.FontChange,
                            QEvent.Type.StyleChange):
            self._theme = None
            self._rendered.clear()
            self._stream_renderer = None
            self._heights.clear()
            self._estimates.clear()
            if self._model.rowCount():
                self._relayout()
                self._ensure_visible_measured()
        super().changeEvent(event)


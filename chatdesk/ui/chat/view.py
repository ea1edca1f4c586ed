"""``MessageView``: the conversation, a lazy QListView that renders only what is seen
(the design, measured, is in the package's docstring: ``chatdesk.ui.chat``)."""

from __future__ import annotations

import bisect
from collections import OrderedDict
from dataclasses import replace

from PySide6.QtCore import QEvent, QRect, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QFontMetrics, QResizeEvent
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QWidget

from chatdesk.core.figures import CONTINUE_LABEL
from chatdesk.ui.chat import geometry
from chatdesk.ui.chat.delegate import MessageDelegate
from chatdesk.ui.chat.geometry import FooterPiece, Metrics, RowGeometry, RowSpec
from chatdesk.ui.chat.interaction import ViewInteraction
from chatdesk.ui.chat.model import MessageItem, MessageListModel
from chatdesk.ui.code_highlight import COMMON_LANGUAGES, warm_up
from chatdesk.ui.markdown_render import (
    RenderedMessage,
    RenderTheme,
    StreamRenderer,
    render_markdown,
    render_plain,
)

FLUSH_INTERVAL_MS = 33          # streamed text reaches the screen at most ~30 times a second
DOCUMENT_CACHE_SIZE = 256       # rendered documents kept (the rest keep only their height)
FOLLOW_SLACK_PX = 4             # "at the bottom" within this many pixels


class MessageView(ViewInteraction, QListView):
    """The conversation. Emits user intents; the window owns the history."""

    copy_requested = Signal(int)
    delete_requested = Signal(int)
    regenerate_requested = Signal(int)
    tokens_requested = Signal(int)  # the token view of an answer
    edit_requested = Signal(int)
    sibling_requested = Signal(int, int)  # (message id, new sibling index)
    continue_requested = Signal(int)      # write on from where this answer stopped
    code_copied = Signal(int, int)        # (message id, code block index): on the clipboard
    link_activated = Signal(str)
    file_activated = Signal(int, int)  # (message id, attachment index): open it
    source_activated = Signal(int, int)  # (message id, source index): show it in context

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
        self._metrics: Metrics | None = None
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
        self._forget_last()
        self._forget(item.id)
        self._model.append(item)
        self._after_change()

    def begin_stream(self, item: MessageItem, *, after: int | None = None) -> None:
        """Add an answer at the end that ``append_stream`` text flows into (ends a running
        stream). With ``after``, the rows after that message go first (``truncate_after``):
        a regenerated answer replaces the old branch instead of stacking below it."""
        if after is not None:
            self.truncate_after(after)
        if self._stream_row is not None:
            self.end_stream(self._model.item(self._stream_row))
        self._forget_last()
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

    def truncate_after(self, message_id: int | None) -> bool:
        """Drop every row after ``message_id`` (all rows for None), in one model removal;
        the rows kept keep their rendered documents and heights. A stream in a dropped
        row ends without a trace. False, and nothing changes, for an unknown id."""
        if message_id is None:
            keep = 0
        else:
            row = self._model.row_of(message_id)
            if row is None:
                return False
            keep = row + 1
        if keep >= self._model.rowCount():
            return True
        if self._stream_row is not None and self._stream_row >= keep:
            self._drop_stream()
        self._hover = self._pressed = None
        lit = self._model.row_of(self._highlight[0]) if self._highlight else None
        if lit is not None and lit >= keep:
            self._highlight = None
        for item in self._model.truncate(keep):
            self._forget(item.id)
        self._forget_last()
        self._after_change()
        return True

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
        """Remove a search highlight (the search was cleared)."""
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
            lines = [self.label_text(row), rendered.plain_text()]
            footer = " · ".join(self._footer_words(row))
            if footer:
                lines.append(footer)
            parts.append("\n".join(lines))
        return "\n\n".join(parts)

    def rendered_documents(self, message_id: int) -> list:
        """The QTextDocument(s) a message is shown with, rendering it if needed: one for a
        finished message, one per finished block and one for the rest while streaming."""
        row = self._model.row_of(message_id)
        return [] if row is None else [part.doc for part in self.rendered(row).parts]

    def code_blocks(self, message_id: int) -> list[str]:
        row = self._model.row_of(message_id)
        return [] if row is None else [c.code for c in self.rendered(row).code_blocks]

    # ================================================================== for the delegate
    @property
    def layout_width(self) -> int:
        return self._layout_width

    @property
    def hover(self) -> tuple[int, str, object] | None:
        return self._hover

    @property
    def copied(self) -> tuple[int, int] | None:
        return self._copied

    def model(self) -> MessageListModel:
        return self._model

    def theme(self) -> RenderTheme:
        if self._theme is None:
            self._theme = RenderTheme(self.palette(), self.font())
            self._metrics = Metrics.of(self._theme)
        return self._theme

    def metrics(self) -> Metrics:
        if self._metrics is None:
            self.theme()
        assert self._metrics is not None
        return self._metrics

    def highlight_for(self, message_id: int) -> str | None:
        highlight = self._highlight
        return highlight[1] if highlight and highlight[0] == message_id else None

    def note_painted(self, row: int) -> None:
        """A row is being painted: if it was not measured at this width, lay out again
        on the next turn (painting is no time to change the layout)."""
        known = self._heights.get(self._model.items[row].id)
        if known is None or known[0] != self._layout_width:
            self._fixup_timer.start()

    def row_height(self, row: int) -> int:
        """What the view lays out with: measured at this width, else a stale or estimated
        height. Never renders (QListView asks this for every row on every layout)."""
        item = self._model.items[row]
        known = self._heights.get(item.id)
        if known is not None:
            return known[1]
        estimate = self._estimates.get(item.id)
        if estimate is None or estimate[0] != self._layout_width:
            has_footer = bool(item.note or item.chips or item.incomplete or item.stop_note
                              or item.files or item.sources
                              or row == self._stream_row)
            estimate = (self._layout_width, geometry.estimate_height(
                item.role, item.text, has_footer, self._layout_width, self.metrics()))
            self._estimates[item.id] = estimate
        return estimate[1]

    def row_geometry(self, row: int, rect: QRect | QRectF) -> RowGeometry:
        return geometry.row_geometry(self._spec(row), rect, self._layout_width,
                                     self.metrics())

    def rendered(self, row: int) -> RenderedMessage:
        """The row's text rendered and laid out at the current width (cached by id)."""
        item = self._model.item(row)
        rendered = self._rendered.get(item.id)
        if rendered is None or rendered.source != item.text:
            if row == self._stream_row and item.role != "user":
                if self._stream_renderer is None:
                    self._stream_renderer = StreamRenderer(self.theme())
                rendered = self._stream_renderer.render(item.text)
            else:
                rendered = self._render_uncached(item)
            self._rendered[item.id] = rendered
            while len(self._rendered) > DOCUMENT_CACHE_SIZE:
                self._rendered.popitem(last=False)
        else:
            self._rendered.move_to_end(item.id)
        rendered.layout(geometry.doc_width(item.role, self._layout_width, self.metrics()))
        return rendered

    def label_text(self, row: int) -> str:
        item = self._model.items[row]
        if item.title:
            return item.title
        return {"user": self.tr("You"), "assistant": self.tr("Assistant"),
                "system": self.tr("System")}.get(item.role, item.role)

    def actions_for(self, row: int) -> list[tuple[str, str]]:
        if row == self._stream_row:
            return []
        role = self._model.items[row].role
        actions = [("copy", self.tr("Copy"))]
        if role == "user":
            actions.append(("edit", self.tr("Edit")))
        elif role == "assistant":
            actions.append(("regenerate", self.tr("Regenerate")))
            actions.append(("tokens", self.tr("Tokens")))
        actions.append(("delete", self.tr("Delete")))
        return actions

    # ================================================================== rows
    def can_continue(self, row: int) -> bool:
        """Only the last answer, once it is not streaming, offers "Continue anyway"."""
        item = self._model.items[row]
        return (bool(item.continue_tip) and row == self._model.rowCount() - 1
                and row != self._stream_row)

    def _status(self, row: int) -> list[FooterPiece]:
        pieces = []
        item = self._model.items[row]
        if row == self._stream_row:
            pieces.append(FooterPiece(self.tr("generating…"), "status"))
        if item.incomplete:
            pieces.append(FooterPiece(self.tr("⚠ incomplete"), "warning"))
        if item.stop_note and row != self._stream_row:
            pieces.append(FooterPiece(item.stop_note, "warning"))
            if self.can_continue(row):
                pieces.append(FooterPiece(self.tr(CONTINUE_LABEL), "button", "continue"))
        return pieces

    def _footer_words(self, row: int) -> list[str]:
        item = self._model.items[row]
        figures = list(item.chips) if item.chips else [item.note] if item.note else []
        sources = [self.tr("Sources:"), *item.sources] if item.sources else []
        return [piece.text for piece in self._status(row)] + list(item.files) + sources \
            + figures

    def _footer(self, row: int) -> tuple[FooterPiece, ...]:
        """Status first, then the figures: chips, or else the note's parts as text (each
        part wraps as a whole, so nothing is cut in a narrow bubble)."""
        item = self._model.items[row]
        pieces = self._status(row)
        pieces += [FooterPiece(name, "file") for name in item.files]
        if item.sources:
            pieces.append(FooterPiece(self.tr("Sources:"), "heading"))
            pieces += [FooterPiece(label, "source") for label in item.sources]
        if item.chips:
            pieces += [FooterPiece(chip, "chip") for chip in item.chips]
        elif item.note:
            parts = item.note.split(" · ")
            pieces += [FooterPiece(part if n == 0 else f"· {part}", "text")
                       for n, part in enumerate(parts)]
        return tuple(pieces)

    def _spec(self, row: int) -> RowSpec:
        item = self._model.items[row]
        rendered = self.rendered(row)
        nav = (f"{item.sibling_index + 1}/{item.sibling_count}" if item.sibling_count > 1
               else "")
        return RowSpec(item.role, self.label_text(row), nav, tuple(self.actions_for(row)),
                       self._footer(row), rendered.height, rendered.ideal_width,
                       tuple(rendered.boxes), self.tr("Copied"))

    def _render_uncached(self, item: MessageItem) -> RenderedMessage:
        theme = self.theme()
        if item.role == "user":
            return render_plain(item.text, theme)
        return render_markdown(item.text, theme)

    def _measure(self, row: int, *, force: bool = False) -> bool:
        """Render and measure a row at the current width; True if its height changed."""
        item = self._model.items[row]
        known = self._heights.get(item.id)
        if known is not None and known[0] == self._layout_width and not force:
            return False
        before = self.row_height(row)
        height = geometry.row_height(self._spec(row), self._layout_width, self.metrics())
        self._heights[item.id] = (self._layout_width, height)
        return height != before

    def _forget_last(self) -> None:
        """The last row's footer depends on its being last ("Continue anyway"): measure
        it again when another row comes after it or it becomes the last."""
        if self._model.rowCount():  # its rendered text stays: only its height may change
            last = self._model.items[-1].id
            self._heights.pop(last, None)
            self._estimates.pop(last, None)

    def _forget(self, message_id: int) -> None:
        self._heights.pop(message_id, None)
        self._estimates.pop(message_id, None)
        self._rendered.pop(message_id, None)

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

    # ================================================================== layout, scrolling
    def _compute_layout_width(self) -> int:
        width = self.viewport().width()
        bar = self.verticalScrollBar()
        if not bar.isVisibleTo(self):
            # Lay out as if the scroll bar were there: its appearing must not change widths
            # (which would change heights, which could hide it again).
            width -= self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent, None,
                                              self)
        return max(120, width)

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
        y = self.rendered(row).first_hit_y(needle)
        if y is None:
            return None
        geo = self.row_geometry(row, QRect(0, 0, self._layout_width, self.row_height(row)))
        return int(geo.doc_origin.y() + y)

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
            self._metrics = None
            self._rendered.clear()
            self._stream_renderer = None
            self._heights.clear()
            self._estimates.clear()
            if self._model.rowCount():
                self._relayout()
                self._ensure_visible_measured()
        super().changeEvent(event)


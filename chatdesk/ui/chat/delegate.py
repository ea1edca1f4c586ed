"""Paints one message row: bubble, header, the rendered text, code boxes, figure chips.

Everything is painted where ``geometry.row_geometry`` says; the delegate never renders
Markdown or measures text itself (``sizeHint`` returns the view's cached height: QListView
asks it for every row on every layout).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QModelIndex, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from chatdesk.ui.chat.geometry import RADIUS, STAT_PAD, action_icon_rect
from chatdesk.ui.icons import GLYPHS, icon
from chatdesk.ui.markdown_render import RenderedMessage, RenderTheme, blend

if TYPE_CHECKING:
    from PySide6.QtCore import QRect
    from PySide6.QtWidgets import QWidget

    from chatdesk.ui.chat.geometry import RowGeometry
    from chatdesk.ui.chat.model import MessageListModel


class PaintedView(Protocol):
    """What the delegate reads from the view it paints for (the MessageView). A protocol,
    so the delegate never imports the view that owns it."""

    @property
    def layout_width(self) -> int: ...
    @property
    def hover(self) -> tuple[int, str, object] | None: ...
    @property
    def copied(self) -> tuple[int, int] | None: ...
    def model(self) -> MessageListModel: ...
    def theme(self) -> RenderTheme: ...
    def rendered(self, row: int) -> RenderedMessage: ...
    def row_height(self, row: int) -> int: ...
    def row_geometry(self, row: int, rect: QRect | QRectF) -> RowGeometry: ...
    def highlight_for(self, message_id: int) -> str | None: ...
    def actions_for(self, row: int) -> list[tuple[str, str]]: ...
    def label_text(self, row: int) -> str: ...
    def note_painted(self, row: int) -> None: ...
    def hasFocus(self) -> bool: ...
    def viewport(self) -> QWidget: ...

_ROLE_COLORS = {  # label colour: (light theme, dark theme)
    "user": ("#2b6cb0", "#90cdf4"),
    "assistant": ("#2f855a", "#9ae6b4"),
    "system": ("#718096", "#a0aec0"),
}
_WARNING_COLORS = ("#c05621", "#f6ad55")


class MessageDelegate(QStyledItemDelegate):
    """Paints a row from the view's cached document and geometry."""

    def __init__(self, view: PaintedView) -> None:
        super().__init__(view)
        self._view = view
        self._icons: dict[str, QIcon] = {}  # the hover buttons' icons (palette-coloured)

    def _icon(self, name: str) -> QIcon:
        if name not in self._icons:
            self._icons[name] = icon(name) if name in GLYPHS else QIcon()
        return self._icons[name]

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        return QSize(self._view.layout_width, self._view.row_height(index.row()))

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex) -> None:
        view = self._view
        row = index.row()
        view.note_painted(row)
        item = view.model().item(row)
        theme = view.theme()
        geo = view.row_geometry(row, option.rect)
        rendered = view.rendered(row)
        palette = option.palette
        base = palette.color(QPalette.ColorRole.Base)
        text = palette.color(QPalette.ColorRole.Text)
        dark = theme.dark
        hover = view.hover if view.hover and view.hover[0] == row else None

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
        if option.state & QStyle.StateFlag.State_HasFocus and view.hasFocus():
            border = palette.color(QPalette.ColorRole.Highlight)
        painter.setPen(QPen(border, 1))
        painter.setBrush(fill)
        painter.drawRoundedRect(geo.bubble.adjusted(0.5, 0.5, -0.5, -0.5), RADIUS, RADIUS)

        # -- header: label, alternatives, actions (on hover)
        light, dark_color = _ROLE_COLORS.get(item.role, _ROLE_COLORS["assistant"])
        painter.setFont(theme.bold_font)
        painter.setPen(QColor(dark_color if dark else light))
        painter.drawText(geo.label, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         view.label_text(row))
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
            labels = dict(view.actions_for(row))
            for name, r in geo.actions:
                hot = hover[1] == "action" and hover[2] == name
                painter.setPen(QPen(blend(fill, text, 0.25), 1))
                painter.setBrush(blend(fill, text, 0.14 if hot else 0.05))
                painter.drawRoundedRect(r.adjusted(0.5, 0.5, -0.5, -0.5), 4, 4)
                painter.setPen(text)
                glyph = self._icon(name)
                words = r
                if not glyph.isNull():
                    square = action_icon_rect(r)
                    glyph.paint(painter, square.toRect())
                    words = r.adjusted(square.right() - r.left(), 0, 0, 0)
                painter.drawText(words, Qt.AlignmentFlag.AlignCenter, labels[name])

        # -- body
        painter.save()
        painter.translate(geo.doc_origin)
        visible = QRectF(view.viewport().rect()).translated(-geo.doc_origin)
        if rendered.bars:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(theme.code_border)
            for bar in rendered.bars:
                if bar.intersects(visible):
                    painter.drawRect(bar)
        for number, box in enumerate(rendered.boxes):
            if box.intersects(visible):
                hot = hover is not None and hover[1] == "code" and hover[2] == number
                button = geo.code_copy[number].translated(-geo.doc_origin)
                self._paint_code_box(painter, theme, rendered, number, box, button,
                                     view.copied == (item.id, number), hot)
        doc_palette = QPalette(palette)
        doc_palette.setColor(QPalette.ColorRole.Text, text)
        # Only what is on screen: a streamed answer can be many screens tall.
        clip = QRectF(option.rect).intersected(QRectF(view.viewport().rect()))
        clip = clip.intersected(geo.doc_rect).translated(-geo.doc_origin)
        rendered.draw(painter, doc_palette, clip, view.highlight_for(item.id),
                      theme.search_hit)
        painter.restore()

        self._paint_footer(painter, theme, geo, fill, muted, hover)
        painter.restore()

    def _paint_footer(self, painter: QPainter, theme: RenderTheme, geo: RowGeometry,
                      fill: QColor, muted: QColor,
                      hover: tuple[int, str, object] | None = None) -> None:
        """Figures as small rounded chips; status and notes as grey text. Nothing is cut
        unless one piece is wider than the whole bubble."""
        if not geo.footer:
            return
        fm = painter.fontMetrics()
        chip_fill = blend(fill, theme.text, 0.07 if theme.dark else 0.05)
        chip_border = blend(fill, theme.text, 0.16 if theme.dark else 0.12)
        warning = QColor(_WARNING_COLORS[1 if theme.dark else 0])
        link = QColor(_ROLE_COLORS["user"][1 if theme.dark else 0])
        for piece, rect in geo.footer:
            if piece.kind == "button":  # like a hover button, but always there
                hot = hover is not None and hover[1] == "action" and hover[2] == piece.action
                painter.setPen(QPen(blend(fill, theme.text, 0.25), 1))
                painter.setBrush(blend(fill, theme.text, 0.14 if hot else 0.05))
                painter.drawRoundedRect(rect.adjusted(0.5, 0.5, -0.5, -0.5), 4, 4)
                painter.setPen(theme.text)
                painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, piece.text)
                continue
            if piece.rounded:
                painter.setPen(QPen(chip_border, 1))
                painter.setBrush(chip_fill)
                radius = rect.height() / 2
                painter.drawRoundedRect(rect.adjusted(0.5, 0.5, -0.5, -0.5), radius, radius)
                inner = rect.adjusted(STAT_PAD, 0, -STAT_PAD, 0)
            else:
                inner = rect
            painter.setPen(warning if piece.kind == "warning"
                           else link if piece.kind in ("file", "source") else muted)
            label = fm.elidedText(piece.text, Qt.TextElideMode.ElideRight,
                                  int(inner.width() + 0.5))
            painter.drawText(inner, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                             label)

    def _paint_code_box(self, painter: QPainter, theme: RenderTheme,
                        rendered: RenderedMessage, number: int, box: QRectF,
                        button: QRectF, copied: bool, hot: bool) -> None:
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
        painter.setPen(QPen(theme.code_border, 1))
        painter.setBrush(blend(theme.code_header_bg, theme.text, 0.12 if hot else 0.0))
        painter.drawRoundedRect(button, 4, 4)
        painter.setPen(theme.text)
        painter.drawText(button, Qt.AlignmentFlag.AlignCenter,
                         self.tr("Copied") if copied else self.tr("Copy"))

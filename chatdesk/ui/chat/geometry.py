"""Where each part of a message row goes: pure layout math, no painting, no widgets.

The delegate paints at these rectangles, the view hit-tests with them and measures row
heights with them, so what is painted, what is clicked and what is laid out always agree.
The inputs are plain values and font metrics (``RowSpec``, ``Metrics``): the math is
unit-tested without a view.

A row is a bubble in a reading column: the row's width less margins, capped at
``READING_CHARS`` average characters and centred, because lines much longer than that are
hard to read in a wide window. Answers span the column; the user's bubbles sit on its
right, only as wide as their text. Under an answer its figures are small chips that wrap
to more rows instead of being cut.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRect, QRectF
from PySide6.QtGui import QFontMetrics

if TYPE_CHECKING:
    from chatdesk.ui.markdown_render import RenderTheme

# Row geometry, in pixels.
MARGIN_H = 14
MARGIN_V = 5
PAD = 10
RADIUS = 8
HEADER_GAP = 4
FOOTER_GAP = 6
USER_MAX_FRACTION = 0.82
CHIP_PAD = 7            # hover buttons and a code box's "Copy"
CHIP_GAP = 4
STAT_PAD = 6            # the figures under an answer
STAT_GAP = 4
STAT_ROW_GAP = 3
READING_CHARS = 85      # the widest a bubble's text gets, in average characters

# Typical prose, for the width of an "average character" (fonts' own average is unreliable).
_SAMPLE = "The quick brown fox jumps over the lazy dog, then 42 more times."


@dataclass(frozen=True)
class Metrics:
    """The font measures a row is laid out with (from the view's theme)."""

    bold: QFontMetrics
    small: QFontMetrics
    char_width: float        # average character of body text
    line_spacing: int
    code_header_height: int

    @classmethod
    def of(cls, theme: RenderTheme) -> Metrics:
        body = QFontMetrics(theme.font)
        return cls(QFontMetrics(theme.bold_font), QFontMetrics(theme.small_font),
                   body.horizontalAdvance(_SAMPLE) / len(_SAMPLE), body.lineSpacing(),
                   theme.code_header_height)

    @property
    def chip_height(self) -> int:
        return self.small.height() + 4

    @property
    def stat_height(self) -> int:
        return self.small.height() + 2


@dataclass(frozen=True)
class FooterPiece:
    """One thing under a message: a figure chip, or plain text (status, note)."""

    text: str
    # "chip" (rounded label) | "text" | "status" | "warning" (coloured) | "file" (an
    # attachment) | "heading" ("Sources:") | "source" (a passage an answer was given):
    # files and sources are clickable | "button" (always shown, clicked as ``action``)
    kind: str = "chip"
    action: str = ""

    @property
    def rounded(self) -> bool:
        return self.kind in ROUNDED


ROUNDED = frozenset({"chip", "file", "source"})
CLICKABLE = frozenset({"file", "source"})
SOURCES_ROW = frozenset({"heading", "source"})  # "Sources:" and its chips: a row of their own


@dataclass(frozen=True)
class RowSpec:
    """What the layout of one row depends on, as plain values."""

    role: str
    label: str
    nav_text: str = ""                           # "2/3" when there are alternatives
    actions: tuple[tuple[str, str], ...] = ()    # (name, label) of the hover buttons
    footer: tuple[FooterPiece, ...] = ()
    body_height: int = 0
    body_ideal_width: int = 0
    code_boxes: tuple[QRectF, ...] = ()          # body coordinates
    copy_label: str = "Copied"                   # the widest label of a code box's button


@dataclass
class RowGeometry:
    """Where everything of one row is, in the coordinates of the row's rectangle."""

    bubble: QRectF
    label: QRectF
    doc_origin: QPointF
    doc_rect: QRectF
    nav: tuple[QRectF, QRectF, QRectF] | None = None  # ‹, "2/3", ›
    actions: list[tuple[str, QRectF]] = field(default_factory=list)
    footer: list[tuple[FooterPiece, QRectF]] = field(default_factory=list)
    code_copy: list[QRectF] = field(default_factory=list)


def column(layout_width: int, metrics: Metrics) -> tuple[int, int]:
    """Left edge and width of the reading column in a row ``layout_width`` wide."""
    inner = layout_width - 2 * MARGIN_H
    width = min(inner, int(READING_CHARS * metrics.char_width) + 2 * PAD)
    return (layout_width - width) // 2, width


def doc_width(role: str, layout_width: int, metrics: Metrics) -> int:
    """The width a message's text is laid out for."""
    width = column(layout_width, metrics)[1]
    if role == "user":
        width = int(width * USER_MAX_FRACTION)
    return max(40, width - 2 * PAD)


def piece_width(piece: FooterPiece, small: QFontMetrics) -> int:
    # +1: the integer advance can be up to half a pixel short of the text's real width,
    # and a piece must never be elided when it has the room it asked for.
    text = small.horizontalAdvance(piece.text) + 1
    if piece.kind == "button":
        return text + 2 * CHIP_PAD
    return text + 2 * STAT_PAD if piece.rounded else text


def flow(pieces: tuple[FooterPiece, ...], metrics: Metrics, width: float) -> list[QRectF]:
    """Rectangles for ``pieces`` (origin 0, 0), left to right, wrapping into new rows
    ``width`` wide; a piece wider than a whole row gets the row (and is elided there)."""
    height = metrics.stat_height
    rects: list[QRectF] = []
    x = y = 0.0
    previous: FooterPiece | None = None
    for piece in pieces:
        w = min(float(piece_width(piece, metrics.small)), width)
        if previous is not None:  # a wider gap between chips and text than within them
            x += STAT_GAP if previous.rounded == piece.rounded else 2 * STAT_GAP
            if x + w > width or (piece.kind in SOURCES_ROW) != (previous.kind in SOURCES_ROW):
                x, y = 0.0, y + height + STAT_ROW_GAP
        rects.append(QRectF(x, y, w, height))
        x += w
        previous = piece
    return rects


def _flow_height(rects: list[QRectF]) -> int:
    return int(max((r.bottom() for r in rects), default=0.0) + 0.5)


def chrome_height(metrics: Metrics, footer_height: int) -> int:
    """A row's height without its text: margins, padding, header and footer."""
    height = 2 * MARGIN_V + 2 * PAD + metrics.bold.height() + HEADER_GAP
    if footer_height:
        height += FOOTER_GAP + footer_height
    return height


def action_width(text: str, metrics: Metrics) -> int:
    """A hover button's width: its icon (a square as tall as the chip) and its word."""
    return metrics.small.horizontalAdvance(text) + 2 * CHIP_PAD + metrics.chip_height


def action_icon_rect(rect: QRectF) -> QRectF:
    """Where a hover button's icon goes: a square at its left, inside the padding."""
    side = rect.height() - 4
    return QRectF(rect.left() + CHIP_PAD - 2, rect.top() + 2, side, side)


def _bubble_span(spec: RowSpec, layout_width: int, metrics: Metrics) -> tuple[int, int]:
    """Left edge and width of the bubble within the row."""
    left, width = column(layout_width, metrics)
    if spec.role != "user":
        return left, width
    small = metrics.small
    header = metrics.bold.horizontalAdvance(spec.label) + 16
    if spec.nav_text:
        header += small.horizontalAdvance(spec.nav_text) + 2 * (metrics.chip_height + 2) + 12
    header += sum(action_width(text, metrics) for _, text in spec.actions)
    header += CHIP_GAP * max(0, len(spec.actions) - 1)
    footer = flow(spec.footer, metrics, float("inf"))
    content = max(spec.body_ideal_width, header, int(footer[-1].right()) if footer else 0)
    bubble = min(int(width * USER_MAX_FRACTION), content + 2 * PAD)
    return left + width - bubble, bubble


def row_height(spec: RowSpec, layout_width: int, metrics: Metrics) -> int:
    """The height of a row whose text is ``spec.body_height`` tall."""
    bubble = _bubble_span(spec, layout_width, metrics)[1]
    footer = _flow_height(flow(spec.footer, metrics, bubble - 2 * PAD)) if spec.footer else 0
    return chrome_height(metrics, footer) + spec.body_height


def estimate_height(role: str, text: str, has_footer: bool, layout_width: int,
                    metrics: Metrics) -> int:
    """A row's height guessed from its text's length (rows not yet rendered)."""
    chars_per_line = max(10, int(doc_width(role, layout_width, metrics) / metrics.char_width))
    lines = len(text) / chars_per_line + text.count("\n") * 0.6 + 1
    fences = text.count("```") // 2
    extra = fences * (metrics.code_header_height + 28)
    chrome = chrome_height(metrics, metrics.stat_height if has_footer else 0)
    return int(chrome + lines * metrics.line_spacing + extra)


def row_geometry(spec: RowSpec, rect: QRect | QRectF, layout_width: int,
                 metrics: Metrics) -> RowGeometry:
    """Everything's place in a row painted at ``rect``."""
    bold, small = metrics.bold, metrics.small
    header_h = bold.height()
    chip_h = metrics.chip_height
    left, bubble_w = _bubble_span(spec, layout_width, metrics)
    bubble = QRectF(rect.left() + left, rect.top() + MARGIN_V, bubble_w,
                    rect.height() - 2 * MARGIN_V)

    x0 = bubble.left() + PAD
    y0 = bubble.top() + PAD
    label = QRectF(x0, y0, bold.horizontalAdvance(spec.label), header_h)
    nav = None
    if spec.nav_text:
        nx = label.right() + 12
        cy = y0 + (header_h - chip_h) / 2
        prev_r = QRectF(nx, cy, chip_h, chip_h)
        text_r = QRectF(prev_r.right() + 2, cy, small.horizontalAdvance(spec.nav_text), chip_h)
        next_r = QRectF(text_r.right() + 2, cy, chip_h, chip_h)
        nav = (prev_r, text_r, next_r)
    actions = []
    ax = bubble.right() - PAD
    for name, text in reversed(spec.actions):
        width = action_width(text, metrics)
        actions.append((name, QRectF(ax - width, y0 + (header_h - chip_h) / 2, width, chip_h)))
        ax -= width + CHIP_GAP
    actions.reverse()

    doc_origin = QPointF(x0, y0 + header_h + HEADER_GAP)
    doc_rect = QRectF(doc_origin, QPointF(bubble.right() - PAD,
                                          doc_origin.y() + spec.body_height))
    footer = []
    if spec.footer:
        top = doc_rect.bottom() + FOOTER_GAP
        rects = flow(spec.footer, metrics, bubble.width() - 2 * PAD)
        footer = [(piece, r.translated(x0, top))
                  for piece, r in zip(spec.footer, rects, strict=True)]
    copy_w = small.horizontalAdvance(spec.copy_label) + 2 * CHIP_PAD
    code_copy = [QRectF(doc_origin.x() + box.right() - 6 - copy_w,
                        doc_origin.y() + box.top() + 3, copy_w,
                        metrics.code_header_height - 6) for box in spec.code_boxes]
    return RowGeometry(bubble, label, doc_origin, doc_rect, nav, actions, footer, code_copy)


def hit(geo: RowGeometry, point: QPointF) -> tuple[str, object]:
    """What of a row is at ``point``: ("action", name), ("nav", "previous"|"next"),
    ("code", block number), ("file", n) or ("source", n) (the nth of its kind under the
    message), ("doc", None), ("bubble", None) or ("row", None)."""
    for name, rect in geo.actions:
        if rect.contains(point):
            return ("action", name)
    for piece, rect in geo.footer:
        if piece.action and rect.contains(point):
            return ("action", piece.action)
    if geo.nav:
        if geo.nav[0].contains(point):
            return ("nav", "previous")
        if geo.nav[2].contains(point):
            return ("nav", "next")
    for number, rect in enumerate(geo.code_copy):
        if rect.contains(point):
            return ("code", number)
    counts: dict[str, int] = {}
    for piece, rect in geo.footer:
        if piece.kind in CLICKABLE:
            number = counts.get(piece.kind, 0)
            counts[piece.kind] = number + 1
            if rect.contains(point):
                return (piece.kind, number)
    if geo.doc_rect.contains(point):
        return ("doc", None)
    if geo.bubble.contains(point):
        return ("bubble", None)
    return ("row", None)

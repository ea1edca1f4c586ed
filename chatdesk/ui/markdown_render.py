"""One message's text as a QTextDocument: Qt's own Markdown reader, then a little polish.

``QTextDocument.setMarkdown`` (md4c, CommonMark + GitHub tables/strikethrough/task lists)
parses in C++: ~55 µs for a typical answer with a heading, a list, a table and a code block,
~0.2 ms with its layout at 600 px (measured here, PySide6 6.11). Rendering Markdown to HTML
in Python and then parsing that HTML would cost more and need another dependency. After
``setMarkdown`` we walk the blocks once:

* fenced (and indented) code blocks — blocks carrying ``BlockCodeLanguage`` — get a fixed
  font, inner margins and pygments colours (``code_highlight``); the view paints their box,
  language label and "Copy" button in the space those margins leave, from ``boxes``;
* inline code gets a fixed font and a tinted background, links the view's link colour;
* block quotes get a narrower indent and a bar (painted by the view, from ``bars``);
* tables get thin borders in the palette's colours;
* a single newline inside a paragraph is a line break, as in chatdesk's one Markdown
  dialect (``core.markdown_dialect``, GitHub's "breaks"); code keeps its own lines.
  Qt's reader turns a hard break into a new paragraph (with a paragraph's spacing), so
  instead the dialect's parser says which line ends are soft breaks, each gets an
  invisible marker, and the marker and the space Qt reads there become a line separator
  (U+2028) in the same paragraph.

Documents are laid out for one width at a time (``RenderedMessage.layout``); the view keeps
them per message id and relays them out only when the width changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import (
    QAbstractTextDocumentLayout,
    QColor,
    QFont,
    QFontDatabase,
    QFontMetrics,
    QPainter,
    QPalette,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFormat,
    QTextFrameFormat,
    QTextTable,
)

from chatdesk.core.markdown_dialect import soft_break_lines
from chatdesk.ui.code_highlight import DARK_STYLE, LIGHT_STYLE, highlight_ranges

_CODE_LANGUAGE = QTextFormat.Property.BlockCodeLanguage
_QUOTE_LEVEL = QTextFormat.Property.BlockQuoteLevel
QUOTE_INDENT = 18  # per level of "> quote"; a bar is drawn in it (Qt's default is 40, no bar)

# Geometry of a code box, in pixels (see RenderTheme.code_header_height for the header).
CODE_PAD = 8       # inner padding left/right/bottom
CODE_GAP = 6       # space above and below the box

# Marks a soft line break for ``_mark_soft_breaks``: Unicode spaces (Zs), which md4c reads
# as whitespace next to emphasis, just like the line end they stand before. The first one
# that the text does not contain is used.
_BREAK_MARKERS = "\u2005\u2006\u2004\u2008\u2009\u200a"
LINE_SEPARATOR = "\u2028"


def blend(a: QColor, b: QColor, t: float) -> QColor:
    """``a`` moved a fraction ``t`` of the way towards ``b``."""
    return QColor.fromRgbF(a.redF() + (b.redF() - a.redF()) * t,
                           a.greenF() + (b.greenF() - a.greenF()) * t,
                           a.blueF() + (b.blueF() - a.blueF()) * t, 1.0)


class RenderTheme:
    """Fonts and colours that rendered documents depend on (derived from a palette)."""

    def __init__(self, palette: QPalette, font: QFont) -> None:
        base = palette.color(QPalette.ColorRole.Base)
        text = palette.color(QPalette.ColorRole.Text)
        self.dark = base.lightness() < 128
        self.font = QFont(font)
        self.code_font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        size = font.pointSizeF()
        if size > 0:
            self.code_font.setPointSizeF(size * 0.95)
        self.small_font = QFont(font)
        if size > 0:
            self.small_font.setPointSizeF(size * 0.85)
        self.text = text
        self.link = palette.color(QPalette.ColorRole.Link)
        self.code_bg = blend(base, text, 0.09 if self.dark else 0.045)
        self.code_header_bg = blend(base, text, 0.14 if self.dark else 0.085)
        self.code_border = blend(base, text, 0.2 if self.dark else 0.14)
        self.code_label = blend(base, text, 0.6)
        self.inline_code_bg = blend(base, text, 0.12 if self.dark else 0.07)
        self.table_border = blend(base, text, 0.3)
        self.search_hit = QColor("#8a6d00") if self.dark else QColor("#ffe066")
        self.pygments_style = DARK_STYLE if self.dark else LIGHT_STYLE
        self.code_header_height = QFontMetrics(self.small_font).height() + 8
        self.bold_font = QFont(font)
        self.bold_font.setBold(True)
        metrics = QFontMetrics(self.font)
        self.line_spacing = metrics.lineSpacing()
        self.average_char_width = max(1, metrics.averageCharWidth())
        self.bold_height = QFontMetrics(self.bold_font).height()
        self.small_height = QFontMetrics(self.small_font).height()


@dataclass
class CodeBlock:
    """One code block of a rendered message: its code exactly as written, and where it is."""

    language: str
    code: str
    first_block: int  # QTextBlock numbers in the document
    last_block: int


@dataclass
class RenderedPart:
    """One QTextDocument of a message (a message is one part, a streaming one several)."""

    source: str
    doc: QTextDocument
    code_blocks: list[CodeBlock] = field(default_factory=list)
    width: int = -1
    height: int = 0         # including any code box poking out above or below the text
    offset: int = 0         # y of the document's origin within the part
    ideal_width: int = 0
    boxes: list[QRectF] = field(default_factory=list)  # one per code block, part coordinates
    quotes: list[tuple[int, int]] = field(default_factory=list)  # (block number, level)
    bars: list[QRectF] = field(default_factory=list)  # quote bars, part coordinates

    def layout(self, width: int) -> int:
        """Lay the document out at ``width`` px (a no-op at the current width); its height."""
        if width != self.width:
            self.doc.setTextWidth(max(40, width))
            self.width = width
            doc_height = self.doc.size().height()
            self.ideal_width = int(self.doc.idealWidth() + 0.999)
            boxes = [self._box(block) for block in self.code_blocks]
            # Qt drops the top margin of a document's first block and the bottom margin of
            # its last: a code box there (drawn in the margins) would stick out. Make room.
            above = max((-box.top() for box in boxes), default=0.0)
            below = max((box.bottom() - doc_height for box in boxes), default=0.0)
            self.offset = int(max(0.0, above) + 0.999)
            self.height = int(doc_height + 0.999) + self.offset + int(max(0.0, below) + 0.999)
            self.boxes = [box.translated(0, self.offset) for box in boxes]
            layout = self.doc.documentLayout()
            self.bars = []
            for number, level in self.quotes:
                rect = layout.blockBoundingRect(self.doc.findBlockByNumber(number))
                for depth in range(level):
                    self.bars.append(QRectF(rect.left() + depth * QUOTE_INDENT + 2,
                                            rect.top() - 3 + self.offset, 3, rect.height() + 6))
        return self.height

    def _box(self, code: CodeBlock) -> QRectF:
        layout = self.doc.documentLayout()
        first = self.doc.findBlockByNumber(code.first_block)
        last = self.doc.findBlockByNumber(code.last_block)
        top_rect = layout.blockBoundingRect(first)
        bottom_rect = layout.blockBoundingRect(last)
        header = first.blockFormat().topMargin() - CODE_GAP
        left = top_rect.left() + first.blockFormat().indent() * self.doc.indentWidth()
        return QRectF(left, top_rect.top() - header, self.doc.textWidth() - left,
                      bottom_rect.bottom() + CODE_PAD - (top_rect.top() - header))


PART_GAP = 6  # between the parts of a streamed message: a paragraph's margin


class RenderedMessage:
    """A message body: its parts stacked, in body coordinates (origin top left)."""

    def __init__(self, source: str, parts: list[RenderedPart]) -> None:
        self.source = source
        self.parts = parts
        self.width = -1
        self.height = 0
        self.ideal_width = 0
        self.tops: list[int] = []
        self.code_blocks = [code for part in parts for code in part.code_blocks]
        self.boxes: list[QRectF] = []
        self.bars: list[QRectF] = []

    def layout(self, width: int) -> int:
        if width != self.width or any(part.width != width for part in self.parts):
            y = 0
            self.tops = []
            for number, part in enumerate(self.parts):
                if number:
                    y += PART_GAP
                self.tops.append(y)
                y += part.layout(width)
            self.width, self.height = width, y
            self.ideal_width = max((part.ideal_width for part in self.parts), default=0)
            self.boxes = [box.translated(0, top) for part, top in zip(self.parts, self.tops,
                                                                       strict=True)
                          for box in part.boxes]
            self.bars = [bar.translated(0, top) for part, top in zip(self.parts, self.tops,
                                                                     strict=True)
                         for bar in part.bars]
        return self.height

    def _origins(self):
        for part, top in zip(self.parts, self.tops, strict=True):
            yield part, top + part.offset

    def plain_text(self) -> str:
        return "\n".join(part.doc.toPlainText() for part in self.parts)

    def anchor_at(self, point: QPointF) -> str:
        for part, origin in self._origins():
            if origin - part.offset <= point.y() < origin - part.offset + part.height:
                return part.doc.documentLayout().anchorAt(QPointF(point.x(),
                                                                  point.y() - origin))
        return ""

    def first_hit_y(self, needle: str) -> float | None:
        """Body y of the first line holding ``needle`` (case-insensitive), if any."""
        for part, origin in self._origins():
            hits = sorted(find_hits(part.doc, needle), key=QTextCursor.selectionStart)
            if hits:
                block = hits[0].block()
                layout = block.layout()
                line = layout.lineForTextPosition(hits[0].selectionStart() - block.position())
                return origin + layout.position().y() + (line.y() if line.isValid() else 0)
        return None

    def draw(self, painter: QPainter, palette: QPalette, clip: QRectF,
             highlight: str | None = None, highlight_color: QColor | None = None) -> None:
        """Paint the parts that meet ``clip`` (body coordinates); the painter's origin is
        the body's top left."""
        hit_format = None
        if highlight:
            hit_format = QTextCharFormat()
            hit_format.setBackground(highlight_color or QColor("#ffe066"))
        for part, origin in self._origins():
            if origin - part.offset > clip.bottom() or origin + part.height < clip.top():
                continue
            context = QAbstractTextDocumentLayout.PaintContext()
            context.palette = palette
            context.clip = clip.translated(0, -origin)
            if hit_format is not None:
                selections = []
                for cursor in find_hits(part.doc, highlight or ""):
                    selection = QAbstractTextDocumentLayout.Selection()
                    selection.cursor = cursor
                    selection.format = hit_format
                    selections.append(selection)
                context.selections = selections
            painter.save()
            painter.translate(0, origin)
            part.doc.documentLayout().draw(painter, context)
            painter.restore()


def render_plain(text: str, theme: RenderTheme) -> RenderedMessage:
    """Text shown exactly as typed (user messages): no Markdown interpretation."""
    doc = _new_document(theme)
    doc.setPlainText(text)
    return RenderedMessage(text, [RenderedPart(text, doc)])


def render_markdown(text: str, theme: RenderTheme) -> RenderedMessage:
    return RenderedMessage(text, [render_markdown_part(text, theme)])


def _mark_soft_breaks(text: str) -> tuple[str, str]:
    """``text`` with a marker before each newline that is a soft break in a paragraph,
    and the marker ("" when there is none)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = soft_break_lines(text)
    marker = next((c for c in _BREAK_MARKERS if c not in text), "") if lines else ""
    if not marker:
        return text, ""
    split = text.split("\n")
    for number in lines:
        split[number] += marker
    return "\n".join(split), marker


def _break_lines(doc: QTextDocument, marker: str) -> None:
    """Each marker and the space Qt made of its newline become one line separator."""
    cursor = doc.find(marker + " ")
    while not cursor.isNull():
        cursor.insertText(LINE_SEPARATOR)
        cursor = doc.find(marker + " ", cursor)
    cursor = doc.find(marker)
    while not cursor.isNull():  # a line end Qt's reader did not see as a soft break
        cursor.removeSelectedText()
        cursor = doc.find(marker, cursor)


def render_markdown_part(text: str, theme: RenderTheme) -> RenderedPart:
    doc = _new_document(theme)
    source, marker = _mark_soft_breaks(text)
    doc.setMarkdown(source, QTextDocument.MarkdownFeature.MarkdownDialectGitHub)
    if marker:
        _break_lines(doc, marker)
    if "|" in text:
        _style_tables(doc, theme)  # first: it may remove a block, renumbering the rest
    code_blocks: list[CodeBlock] = []
    inline_code: list[tuple[int, int]] = []
    links: list[tuple[int, int]] = []
    quotes: list[tuple[int, int]] = []
    block = doc.begin()
    group: list = []
    while block.isValid():
        fmt = block.blockFormat()
        if fmt.hasProperty(_CODE_LANGUAGE):
            group.append(block)
        else:
            if group:
                code_blocks.append(_code_block(group))
                group = []
            level = fmt.property(_QUOTE_LEVEL)
            if level:
                quotes.append((block.blockNumber(), int(level)))
            for rng in block.textFormats():
                char = rng.format
                if char.fontFixedPitch() or "monospace" in (char.fontFamilies() or ()):
                    inline_code.append((block.position() + rng.start, rng.length))
                if char.isAnchor():
                    links.append((block.position() + rng.start, rng.length))
        block = block.next()
    if group:
        code_blocks.append(_code_block(group))

    cursor = QTextCursor(doc)
    if inline_code:
        inline = QTextCharFormat()
        inline.setFontFamilies(theme.code_font.families())
        inline.setBackground(theme.inline_code_bg)
        for start, length in inline_code:
            cursor.setPosition(start)
            cursor.setPosition(start + length, QTextCursor.MoveMode.KeepAnchor)
            cursor.mergeCharFormat(inline)
    if links:
        # The reader colours links with the application's palette; use the view's.
        link = QTextCharFormat()
        link.setForeground(theme.link)
        for start, length in links:
            cursor.setPosition(start)
            cursor.setPosition(start + length, QTextCursor.MoveMode.KeepAnchor)
            cursor.mergeCharFormat(link)
    for code in code_blocks:
        _style_code_block(doc, cursor, code, theme)
    for number, level in quotes:
        block = doc.findBlockByNumber(number)
        fmt = QTextBlockFormat(block.blockFormat())
        fmt.setLeftMargin(level * QUOTE_INDENT)
        cursor.setPosition(block.position())
        cursor.setBlockFormat(fmt)
    return RenderedPart(text, doc, code_blocks, quotes=quotes)


def _new_document(theme: RenderTheme) -> QTextDocument:
    doc = QTextDocument()
    doc.setUndoRedoEnabled(False)
    doc.setDocumentMargin(0)
    doc.setDefaultFont(theme.font)
    return doc


def _code_block(blocks: list) -> CodeBlock:
    language = blocks[0].blockFormat().property(_CODE_LANGUAGE) or ""
    code = "\n".join(b.text() for b in blocks)
    return CodeBlock(str(language), code, blocks[0].blockNumber(), blocks[-1].blockNumber())


def _style_code_block(doc: QTextDocument, cursor: QTextCursor, code: CodeBlock,
                      theme: RenderTheme) -> None:
    first = doc.findBlockByNumber(code.first_block)
    last = doc.findBlockByNumber(code.last_block)
    start, end = first.position(), last.position() + last.length() - 1

    # Block formats: inner padding, wrapped long lines, room for the header above.
    block = first
    while block.isValid() and block.blockNumber() <= code.last_block:
        fmt = QTextBlockFormat(block.blockFormat())
        fmt.setLeftMargin(CODE_PAD)
        fmt.setRightMargin(CODE_PAD)
        fmt.setNonBreakableLines(False)
        fmt.setTopMargin(0)
        fmt.setBottomMargin(0)
        if block.blockNumber() == code.first_block:
            fmt.setTopMargin(CODE_GAP + theme.code_header_height + CODE_PAD // 2)
        if block.blockNumber() == code.last_block:
            fmt.setBottomMargin(CODE_PAD + CODE_GAP)
        cursor.setPosition(block.position())
        cursor.setBlockFormat(fmt)
        block = block.next()

    whole = QTextCharFormat()
    whole.setFontFamilies(theme.code_font.families())
    if theme.code_font.pointSizeF() > 0:
        whole.setFontPointSize(theme.code_font.pointSizeF())
    cursor.setPosition(start)
    cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
    cursor.mergeCharFormat(whole)

    for offset, length, fmt in highlight_ranges(code.code, code.language,
                                                theme.pygments_style):
        cursor.setPosition(start + offset)
        cursor.setPosition(start + offset + length, QTextCursor.MoveMode.KeepAnchor)
        cursor.mergeCharFormat(fmt)


def _style_tables(doc: QTextDocument, theme: RenderTheme) -> None:
    for frame in doc.rootFrame().childFrames():
        if isinstance(frame, QTextTable):
            fmt = frame.format()
            fmt.setBorder(1)
            fmt.setBorderBrush(theme.table_border)
            fmt.setBorderStyle(QTextFrameFormat.BorderStyle.BorderStyle_Solid)
            fmt.setBorderCollapse(True)
            fmt.setCellPadding(5)
            fmt.setCellSpacing(0)
            fmt.setTopMargin(4)
            fmt.setBottomMargin(4)
            before = doc.findBlock(frame.firstPosition() - 1)
            if before.isValid() and before.blockFormat().hasProperty(_CODE_LANGUAGE):
                fmt.setTopMargin(CODE_PAD + CODE_GAP + 4)  # clear the code box above
            frame.setFormat(fmt)
            # After a code block or a quote, Qt's Markdown reader starts the first cell
            # with an empty paragraph, which pushes its text below the rest of the row.
            cell = frame.cellAt(0, 0)
            cursor = cell.firstCursorPosition()
            if (cursor.block().length() == 1
                    and cursor.block().position() + 1 < cell.lastCursorPosition().position()):
                cursor.deleteChar()
                bold = QTextCharFormat()  # the reader had put the header's bold on that block
                bold.setFontWeight(QFont.Weight.Bold)
                cursor.setPosition(cell.lastCursorPosition().position(),
                                   QTextCursor.MoveMode.KeepAnchor)
                cursor.mergeCharFormat(bold)
                cursor = cell.firstCursorPosition()
            block_format = cursor.blockFormat()
            if block_format.topMargin() or block_format.bottomMargin():
                block_format.setTopMargin(0)
                block_format.setBottomMargin(0)
                cursor.setBlockFormat(block_format)


def find_all(doc: QTextDocument, needle: str, limit: int = 500) -> list[QTextCursor]:
    """Every (case-insensitive) occurrence of ``needle`` in ``doc`` (at most ``limit``)."""
    hits: list[QTextCursor] = []
    if not needle:
        return hits
    cursor = doc.find(needle, 0)
    while not cursor.isNull() and cursor.hasSelection():
        hits.append(cursor)
        if len(hits) >= limit:
            break
        cursor = doc.find(needle, cursor)
    return hits


def find_hits(doc: QTextDocument, query: str) -> list[QTextCursor]:
    """What a search for ``query`` matched: the whole phrase where it occurs, else each of
    its words (full-text search matches words anywhere in a message)."""
    hits = find_all(doc, query.strip())
    if hits:
        return hits
    for term in query.split():
        term = term.strip('"*()')
        if len(term) >= 2:
            hits.extend(find_all(doc, term))
    return hits


# ------------------------------------------------------------------------------ streaming
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")


def stable_boundary(text: str, start: int = 0) -> int:
    """The last offset ≥ ``start`` where a new top-level block begins: after a blank line,
    outside any fenced code, at a line that starts in column 0 with a visible character.

    Text before it renders the same whatever is appended later (up to list looseness), so
    a streamed answer can be rendered in parts and only the last part redone per flush.
    ``start`` must itself be such a boundary (or 0).
    """
    boundary = start
    fence: tuple[str, int] | None = None
    blank = False
    position = start
    length = len(text)
    while position < length:
        end = text.find("\n", position)
        complete = end != -1
        if not complete:
            end = length
        line = text[position:end]
        if fence is not None:
            match = _FENCE.match(line)
            if (match and match.group(1)[0] == fence[0] and len(match.group(1)) >= fence[1]
                    and not line[match.end():].strip()):
                fence = None
        elif not line.strip():
            blank = blank or complete
        else:
            if blank and line[0] not in " \t":
                boundary = position
            blank = False
            match = _FENCE.match(line)
            if match:
                fence = (match.group(1)[0], len(match.group(1)))
        position = end + 1
    return boundary


class StreamRenderer:
    """Renders a growing Markdown text in parts: finished top-level blocks are rendered
    once, only the block being written is rendered again on each flush."""

    def __init__(self, theme: RenderTheme) -> None:
        self.theme = theme
        self._parts: list[RenderedPart] = []
        self._stable = ""  # the text the finished parts were rendered from

    def render(self, text: str) -> RenderedMessage:
        if not text.startswith(self._stable):  # not an append: start again
            self._parts, self._stable = [], ""
        boundary = stable_boundary(text, len(self._stable))
        if boundary > len(self._stable):
            chunk = text[len(self._stable):boundary]
            if chunk.strip():
                self._parts.append(render_markdown_part(chunk, self.theme))
            self._stable = text[:boundary]
        parts = list(self._parts)
        tail = text[len(self._stable):]
        if tail.strip() or not parts:
            parts.append(render_markdown_part(tail, self.theme))
        return RenderedMessage(text, parts)

"""MessageView: Markdown, code copy, streaming, alternatives, actions, scrolling, laziness."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import (
    QAction,
    QColor,
    QFontMetrics,
    QGuiApplication,
    QKeySequence,
    QTextFormat,
)
from PySide6.QtWidgets import QMainWindow, QTextEdit

from chatdesk.bench_ui import sample_conversation
from chatdesk.ui import markdown_render
from chatdesk.ui.chat import MessageItem, MessageView, interaction
from chatdesk.ui.chat import view as message_view
from chatdesk.ui.chat.view import FLUSH_INTERVAL_MS
from chatdesk.ui.markdown_render import stable_boundary

RICH = """## Sorting a list

Use `sorted()` or [the docs](https://docs.python.org/3/howto/sorting.html).

- first point
- second point

| name | value |
|------|------:|
| alpha | 1 |
| beta | 2 |

```python
def largest(xs):
    return sorted(xs)[-1]
```

Then run it:

```bash
python demo.py --fast
```
"""
CODE_1 = "def largest(xs):\n    return sorted(xs)[-1]"
CODE_2 = "python demo.py --fast"


def user(message_id: int, text: str = "How do I sort a list?") -> MessageItem:
    return MessageItem(message_id, "user", text, "You")


def answer(message_id: int, text: str = RICH, **kwargs) -> MessageItem:
    return MessageItem(message_id, "assistant", text, "gemma-3-270m", **kwargs)


@pytest.fixture
def view(qtbot):
    widget = MessageView()
    qtbot.addWidget(widget)
    widget.resize(760, 600)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def click(qtbot, view: MessageView, rect) -> None:
    assert rect is not None and view.viewport().rect().contains(rect.center())
    qtbot.mouseMove(view.viewport(), rect.center())
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def color_count(view: MessageView, color: QColor, rect=None) -> int:
    image = view.viewport().grab(rect or view.viewport().rect()).toImage()
    target = color.rgb()
    return sum(1 for y in range(0, image.height(), 2) for x in range(0, image.width(), 2)
               if image.pixel(x, y) == target)


# ----------------------------------------------------------------------------- Markdown
def test_markdown_renders_headings_lists_tables_links_and_code(view):
    view.set_messages([user(1), answer(2)])
    [doc] = view.rendered_documents(2)
    blocks = []
    block = doc.begin()
    while block.isValid():
        blocks.append(block)
        block = block.next()
    heading = next(b for b in blocks if b.text() == "Sorting a list")
    assert heading.blockFormat().headingLevel() == 2
    listed = [b.text() for b in blocks if b.textList() is not None]
    assert listed == ["first point", "second point"]
    html = doc.toHtml()
    assert 'href="https://docs.python.org/3/howto/sorting.html"' in html
    assert "<table" in html and ">alpha<" in html.replace("</span>", "<")
    # inline code: a fixed-pitch font on a tinted background
    inline = next(r for b in blocks if b.text().startswith("Use ") for r in b.textFormats()
                  if b.text()[r.start:r.start + r.length] == "sorted()")
    assert inline.format.background().style() != Qt.BrushStyle.NoBrush
    # fenced code: its own blocks, with pygments colours on the keywords
    code = [b for b in blocks if b.blockFormat().hasProperty(
        QTextFormat.Property.BlockCodeLanguage)]
    assert [b.text() for b in code] == [*CODE_1.split("\n"), CODE_2]
    keyword = next(r for r in code[0].textFormats() if code[0].text()[r.start:].startswith("def"))
    assert keyword.format.foreground().color() != QColor(Qt.GlobalColor.black)
    assert view.code_blocks(2) == [CODE_1, CODE_2]
    text = view.plain_text()
    assert "Sorting a list" in text and "## " not in text and "```" not in text
    assert "Use sorted() or the docs." in text


def test_user_messages_are_shown_exactly_as_typed(view):
    typed = "**not bold** and # not a heading\n  indented line"
    view.set_messages([user(1, typed)])
    assert typed in view.plain_text()


def test_code_copy_button_copies_exactly_that_code(qtbot, view):
    view.set_messages([user(1), answer(2)])
    QGuiApplication.clipboard().setText("something else")
    view.scroll_to_message(2)
    with qtbot.waitSignal(view.code_copied) as copied:
        click(qtbot, view, view.target_rect(2, "code:0"))
    assert copied.args == [2, 0]
    assert QGuiApplication.clipboard().text() == CODE_1
    click(qtbot, view, view.target_rect(2, "code:1"))
    assert QGuiApplication.clipboard().text() == CODE_2


def test_user_and_assistant_messages_look_different(view):
    view.set_messages([user(1, "hi"), answer(2, "Hello there, how can I help you today?")])
    user_box, answer_box = view.target_rect(1, "bubble"), view.target_rect(2, "bubble")
    # The user's bubble sits on the right and only as wide as its text; answers span the row.
    assert user_box.right() == pytest.approx(answer_box.right(), abs=2)
    assert user_box.left() > answer_box.left() + 200
    image = view.viewport().grab().toImage()
    inside = QPoint(6, user_box.height() - 6)
    user_fill = image.pixelColor(user_box.topLeft() + inside)
    answer_fill = image.pixelColor(answer_box.topLeft() + inside)
    assert user_fill != answer_fill
    text = view.plain_text()
    assert text.startswith("You\nhi") and "gemma-3-270m\nHello there" in text


def test_incomplete_answers_are_marked(view):
    view.set_messages([answer(1, "Cut short", incomplete=True, note="12 tokens"),
                       answer(2, "Complete", note="40 tokens")])
    blocks = view.plain_text().split("\n\n")
    assert "⚠ incomplete · 12 tokens" in blocks[0]
    assert "incomplete" not in blocks[1]


def test_hovering_a_finished_answer_shows_its_figures(view):
    view.set_messages([user(1, "hi"), answer(2, "Hello", note="5 tokens",
                                              tooltip="5 tokens · 40 tok/s")])
    answer_box, user_box = view.target_rect(2, "bubble"), view.target_rect(1, "bubble")
    assert view.tooltip_at(answer_box.bottomLeft() + QPoint(4, -4)) == "5 tokens · 40 tok/s"
    assert view.tooltip_at(user_box.bottomLeft() + QPoint(4, -4)) == ""
    view.begin_stream(answer(3, ""))
    assert view.tooltip_at(view.target_rect(3, "bubble").center()) == ""
    view.end_stream(answer(3, "done"))


POEM = "Roses are red,\nviolets are blue,\nsugar is sweet,\nand so are you."


def _blocks(doc):
    block = doc.begin()
    while block.isValid():
        yield block
        block = block.next()


def test_a_single_newline_in_an_answer_is_a_line_break(view):
    view.set_messages([answer(1, "Teacher: count to 20,\nStudent: 1, 2, 3")])
    [doc] = view.rendered_documents(1)
    [paragraph] = list(_blocks(doc))  # one paragraph (no paragraph gap) ...
    assert paragraph.layout().lineCount() == 2  # ... on two lines
    assert "count to 20,\nStudent: 1, 2, 3" in view.plain_text()


def test_code_blocks_keep_their_own_newlines(view):
    fenced = "Before\nthe code:\n\n```text\nline one\nline two\n```"
    view.set_messages([answer(1, fenced), answer(2, "Indented:\n\n    line one\n    line two")])
    for message_id in (1, 2):
        assert view.code_blocks(message_id) == ["line one\nline two"]
        [doc] = view.rendered_documents(message_id)
        code = [b for b in _blocks(doc)
                if b.blockFormat().hasProperty(QTextFormat.Property.BlockCodeLanguage)]
        assert [b.text() for b in code] == ["line one", "line two"]
        assert all(b.layout().lineCount() == 1 for b in code)


def test_an_imported_poem_keeps_its_lines(qtbot, view):
    view.resize(1400, 600)  # wide enough for the whole poem on one line
    view.set_messages([user(1, "A poem?"), answer(2, POEM)])
    [doc] = view.rendered_documents(2)
    [stanza] = list(_blocks(doc))
    assert stanza.layout().lineCount() == 4
    assert POEM in view.plain_text()
    view.begin_stream(answer(3, ""))  # and while it streams in
    view.append_stream(POEM)
    qtbot.waitUntil(lambda: view.plain_text().count(POEM) == 2,
                    timeout=10 * FLUSH_INTERVAL_MS)
    assert view.rendered_documents(3)[-1].begin().layout().lineCount() == 4
    view.end_stream(answer(3, ""))


CHIPS = ("42 tokens", "31.0 tok/s", "first token 0.12 s", "stopped by you", "0.9 J")


def test_figures_are_chips_that_wrap_instead_of_being_cut(qtbot, view):
    full = "42 tokens · 31.0 tok/s · first token 0.12 s · context 24/4096 · stopped by you"
    view.set_messages([user(1, "hi"), answer(2, "Hello", chips=CHIPS, tooltip=full)])
    assert view.plain_text().endswith("Hello\n" + " · ".join(CHIPS))
    bubble = view.target_rect(2, "bubble")
    assert view.tooltip_at(bubble.bottomLeft() + QPoint(4, -4)) == full
    chips = [view.target_rect(2, f"footer:{n}") for n in range(len(CHIPS))]
    assert len({chip.top() for chip in chips}) == 1  # one row in a wide window
    # painted as labels: a chip's inside differs from the bubble just left of it
    image = view.viewport().grab().toImage()
    first = chips[0]
    assert (image.pixelColor(first.left() + 3, first.center().y())
            != image.pixelColor(first.left() - 3, first.center().y()))
    tall = bubble.height()

    view.resize(300, 600)
    qtbot.waitUntil(lambda: view.target_rect(2, "bubble").width() < 300)
    bubble = view.target_rect(2, "bubble")
    chips = [view.target_rect(2, f"footer:{n}") for n in range(len(CHIPS))]
    assert len({chip.top() for chip in chips}) >= 2  # wrapped to more rows ...
    assert bubble.height() > tall  # ... which the row's height makes room for
    fm = QFontMetrics(markdown_render.RenderTheme(view.palette(), view.font()).small_font)
    for chip, text in zip(chips, CHIPS, strict=True):
        assert bubble.contains(chip)
        assert chip.width() >= fm.horizontalAdvance(text)  # never elided


def test_a_long_note_wraps_and_keeps_the_stop_reason(qtbot, view):
    note = "42 tokens · 31.0 tok/s · first token 0.12 s · context 24/4096 · stopped by you"
    view.resize(300, 600)
    view.set_messages([answer(1, "Hello", note=note)])
    assert view.plain_text().endswith("Hello\n" + note)
    last = view.target_rect(1, "footer:4")
    fm = QFontMetrics(markdown_render.RenderTheme(view.palette(), view.font()).small_font)
    assert last.width() >= fm.horizontalAdvance("· stopped by you")
    assert view.target_rect(1, "bubble").contains(last)
    assert last.top() > view.target_rect(1, "footer:0").top()


def test_wide_windows_cap_the_reading_width_in_a_centred_column(qtbot, view):
    prose = ("A local model answers on this machine, so what it costs is what this machine "
             "spends: the time, the memory, and the energy of every token it writes. ") * 6
    view.set_messages([user(1, "hi"), answer(2, prose)])
    view.resize(1600, 800)
    qtbot.waitUntil(lambda: view.target_rect(2, "bubble").width() < 1000)
    box, mine = view.target_rect(2, "bubble"), view.target_rect(1, "bubble")
    layout = view.rendered_documents(2)[0].begin().layout()
    lengths = [layout.lineAt(n).textLength() for n in range(layout.lineCount() - 1)]
    assert 75 <= sum(lengths) / len(lengths) <= 95  # about 85 characters a line
    middle = view.viewport().width() / 2
    assert abs(box.center().x() - middle) <= 10  # centred (the scroll bar's room aside)
    assert mine.right() == pytest.approx(box.right(), abs=2)  # questions end where answers do
    view.resize(500, 800)  # a narrow window still uses its whole width
    qtbot.waitUntil(lambda: view.target_rect(2, "bubble").width() > 440)


# ---------------------------------------------------------------------------- streaming
def test_streaming_coalesces_and_rerenders_only_the_streamed_row(qtbot, view, monkeypatch):
    view.set_messages(sample_conversation(40))
    view.begin_stream(answer(100, ""))
    before = view.plain_text()
    renders: list[str] = []
    others: list[str] = []
    part = markdown_render.render_markdown_part
    whole = message_view.render_markdown

    def counting(text, theme):
        renders.append(text)
        return part(text, theme)

    def other_row(text, theme):
        others.append(text)
        return whole(text, theme)

    monkeypatch.setattr(markdown_render, "render_markdown_part", counting)
    monkeypatch.setattr(message_view, "render_markdown", other_row)
    for word in ["Streamed", " words", " arrive", " one", " by", " one."]:
        view.append_stream(word)
    assert renders == []  # nothing is rendered before the flush timer fires
    assert view.message_text(100) == "Streamed words arrive one by one."
    qtbot.waitUntil(lambda: bool(renders), timeout=10 * FLUSH_INTERVAL_MS)
    assert renders == ["Streamed words arrive one by one."]  # one render for six chunks
    assert others == []  # no other row was rendered again
    monkeypatch.undo()
    head = before[:before.rindex("gemma-3-270m")]
    after = view.plain_text()
    assert after.startswith(head)
    assert after[len(head):] == "gemma-3-270m\nStreamed words arrive one by one.\ngenerating…"
    view.end_stream(answer(100, ""))


def test_streaming_renders_finished_blocks_once(qtbot, view):
    view.begin_stream(answer(1, ""))
    view.append_stream("First paragraph.\n\nSecond")
    qtbot.waitUntil(lambda: len(view.rendered_documents(1)) == 2,
                    timeout=10 * FLUSH_INTERVAL_MS)
    first = view.rendered_documents(1)[0]
    view.append_stream(" paragraph, longer.")
    qtbot.waitUntil(lambda: "longer" in view.plain_text(), timeout=10 * FLUSH_INTERVAL_MS)
    docs = view.rendered_documents(1)
    assert docs[0] is first and first.toPlainText() == "First paragraph."
    view.end_stream(answer(1, ""))
    assert len(view.rendered_documents(1)) == 1
    assert view.message_text(1) == "First paragraph.\n\nSecond paragraph, longer."


def test_stable_boundary_respects_code_fences():
    assert stable_boundary("a\n\nb") == 3
    assert stable_boundary("a\n\n") == 0            # the next block has not started
    assert stable_boundary("a\n\n  indented") == 0  # may continue a list item
    fenced = "```py\nx = 1\n\ny = 2\n"
    assert stable_boundary(fenced) == 0            # blank line inside an open fence
    closed = fenced + "```\n\nafter"
    assert stable_boundary(closed) == len(closed) - len("after")
    assert stable_boundary("p\n\n```py\ncode") == 3  # a fence starts a new block


def test_end_stream_replaces_the_row(qtbot, view):
    view.set_messages([user(1)])
    view.begin_stream(answer(-1, ""))
    assert view.streaming
    view.append_stream("Partial answer")
    view.end_stream(answer(7, "Final answer", note="12 tokens · 30 tok/s"))
    assert not view.streaming
    assert [m.id for m in view.messages()] == [1, 7]
    assert view.message_text(7) == "Final answer" and view.message_text(-1) == ""
    assert view.plain_text().endswith("gemma-3-270m\nFinal answer\n12 tokens · 30 tok/s")
    # an empty final text keeps what was streamed
    view.begin_stream(answer(8, ""))
    view.append_stream("Kept text")
    view.end_stream(answer(8, "", incomplete=True))
    assert view.message_text(8) == "Kept text"
    assert "Kept text\n⚠ incomplete" in view.plain_text()


def test_reloading_the_conversation_keeps_a_running_stream(qtbot, view):
    view.set_messages([user(1)])
    view.begin_stream(answer(2, ""))
    view.append_stream("Half an")
    view.set_messages([user(1), answer(2, "Half"), user(3, "other")])  # e.g. after a save
    assert view.streaming
    view.append_stream(" answer")
    qtbot.waitUntil(lambda: "Half an answer" in view.plain_text(),
                    timeout=10 * FLUSH_INTERVAL_MS)
    view.end_stream(answer(2, ""))
    assert view.message_text(2) == "Half an answer"
    view.begin_stream(answer(4, ""))
    view.set_messages([user(1)])  # the streamed message is not there: the stream ends
    assert not view.streaming
    view.append_stream("ignored")
    assert view.plain_text() == "You\nHow do I sort a list?"



def test_regenerate_replaces_the_branch_instead_of_stacking_bubbles(qtbot, view):
    view.set_messages([user(1), answer(2, "First answer"), user(3, "more?"), answer(4, "Yes")])
    question = view.rendered_documents(1)[0]
    removed = []
    view.model().rowsRemoved.connect(lambda _parent, first, last: removed.append((first, last)))
    for regenerated, count in ((5, 2), (6, 3)):  # Ctrl+R twice
        view.begin_stream(answer(regenerated, "", sibling_index=count - 1,
                                 sibling_count=count), after=1)
        assert [m.id for m in view.messages()] == [1, regenerated] and view.streaming
        view.append_stream(f"Answer {count}")
        view.end_stream(answer(regenerated, f"Answer {count}", sibling_index=count - 1,
                               sibling_count=count))
    assert removed == [(1, 3), (1, 1)]  # one removal each time
    assert view.rendered_documents(1)[0] is question  # the rows kept were not re-rendered
    assert view.plain_text().count("gemma-3-270m") == 1  # one answer bubble, no stale one
    assert view.messages()[1].sibling_index == 2


def test_truncate_after(qtbot, view):
    view.set_messages([user(1), answer(2, "a"), user(3, "b")])
    assert not view.truncate_after(99)  # unknown id: nothing changes
    assert view.truncate_after(3) and [m.id for m in view.messages()] == [1, 2, 3]
    view.begin_stream(answer(4, ""))
    view.append_stream("streaming")
    assert view.truncate_after(2)  # the streamed row goes, and its stream ends
    assert [m.id for m in view.messages()] == [1, 2] and not view.streaming
    view.append_stream("ignored")
    assert "ignored" not in view.plain_text() and "streaming" not in view.plain_text()
    bar = view.verticalScrollBar()
    assert bar.value() == bar.maximum()
    assert view.truncate_after(None) and view.messages() == []
    view.begin_stream(answer(5, ""))  # a stream begins at the (empty) end
    assert [m.id for m in view.messages()] == [5]
    view.end_stream(answer(5, "done"))

# ----------------------------------------------------------------- alternatives, actions
def test_alternatives_navigation_emits_the_new_index(qtbot, view):
    view.set_messages([user(1), answer(2, "Second of three", sibling_index=1, sibling_count=3)])
    assert "2/3" not in view.plain_text()  # drawn in the header, not part of the text
    with qtbot.waitSignal(view.sibling_requested) as signal:
        click(qtbot, view, view.target_rect(2, "previous"))
    assert signal.args == [2, 0]
    with qtbot.waitSignal(view.sibling_requested) as signal:
        click(qtbot, view, view.target_rect(2, "next"))
    assert signal.args == [2, 2]
    view.update_message(answer(2, "First of three", sibling_index=0, sibling_count=3))
    with qtbot.assertNotEmitted(view.sibling_requested):
        click(qtbot, view, view.target_rect(2, "previous"))
    assert view.target_rect(1, "previous") is None  # no alternatives, no arrows


@pytest.mark.parametrize(("message_id", "action", "signal"), [
    (1, "edit", "edit_requested"), (1, "delete", "delete_requested"),
    (2, "regenerate", "regenerate_requested"), (2, "delete", "delete_requested"),
])
def test_hover_actions_emit_signals(qtbot, view, message_id, action, signal):
    view.set_messages([user(1), answer(2, "An answer")])
    with qtbot.waitSignal(getattr(view, signal)) as emitted:
        click(qtbot, view, view.target_rect(message_id, action))
    assert emitted.args == [message_id]


def test_copy_action_and_context_menu(qtbot, view):
    view.set_messages([user(1, "question text"), answer(2, "**answer** text")])
    with qtbot.waitSignal(view.copy_requested) as emitted:
        click(qtbot, view, view.target_rect(2, "copy"))
    assert emitted.args == [2]
    assert QGuiApplication.clipboard().text() == "**answer** text"  # the Markdown source
    assert view.target_rect(1, "regenerate") is None and view.target_rect(2, "edit") is None

    menu = view.context_menu(1)
    names = [a.objectName() for a in menu.actions() if a.objectName()]
    assert names == ["copy", "edit", "delete"]
    with qtbot.waitSignal(view.edit_requested) as emitted:
        next(a for a in menu.actions() if a.objectName() == "edit").trigger()
    assert emitted.args == [1]
    menu.deleteLater()


def test_clicking_a_link_opens_it(qtbot, view, monkeypatch):
    opened = []
    monkeypatch.setattr(interaction.QDesktopServices, "openUrl",
                        lambda url: opened.append(url.toString()))
    view.set_messages([answer(1, "[example](https://example.com/page) " + "filler " * 3)])
    bubble = view.target_rect(1, "bubble")
    point = next((QPoint(x, y) for y in range(bubble.top(), bubble.bottom(), 2)
                  for x in range(bubble.left(), bubble.left() + 120, 4)
                  if view.tooltip_at(QPoint(x, y)) == "https://example.com/page"), None)
    assert point is not None  # the link's text is there, and hovering it shows the URL
    with qtbot.waitSignal(view.link_activated) as signal:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert signal.args == ["https://example.com/page"]
    assert opened == ["https://example.com/page"]


def test_escape_reaches_the_window_shortcut(qtbot):
    window = QMainWindow()
    qtbot.addWidget(window)
    view = MessageView(window)
    window.setCentralWidget(view)
    stop = QAction("Stop", window)
    stop.setShortcut(QKeySequence(Qt.Key.Key_Escape))
    window.addAction(stop)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=1000)
    view.set_messages([user(1), answer(2, "text")])
    view.setFocus()
    with qtbot.waitSignal(stop.triggered, timeout=1000):
        qtbot.keyClick(view, Qt.Key.Key_Escape)


def test_escape_propagates_to_the_parent_widget(qtbot):
    class Parent(QTextEdit):
        escapes = 0

        def keyPressEvent(self, event):
            if event.key() == Qt.Key.Key_Escape:
                Parent.escapes += 1

    parent = Parent()
    qtbot.addWidget(parent)
    view = MessageView(parent)
    parent.show()
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Escape)
    assert Parent.escapes == 1


# ------------------------------------------------------------------------------ scrolling
def stream_lines(qtbot, view: MessageView, count: int, tag: str) -> None:
    for n in range(count):
        view.append_stream(f"{tag} line {n}\n\n")
    qtbot.waitUntil(lambda: f"{tag} line {count - 1}" in view.plain_text(),
                    timeout=20 * FLUSH_INTERVAL_MS)


def test_auto_scroll_follows_the_stream_until_the_user_scrolls_up(qtbot, view):
    bar = view.verticalScrollBar()
    view.set_messages(sample_conversation(60))
    assert bar.maximum() > 0 and bar.value() == bar.maximum()
    view.begin_stream(answer(1000, ""))
    stream_lines(qtbot, view, 10, "a")
    assert view.following and bar.value() == bar.maximum()

    bar.triggerAction(bar.SliderAction.SliderPageStepSub)  # the user scrolls up
    assert not view.following
    held = bar.value()
    stream_lines(qtbot, view, 10, "b")
    assert bar.value() == held and bar.maximum() > held  # the text they read stays put

    bar.triggerAction(bar.SliderAction.SliderToMaximum)  # back to the bottom: follow again
    assert view.following
    stream_lines(qtbot, view, 10, "c")
    assert bar.value() == bar.maximum()
    view.end_stream(answer(1000, ""))


def test_scrolling_up_into_unmeasured_rows_does_not_jump(view):
    """Rows above the viewport have estimated heights until they come near; measuring them
    must not move what is on screen: each step up moves the content by exactly the step."""
    view.set_messages(sample_conversation(400))
    bar = view.verticalScrollBar()
    model = view.model()
    measured = len(view._heights)
    for _ in range(60):
        row = view.indexAt(QPoint(20, 10)).row()
        top = view.visualRect(model.index(row)).top()
        bar.triggerAction(bar.SliderAction.SliderSingleStepSub)
        assert view.visualRect(model.index(row)).top() - top == bar.singleStep()
    assert len(view._heights) > measured + 3  # rows were measured on the way up


def test_scroll_to_message_shows_and_highlights_the_hit(qtbot, view):
    items = sample_conversation(300)
    items[20] = answer(items[20].id, "Here the needle word sits in a haystack of text.")
    view.set_messages(items)
    target = items[20].id
    search = QColor(markdown_render.RenderTheme(view.palette(), view.font()).search_hit)
    view.scroll_to_message(target, "needle")
    rect = view.target_rect(target, "bubble")
    assert view.viewport().rect().contains(rect)
    assert not view.following
    assert color_count(view, search, rect) > 5
    phrase = color_count(view, search, rect)
    view.scroll_to_message(target, "haystack NEEDLE")  # not a phrase here: each word
    assert color_count(view, search, view.target_rect(target, "bubble")) > phrase
    view.scroll_to_message(target)  # no highlight now
    assert color_count(view, search, view.target_rect(target, "bubble")) == 0


def test_clear_highlight_removes_the_search_marks_and_keeps_the_place(view):
    items = sample_conversation(100)
    items[20] = answer(items[20].id, "Here the needle word sits in a haystack of text.")
    view.set_messages(items)
    target = items[20].id
    search = QColor(markdown_render.RenderTheme(view.palette(), view.font()).search_hit)
    view.scroll_to_message(target, "needle")
    rect = view.target_rect(target, "bubble")
    assert color_count(view, search, rect) > 5
    view.clear_highlight()
    assert view.target_rect(target, "bubble") == rect  # nothing moved
    assert color_count(view, search, rect) == 0
    view.clear_highlight()  # twice is harmless

def test_opening_2000_messages_renders_only_what_is_visible(qtbot, view):
    items = sample_conversation(2000)
    view.set_messages(items)
    view.viewport().repaint()
    assert view.model().rowCount() == 2000
    bar = view.verticalScrollBar()
    assert bar.value() == bar.maximum() > 0
    last = view.target_rect(items[-1].id, "bubble")
    assert view.viewport().rect().intersects(last)
    rendered = len(view._rendered)
    assert 0 < rendered < 40, rendered  # the rows near the bottom, not 2,000
    view.scroll_to_message(items[0].id)
    assert view.viewport().rect().intersects(view.target_rect(items[0].id, "bubble"))
    assert items[0].text in view.plain_text()


def test_resizing_relayouts_visible_rows_at_the_new_width(qtbot, view):
    view.set_messages([answer(1, "word " * 200)])
    tall = view.target_rect(1, "bubble").height()
    view.resize(380, 600)
    qtbot.waitUntil(lambda: view.target_rect(1, "bubble").height() > tall * 1.5)
    assert view.target_rect(1, "bubble").right() < 380


def test_update_and_remove_message(view):
    view.set_messages([user(1), answer(2, "old", note="n1"), user(3, "later")])
    view.update_message(answer(2, "new text", note="n2"))
    text = view.plain_text()
    assert "new text\nn2" in text and "old" not in text
    view.remove_message(2)
    assert [m.id for m in view.messages()] == [1, 3]
    view.clear()
    assert view.plain_text() == "" and not view.streaming

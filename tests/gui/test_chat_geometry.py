"""The conversation's row geometry as pure math: font metrics in, rectangles out."""

from __future__ import annotations

from itertools import pairwise

import pytest
from PySide6.QtCore import QPointF, QRect
from PySide6.QtGui import QFont, QPalette

from chatdesk.ui.chat import geometry
from chatdesk.ui.chat.geometry import FooterPiece, Metrics, RowSpec
from chatdesk.ui.markdown_render import RenderTheme

CHIPS = tuple(FooterPiece(text) for text in (
    "42 tokens", "31.0 tok/s", "first token 0.12 s", "stopped by you", "0.9 J"))


@pytest.fixture
def metrics(qapp) -> Metrics:
    font = QFont(qapp.font())
    font.setPointSizeF(10)
    return Metrics.of(RenderTheme(QPalette(), font))


def answer_spec(footer=CHIPS, body_height: int = 40) -> RowSpec:
    return RowSpec("assistant", "Gemma 3 270M", actions=(("copy", "Copy"),),
                   footer=footer, body_height=body_height, body_ideal_width=200)


def test_chips_flow_left_to_right_and_wrap_whole(metrics):
    widths = [geometry.piece_width(p, metrics.small) for p in CHIPS]
    one_row = geometry.flow(CHIPS, metrics, 10_000)
    assert len({r.top() for r in one_row}) == 1
    assert [r.width() for r in one_row] == widths
    assert all(a.right() < b.left() for a, b in pairwise(one_row))

    narrow = max(widths) + 10
    rows = geometry.flow(CHIPS, metrics, narrow)
    assert [r.width() for r in rows] == widths  # nothing is cut ...
    assert all(r.right() <= narrow for r in rows)  # ... and nothing sticks out
    assert len({r.top() for r in rows}) >= 3


def test_a_piece_wider_than_a_row_gets_the_whole_row(metrics):
    [rect] = geometry.flow((FooterPiece("x" * 200, "text"),), metrics, 120)
    assert rect.width() == 120


def test_row_height_makes_room_for_wrapped_chips(metrics):
    wide = geometry.row_height(answer_spec(), 1000, metrics)
    narrow = geometry.row_height(answer_spec(), 260, metrics)
    step = metrics.stat_height + geometry.STAT_ROW_GAP
    assert narrow > wide and (narrow - wide) % step == 0
    bare = geometry.row_height(answer_spec(footer=()), 1000, metrics)
    assert wide - bare == geometry.FOOTER_GAP + metrics.stat_height


@pytest.mark.parametrize("width", [260, 700, 1600])
def test_everything_of_a_row_lies_in_its_bubble(metrics, width):
    spec = answer_spec()
    height = geometry.row_height(spec, width, metrics)
    geo = geometry.row_geometry(spec, QRect(0, 100, width, height), width, metrics)
    assert geo.bubble.top() >= 100 and geo.bubble.bottom() <= 100 + height
    parts = [geo.label, geo.doc_rect, *(r for _, r in geo.actions), *(r for _, r in geo.footer)]
    for part in parts:
        assert geo.bubble.contains(part), (part, geo.bubble)
    assert geo.doc_rect.top() > geo.label.bottom()
    assert min(r.top() for _, r in geo.footer) > geo.doc_rect.bottom()
    assert geometry.hit(geo, geo.actions[0][1].center()) == ("action", "copy")
    assert geometry.hit(geo, geo.doc_rect.center()) == ("doc", None)
    assert geometry.hit(geo, QPointF(0, 101)) == ("row", None)


def test_the_reading_column_is_capped_and_centred_in_wide_rows(metrics):
    left, width = geometry.column(1600, metrics)
    chars = (width - 2 * geometry.PAD) / metrics.char_width
    assert geometry.READING_CHARS - 1 <= chars <= geometry.READING_CHARS
    assert left + width / 2 == pytest.approx(800, abs=1)
    assert geometry.column(500, metrics) == (geometry.MARGIN_H, 500 - 2 * geometry.MARGIN_H)
    assert geometry.doc_width("assistant", 1600, metrics) == width - 2 * geometry.PAD

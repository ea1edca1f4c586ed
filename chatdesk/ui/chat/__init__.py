"""The conversation view: model, pure geometry, a painting delegate and the view.

``model`` holds the messages, ``geometry`` says where every part of a row goes,
``delegate`` paints a row there, ``view`` renders, measures and streams, and
``interaction`` answers the mouse and keys.

Design (measured on this machine, 2 cores, offscreen, PySide6 6.11; ``chatdesk bench ui``):

* ``MessageView`` is a ``QListView`` over ``MessageListModel`` (frozen ``MessageItem`` s);
  ``MessageDelegate`` paints each row where ``geometry`` puts its parts: a bubble, a header
  (role or model name, "‹ 2/3 ›" alternatives, actions on hover), the message body
  (``QTextDocument`` s from ``markdown_render``) and a footer (figure chips, "incomplete").
* Only rows that are (nearly) visible are rendered. ``sizeHint`` never renders: it returns
  the measured height of a row if there is one, else an estimate from the text length.
  Whenever rows come into view (opening, scrolling, resizing, appending) they are rendered
  and measured *before* Qt paints; if a height differs from what the view assumed, the list
  is laid out again with the first visible row (or the bottom, while following the stream)
  held in place, so estimates above the viewport never make the content jump. QListView's
  layout pass only reads cached heights (~2.5 µs a row: 5 ms for 2,000 rows). Opening a
  2,000-message conversation renders ~7 rows.
* Rendered documents are kept per message id in an LRU cache and laid out per width;
  measured heights are kept per id and width for every row seen.
* Streaming: ``append_stream`` only appends to a list. A single-shot timer (~30 Hz) renders
  the streamed message alone, and only its last, unfinished top-level block: finished
  blocks were rendered once into their own documents (``StreamRenderer``). Only if the row's
  height changed is the list laid out again (cached heights); otherwise only that row is
  repainted. No other row is re-rendered, and no dataChanged is emitted per flush (QListView
  answers dataChanged by laying out every row).
* Regenerating or editing drops the rows after a message (``truncate_after``, one model
  removal; the rows kept keep their documents and heights) and streams the new answer at
  the end, so the view shows one branch at every moment and never stacks bubbles.
* Auto-scroll follows the bottom until the user scrolls up; scrolling back to the bottom
  resumes it. Esc is left to the window (the Stop shortcut).
"""

from chatdesk.ui.chat.model import MessageItem
from chatdesk.ui.chat.view import MessageView

__all__ = ["MessageItem", "MessageView"]

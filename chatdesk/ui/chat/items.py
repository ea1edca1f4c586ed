"""From a stored message to what the conversation view shows: a title for people, the
figure chips under an answer and every figure on hover. Live and stored answers go
through the same code, and all the words come from core/figures.py."""

from __future__ import annotations

from chatdesk.core.catalog import Catalog
from chatdesk.core.figures import answer_chips, answer_details, answer_title
from chatdesk.core.history import ThreadMessage
from chatdesk.ui.chat.model import MessageItem


def message_item(message: ThreadMessage, catalog: Catalog | None = None) -> MessageItem:
    title = ("You" if message.role == "user"
             else answer_title(message.model, catalog) or "Assistant")
    details = answer_details(message.stats, message.energy, message.stop_reason)
    chips = answer_chips(message.stats, message.energy, message.stop_reason)
    note = "(the answer failed)" if message.state == "error" else ""
    if note:
        chips = ()
    return MessageItem(id=message.id, role=message.role, text=message.content,
                       title=title, note=note, chips=chips,
                       incomplete=message.state in ("incomplete", "streaming"),
                       sibling_index=message.sibling_index,
                       sibling_count=message.sibling_count, tooltip=details or note)

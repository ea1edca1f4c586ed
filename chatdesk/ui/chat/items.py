"""From a stored message to what the conversation view shows: a title for people, the
figure chips under an answer and every figure on hover. Live and stored answers go
through the same code, and all the words come from core/figures.py."""

from __future__ import annotations

from collections.abc import Sequence

from chatdesk.core.catalog import Catalog
from chatdesk.core.figures import (
    CONTINUE_TIPS,
    answer_chips,
    answer_details,
    answer_title,
    can_continue,
    file_chip,
    source_chip,
    stop_label,
)
from chatdesk.core.history import FileRef, SourceRef, ThreadMessage
from chatdesk.ui.chat.model import MessageItem

SOURCE_TIP_CHARS = 600  # a source chip's tooltip shows this much of its passage


def message_item(message: ThreadMessage, catalog: Catalog | None = None,
                 files: Sequence[FileRef] = (),
                 sources: Sequence[SourceRef] = ()) -> MessageItem:
    title = ("You" if message.role == "user"
             else answer_title(message.model, catalog) or "Assistant")
    details = answer_details(message.stats, message.energy, message.stop_reason)
    stop_note = stop_label(message.stop_reason) if message.role == "assistant" else ""
    # An early stop is said once, in words under the answer, not again as a chip.
    chips = answer_chips(message.stats, message.energy,
                         None if stop_note else message.stop_reason)
    note = "(the answer failed)" if message.state == "error" else ""
    if note:
        chips, stop_note = (), ""
    remote = (message.stats or {}).get("engine") == "remote"  # a server may not continue
    continue_tip = (CONTINUE_TIPS.get(message.stop_reason or "", "")
                    if stop_note and not remote and can_continue(message.stop_reason) else "")
    return MessageItem(id=message.id, role=message.role, text=message.content,
                       title=title, note=note, chips=chips,
                       incomplete=message.state in ("incomplete", "streaming"),
                       sibling_index=message.sibling_index,
                       sibling_count=message.sibling_count, tooltip=details or note,
                       stop_note=stop_note, continue_tip=continue_tip,
                       **document_fields(files, sources))


def document_fields(files: Sequence[FileRef], sources: Sequence[SourceRef]) -> dict:
    """The chips of a message's attachments and of an answer's sources."""
    return {"files": tuple(file_chip(f.name, f.pages) for f in files),
            "sources": tuple(source_chip(n, s.file, s.page)
                             for n, s in enumerate(sources, start=1)),
            "source_tips": tuple(_tip(s) for s in sources)}


def _tip(source: SourceRef) -> str:
    text = source.text if len(source.text) <= SOURCE_TIP_CHARS \
        else source.text[:SOURCE_TIP_CHARS].rstrip() + "…"
    how = "given whole" if source.whole else "retrieved"
    return f"{text}\n\n({how}; click to see it in its document)"

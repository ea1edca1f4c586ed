"""Plain-text export: what a mail or a terminal shows; the text exactly as written."""

from __future__ import annotations

from chatdesk.core.exchange.common import (
    ALTERNATIVES_NOTE,
    ExportData,
    header_fields,
    message_figures,
    role_heading,
)

RULE = "-" * 72


def render_text(data: ExportData) -> str:
    """Title, header lines, then '--- heading ---' and each message's text verbatim."""
    conv = data.conversation
    title = " ".join(conv.title.split()) or "Conversation"
    out: list[str] = [title, "=" * min(72, max(len(title), 3)), ""]
    out += [f"{label}: {value}" for label, value in header_fields(data)]
    if conv.system_prompt:
        out += ["", "System prompt:", conv.system_prompt]
    if data.has_alternatives:
        out += ["", ALTERNATIVES_NOTE]
    out.append("")
    for message in data.thread:
        out += [RULE, f"[{role_heading(data, message)}]", "", message.content]
        figures = message_figures(message)
        if figures:
            out += ["", f"({figures})"]
        out.append("")
    return "\n".join(out)

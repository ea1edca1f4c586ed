"""Markdown export: a title, a metadata header, then each message of the visible thread.

Messages are Markdown already (answers) or read fine as Markdown (questions), so they are
copied verbatim and their code blocks survive byte for byte; a fence a message left open
(an answer cut mid-block) is closed, or it would swallow the messages after it. The system
prompt goes into a fence longer than any backtick run inside it.
"""

from __future__ import annotations

from chatdesk.core.exchange.common import (
    ALTERNATIVES_NOTE,
    ExportData,
    close_open_fence,
    document_lines,
    fence_for,
    header_fields,
    message_figures,
    role_heading,
)


def _escape_inline(text: str) -> str:
    """Text on one Markdown line (title, header values): no line breaks, no markup."""
    text = " ".join(text.split())
    for char in "\\`*_[]<>#|":
        text = text.replace(char, "\\" + char)
    return text


def _fenced(text: str, info: str = "text") -> str:
    fence = fence_for(text)
    return f"{fence}{info}\n{text}\n{fence}"


def render_markdown(data: ExportData) -> str:
    """The whole document as one string (10,000 messages: a few MB, built in one join)."""
    conv = data.conversation
    out: list[str] = [f"# {_escape_inline(conv.title) or 'Conversation'}", ""]
    out += [f"- **{label}:** {_escape_inline(value)}" for label, value in header_fields(data)]
    out.append("")
    if conv.system_prompt:
        out += ["**System prompt:**", "", _fenced(conv.system_prompt), ""]
    if data.has_alternatives:
        out += [f"> {ALTERNATIVES_NOTE}", ""]
    for message in data.thread:
        out += ["---", "", f"## {_escape_inline(role_heading(data, message))}", ""]
        out.append(close_open_fence(message.content))
        for line in document_lines(data, message):
            out += ["", f"> {_escape_inline(line)}"]
        figures = message_figures(message)
        if figures:
            out += ["", f"*{_escape_inline(figures)}*"]
        out.append("")
    return "\n".join(out)

"""HTML export: one standalone file (no scripts, no external resources) styled like the app.

Questions are light bubbles on the right, answers white cards; code blocks are coloured by
pygments with inline styles, so the file needs nothing else to look right offline. Every
piece of text (titles, models, messages) is escaped; answers' Markdown goes through
``markdown_html`` (markdown-it-py, raw HTML off, the app's one dialect: a single newline
is a line break, as in the window). A Content-Security-Policy
that allows no script is there as a second line of defence.

The PDF is this same document in its ``paged`` form: Qt's text layout draws a border, a
background and padding only around table cells, so there each message is a one-cell
table in the same colours (Qt ignores the CSS it does not know).
"""

from __future__ import annotations

from chatdesk import __version__
from chatdesk.core.exchange import markdown_html
from chatdesk.core.exchange.common import (
    ALTERNATIVES_NOTE,
    ROLE_LABELS,
    ExportData,
    document_lines,
    format_time,
    header_fields,
    message_figures,
)
from chatdesk.core.exchange.markdown_html import esc

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
# (background, border) of each kind of message bubble: the page's CSS and the PDF's cells.
BUBBLES = {"user": ("#e8f0fe", "#d2e3fc"), "assistant": ("#ffffff", "#e2e8f0"),
           "system": ("#edf2f7", "#e2e8f0"), "incomplete": ("#fffaf0", "#f6ad55")}
PAGED_USER_INDENT_PX = 120  # the page's 18% in the PDF (Qt takes table margins in pixels)

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
  font-size: 15px; line-height: 1.5; color: #1a202c; background-color: #ffffff;
  margin: 0; padding: 24px; }
main { max-width: 860px; margin: 0 auto; }
h1 { font-size: 24px; margin: 0 0 8px 0; overflow-wrap: anywhere; }
table.meta { border-collapse: collapse; font-size: 13px; color: #4a5568; margin-bottom: 8px; }
table.meta th { text-align: left; padding: 1px 12px 1px 0; font-weight: 600;
  vertical-align: top; }
table.meta td { padding: 1px 0; }
.note { font-size: 13px; color: #718096; font-style: italic; }
.system-prompt { background-color: #edf2f7; border-radius: 8px; padding: 8px 12px;
  margin: 8px 0 16px 0; font-size: 13px; }
.msg { margin: 12px 0; padding: 10px 14px; border-radius: 8px; overflow-wrap: anywhere; }
.msg-user { margin-left: 18%; }
.msg-assistant { box-shadow: 0 1px 2px rgba(0, 0, 0, 0.06); }
.role { font-size: 12px; font-weight: 600; margin-bottom: 4px; }
.role .when, .role .alt { font-weight: normal; color: #718096; }
.msg-user .role { color: #2b6cb0; }
.msg-assistant .role { color: #2f855a; }
.msg-system .role { color: #718096; }
.plain { white-space: pre-wrap; }
.figures { font-size: 12px; color: #718096; margin-top: 6px; }
.body p { margin: 0 0 8px 0; }
.body p:last-child { margin-bottom: 0; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono",
  monospace; font-size: 13px; background-color: #f0f2f5; }
.code { margin: 8px 0; border: 1px solid #e2e8f0; border-radius: 6px;
  background-color: #f8f8f8; }
.code .lang { font-size: 11px; color: #718096; padding: 2px 10px;
  border-bottom: 1px solid #e2e8f0; }
.code pre { margin: 0; padding: 8px 10px; overflow-x: auto; background-color: #f8f8f8; }
.code pre code { background-color: #f8f8f8; white-space: pre; }
blockquote { margin: 6px 0; padding-left: 10px; border-left: 3px solid #cbd5e0;
  color: #4a5568; }
.body table { border-collapse: collapse; margin: 6px 0; }
.body th, .body td { border: 1px solid #cbd5e0; padding: 3px 8px; }
.body th { background-color: #f7fafc; }
@media print { body { background-color: #ffffff; padding: 0; }
  .msg { break-inside: avoid-page; } }
""" + "".join(
    f".msg-{kind} {{ background-color: {bg}; border: 1px solid {border}; }}\n"
    for kind, (bg, border) in BUBBLES.items())


def _message(message_html: list[str], role: str, state: str, heading: str, when: str,
             alt: str, body: str, figures: str, paged: bool) -> None:
    cut = state in ("incomplete", "error")
    classes = f"msg msg-{esc(role)}" + (" msg-incomplete" if cut else "")
    inner = (f'<div class="role">{heading} <span class="when">· {when}</span>{alt}</div>'
             f'<div class="body" dir="auto">{body}</div>'
             + (f'<div class="figures">{figures}</div>' if figures else ""))
    if not paged:
        message_html.append(f'<section class="{classes}">{inner}</section>')
        return
    background, border = BUBBLES["incomplete" if cut else role if role in BUBBLES
                                 else "system"]
    indent = PAGED_USER_INDENT_PX if role == "user" else 0
    message_html.append(
        f'<table class="{classes}" width="100%" cellspacing="0" cellpadding="10" border="1" '
        f'style="border-color: {border}; border-style: solid; margin-top: 12px; '
        f'margin-left: {indent}px"><tr><td bgcolor="{background}">{inner}</td></tr></table>')


def render_html(data: ExportData, *, paged: bool = False) -> str:
    """The standalone document as one string; ``paged``: the form Qt lays out for a PDF."""
    conv = data.conversation
    title = esc(conv.title or "Conversation")
    parts = ["<!DOCTYPE html>", '<html><head><meta charset="utf-8">',
             f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f'<meta name="generator" content="chatdesk {esc(__version__)}">',
             f"<title>{title}</title>", f"<style>{STYLE}</style>", "</head>",
             "<body><main>", f'<h1 dir="auto">{title}</h1>', '<table class="meta">']
    parts += [f"<tr><th>{esc(label)}</th><td>{esc(value)}</td></tr>"
              for label, value in header_fields(data)]
    parts.append("</table>")
    if data.has_alternatives:
        parts.append(f'<p class="note">{esc(ALTERNATIVES_NOTE)}</p>')
    if conv.system_prompt:
        parts.append('<div class="system-prompt"><div class="role">System prompt</div>'
                     f"{markdown_html.plain(conv.system_prompt)}</div>")
    for message in data.thread:
        heading = esc(ROLE_LABELS.get(message.role, message.role))
        if message.role == "assistant" and message.model:
            heading += f" · {esc(data.model_name(message.model))}"
        alt = (f' <span class="alt">· {message.sibling_index + 1}/{message.sibling_count}'
               "</span>" if message.sibling_count > 1 else "")
        body = (markdown_html.render(message.content) if message.role == "assistant"
                else markdown_html.plain(message.content))
        body += "".join(f'<p class="figures" dir="auto">{esc(line)}</p>'
                        for line in document_lines(data, message))
        _message(parts, message.role, message.state, heading,
                 esc(format_time(message.created_at)), alt, body,
                 esc(message_figures(message)), paged)
    parts.append("</main></body></html>\n")
    return "\n".join(parts)

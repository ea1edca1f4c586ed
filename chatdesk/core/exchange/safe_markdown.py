"""A small Markdown subset rendered to HTML where every character of the text is escaped.

Why not a Markdown library: the ones that exist pass raw HTML through by default (CommonMark
says they must), none is installed, and an export must never turn a message's ``<script>``
or ``<img onerror=...>`` into markup. Here text is escaped *first*; the only tags in the
output are the fixed ones this module writes (p, h3-h6, ul/ol/li, blockquote, hr, table,
pre/code, strong, em, del, a with an http(s)/mailto href, and pygments' spans). That covers
what models write: paragraphs, headings, lists, quotes, tables, code blocks and inline code.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from typing import Any

MAX_HIGHLIGHT_CHARS = 20_000  # beyond this a block stays plain (some lexers are slow)
PYGMENTS_STYLE = "default"

_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*([^`]*?)[ \t]*$")
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$")
_BULLET = re.compile(r"^[ \t]*[-*+][ \t]+(.*)$")
_ORDERED = re.compile(r"^[ \t]*(\d{1,9})[.)][ \t]+(.*)$")
_QUOTE = re.compile(r"^ {0,3}>[ \t]?(.*)$")
_RULE = re.compile(r"^ {0,3}([-*_])([ \t]*\1){2,}[ \t]*$")
_TABLE_SEP = re.compile(r"^[ \t]*\|?[ \t]*:?-+:?[ \t]*(\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.DOTALL)
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_ITALIC = re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])"
                     r"|(?<![\w_])_(?=[^\s_])(.+?)(?<=[^\s_])_(?![\w_])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
# Applied to escaped text, so the URL holds no quote or angle bracket.
_LINK = re.compile(r"\[([^\]\n]+)\]\(((?:https?://|mailto:)[^\s()]+)\)")

_ALIASES = {
    "shell": "bash", "sh": "bash", "zsh": "bash", "terminal": "bash", "py": "python",
    "python3": "python", "js": "javascript", "ts": "typescript", "c++": "cpp", "h": "c",
    "hpp": "cpp", "yml": "yaml", "jsonc": "json", "txt": "text", "plaintext": "text",
    "ps1": "powershell", "dockerfile": "docker", "md": "markdown",
}


def esc(text: str) -> str:
    """HTML-escape text, quotes included (safe in element content and in attributes)."""
    return html.escape(text, quote=True)


@lru_cache(maxsize=1)
def _formatter() -> Any:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(noclasses=True, style=PYGMENTS_STYLE, nowrap=True)


@lru_cache(maxsize=128)
def _lexer(language: str) -> Any | None:
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        return get_lexer_by_name(language, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


def code_block(code: str, info: str) -> str:
    """A fenced block: pygments colours (it escapes the code) or escaped plain text."""
    word = info.split(maxsplit=1)[0].lower().strip("{}.") if info.strip() else ""
    language = _ALIASES.get(word, word)
    label = f'<div class="lang">{esc(word)}</div>' if word else ""
    lexer = _lexer(language) if language and len(code) <= MAX_HIGHLIGHT_CHARS else None
    if lexer is not None:
        from pygments import highlight

        body = highlight(code, lexer, _formatter()).rstrip("\n")
    else:
        body = esc(code)
    return f'<div class="code">{label}<pre><code>{body}</code></pre></div>'


def inline(text: str) -> str:
    """One paragraph's text: code spans verbatim, then emphasis and safe links."""
    out: list[str] = []
    pos = 0
    for match in _CODE_SPAN.finditer(text):
        out.append(_emphasis(esc(text[pos:match.start()])))
        code = match.group(2)
        if code.startswith(" ") and code.endswith(" ") and code.strip():
            code = code[1:-1]
        out.append(f"<code>{esc(code)}</code>")
        pos = match.end()
    out.append(_emphasis(esc(text[pos:])))
    return "".join(out)


def _emphasis(escaped: str) -> str:
    escaped = _LINK.sub(r'<a href="\2" rel="noopener noreferrer">\1</a>', escaped)
    escaped = _BOLD.sub(r"<strong>\2</strong>", escaped)
    escaped = _ITALIC.sub(lambda m: f"<em>{m.group(1) or m.group(2)}</em>", escaped)
    return _STRIKE.sub(r"<del>\1</del>", escaped)


def _split_row(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line)]


MAX_QUOTE_DEPTH = 16


def render(text: str, _depth: int = 0) -> str:
    """Markdown text → safe HTML (block structure, then ``inline`` for each text run)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    paragraph: list[str] = []
    i, n = 0, len(lines)

    def flush() -> None:
        if paragraph:
            out.append("<p>" + "<br>\n".join(inline(line.strip()) for line in paragraph)
                       + "</p>")
            paragraph.clear()

    while i < n:
        line = lines[i]
        fence = _FENCE_OPEN.match(line)
        if fence:
            flush()
            run, info = fence.group(1), fence.group(2)
            body: list[str] = []
            i += 1
            while i < n:
                close = lines[i].strip()
                if (close.startswith(run) and set(close) == {run[0]}
                        and len(lines[i]) - len(lines[i].lstrip(" ")) <= 3):
                    i += 1
                    break
                body.append(lines[i])
                i += 1
            out.append(code_block("\n".join(body), info))
            continue
        if not line.strip():
            flush()
            i += 1
            continue
        if _RULE.match(line):
            flush()
            out.append("<hr>")
            i += 1
            continue
        heading = _HEADING.match(line)
        if heading:
            flush()
            level = min(len(heading.group(1)) + 2, 6)
            out.append(f"<h{level}>{inline(heading.group(2))}</h{level}>")
            i += 1
            continue
        if "|" in line and i + 1 < n and _TABLE_SEP.match(lines[i + 1]) \
                and "-" in lines[i + 1]:
            flush()
            head = _split_row(line)
            rows = []
            i += 2
            while i < n and "|" in lines[i] and lines[i].strip():
                rows.append(_split_row(lines[i]))
                i += 1
            cells = "".join(f"<th>{inline(c)}</th>" for c in head)
            body_rows = "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in row)
                                + "</tr>" for row in rows)
            out.append(f"<table><thead><tr>{cells}</tr></thead><tbody>{body_rows}"
                       "</tbody></table>")
            continue
        if _depth < MAX_QUOTE_DEPTH and _QUOTE.match(line):
            flush()
            quoted = []
            while i < n and (match := _QUOTE.match(lines[i])):
                quoted.append(match.group(1))
                i += 1
            out.append(f"<blockquote>{render(chr(10).join(quoted), _depth + 1)}</blockquote>")
            continue
        bullet, ordered = _BULLET.match(line), _ORDERED.match(line)
        if bullet or ordered:
            flush()
            pattern = _BULLET if bullet else _ORDERED
            items: list[str] = []
            while i < n and lines[i].strip():
                match = pattern.match(lines[i])
                if match:
                    items.append(match.group(match.lastindex or 1))
                elif items and lines[i].startswith((" ", "\t")) and not _FENCE_OPEN.match(
                        lines[i]):
                    items[-1] += "\n" + lines[i].strip()  # a continuation line
                else:
                    break
                i += 1
            tag = "ul" if bullet else "ol"
            start = ""
            if ordered and ordered.group(1) != "1":
                start = f' start="{int(ordered.group(1))}"'
            lis = "".join("<li>" + "<br>".join(inline(part) for part in item.split("\n"))
                          + "</li>" for item in items)
            out.append(f"<{tag}{start}>{lis}</{tag}>")
            continue
        paragraph.append(line)
        i += 1
    flush()
    return "\n".join(out)


def plain(text: str) -> str:
    """Text shown as typed (the user's messages): escaped; CSS pre-wrap keeps its lines."""
    return f'<div class="plain">{esc(text)}</div>'

"""Markdown → HTML for the exports, in chatdesk's one dialect (``core.markdown_dialect``).

markdown-it-py parses; raw HTML in a message is text, links lead only to http(s)/mailto
and images stay text. The only tags in the output are the renderer's: p, br, h3-h6 (the
page's title is its h1, so headings move down two levels), ul/ol/li, blockquote, hr,
table, pre/code, strong, em, del, a (rel=noopener) and pygments' spans in code blocks.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from chatdesk.core.markdown_dialect import new_parser

MAX_HIGHLIGHT_CHARS = 20_000  # beyond this a block stays plain (some lexers are slow)
PYGMENTS_STYLE = "default"

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


class _Renderer(RendererHTML):
    """markdown-it's HTML renderer, compact: a newline only after a top-level block."""

    def renderToken(self, tokens: Sequence[Token], idx: int, options: OptionsDict,
                    env: EnvType) -> str:
        out = super().renderToken(tokens, idx, options, env)
        token = tokens[idx]
        if out.endswith("\n") and (token.level > 0 or token.nesting > 0):
            out = out[:-1]
        return out


def _heading(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict,
             env: EnvType) -> str:
    # The page's own title is its h1: a message's headings start at h3.
    token = tokens[idx]
    level = min(int(token.tag[1]) + 2, 6)
    return f"<h{level}>" if token.nesting == 1 else f"</h{level}>\n"


def _link(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict,
          env: EnvType) -> str:
    token = tokens[idx]  # the parser let only http(s)/mailto through (safe_link)
    token.attrs = {"href": str(token.attrs.get("href", "")), "rel": "noopener noreferrer"}
    return self.renderToken(tokens, idx, options, env)


def _fence(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict,
           env: EnvType) -> str:
    token = tokens[idx]
    info = token.info if token.type == "fence" else ""
    return code_block(token.content.removesuffix("\n"), info) + "\n"


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    md = new_parser(_Renderer)
    md.add_render_rule("heading_open", _heading)
    md.add_render_rule("heading_close", _heading)
    md.add_render_rule("link_open", _link)
    md.add_render_rule("s_open", lambda *_: "<del>")
    md.add_render_rule("s_close", lambda *_: "</del>")
    md.add_render_rule("fence", _fence)
    md.add_render_rule("code_block", _fence)
    return md


def render(text: str) -> str:
    """An answer's Markdown as HTML in the app's dialect; all of its text escaped."""
    return _parser().render(text).rstrip("\n")


def plain(text: str) -> str:
    """Text shown as typed (the user's messages): escaped; CSS pre-wrap keeps its lines."""
    return f'<div class="plain">{esc(text)}</div>'

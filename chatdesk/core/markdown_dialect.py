"""chatdesk's one Markdown dialect: markdown-it-py (CommonMark) with GitHub's extras.

* Raw HTML is text: a message never becomes markup (``html`` off).
* A single newline is a line break, as GitHub comments and chat apps show them
  (``breaks``); code blocks keep their own lines.
* Bare URLs become links (``linkify``, with linkify-it-py); tables and ~~strikethrough~~.
* Links lead only to http(s) and mailto; images stay text (an export loads nothing).

The exports render HTML with this parser (``core/exchange/markdown_html``). The view keeps
Qt's own Markdown reader (md4c: C++, ~55 µs an answer, and it builds the QTextDocument the
view paints) and asks ``soft_break_lines`` where this dialect breaks lines, so an answer
reads the same in the window and in every file.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from itertools import pairwise
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML

SAFE_SCHEMES = ("http://", "https://", "mailto:")
OPTIONS = {"html": False, "linkify": True, "breaks": True, "typographer": False,
           "xhtmlOut": False}


def safe_link(url: str) -> bool:
    """Whether a link may point at ``url`` (already normalised by the parser)."""
    return url.strip().lower().startswith(SAFE_SCHEMES)


def new_parser(renderer_cls: Callable[[MarkdownIt], Any] = RendererHTML) -> MarkdownIt:
    """A parser of the dialect (renderers add their own render rules to theirs)."""
    md = MarkdownIt("commonmark", OPTIONS, renderer_cls=renderer_cls)
    md.enable(["table", "strikethrough", "linkify"])
    md.disable("image")
    md.validateLink = safe_link  # type: ignore[method-assign]
    return md


@lru_cache(maxsize=1)
def parser() -> MarkdownIt:
    """The shared parser (parsing only; nobody adds render rules to it)."""
    return new_parser()


@lru_cache(maxsize=1)
def _block_parser() -> MarkdownIt:
    """The dialect's block structure only; inline parsing is left to the caller (bare
    URLs never hide a line end, so linkify is off too: it was 40% of the time)."""
    md = new_parser()
    md.options["linkify"] = False
    md.disable(["inline", "linkify", "text_join"])
    return md


def soft_break_lines(text: str) -> list[int]:
    """Numbers (0-based) of the lines of ``text`` whose newline is a soft break inside a
    paragraph: the newlines this dialect shows as line breaks and plain CommonMark as a
    space. Newlines in code, between blocks, or already hard breaks are not listed.

    A paragraph where a code span or a link destination runs over a line end is left out
    whole (the parser does not say which of its line ends that was); that is rare.
    """
    if "\n" not in text.strip():
        return []
    md = _block_parser()
    env: dict = {}
    tokens = md.parse(text, env)
    lines: list[int] = []
    for previous, token in pairwise(tokens):
        if token.type != "inline" or previous.type != "paragraph_open" or not token.map:
            continue
        start, end = token.map
        if end - start < 2:
            continue
        children: list = []
        md.inline.parse(token.content, md, env, children)
        breaks = [child.type == "softbreak" for child in children
                  if child.type in ("softbreak", "hardbreak")]
        if len(breaks) == end - start - 1:
            lines += [start + n for n, soft in enumerate(breaks) if soft]
    return lines

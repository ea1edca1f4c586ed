"""Turning what a user types into a safe full-text query, and cutting marked snippets.

User input never reaches FTS5's query syntax: every term becomes a quoted string, so
``"``, ``AND``, ``*``, ``NEAR(`` or ``-x`` are searched for as text instead of raising a
syntax error. The trigram index only knows terms of 3+ characters; shorter ones (``C#``,
``🎉``, ``世界``) are matched with LIKE on the message text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# What marks a match inside SearchHit.snippet: control characters that never occur in
# chat text (they are removed from the text before marking), so the UI can escape the
# snippet and then turn the markers into highlighting.
SNIPPET_START = "\x02"
SNIPPET_END = "\x03"

MAX_TERMS = 32
MAX_TERM_CHARS = 200
TRIGRAM = 3
SNIPPET_CHARS = 160

_TOKEN = re.compile(r'"([^"]+)"|(\S+)')
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class ParsedQuery:
    """The terms of a query, split by what can serve them."""

    terms: tuple[str, ...]  # every term, for snippet marking
    fts: str | None  # an FTS5 MATCH expression over the long terms, or None
    like: tuple[str, ...]  # LIKE patterns (escaped with '\\') for the short terms


def parse_query(text: str) -> ParsedQuery:
    """Words are ANDed; "quoted words" must appear together; nothing is an operator."""
    clean = text.replace("\x00", " ").replace(SNIPPET_START, " ").replace(SNIPPET_END, " ")
    clean = clean.encode("utf-8", "replace").decode("utf-8")  # lone surrogates
    terms: list[str] = []
    for match in _TOKEN.finditer(clean):
        term = (match.group(1) if match.group(1) is not None else match.group(2)).strip()
        term = _SPACE.sub(" ", term)[:MAX_TERM_CHARS]
        if term and term.casefold() not in {t.casefold() for t in terms}:
            terms.append(term)
        if len(terms) == MAX_TERMS:
            break
    long_terms = [t for t in terms if len(t) >= TRIGRAM]
    short_terms = [t for t in terms if len(t) < TRIGRAM]
    fts = " AND ".join('"' + t.replace('"', '""') + '"' for t in long_terms) or None
    like = tuple("%" + _escape_like(t) + "%" for t in short_terms)
    return ParsedQuery(terms=tuple(terms), fts=fts, like=like)


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def make_snippet(content: str, terms: tuple[str, ...], width: int = SNIPPET_CHARS) -> str:
    """One line of text around the first match, every match inside it marked."""
    text = _SPACE.sub(" ", content.replace(SNIPPET_START, "").replace(SNIPPET_END, "")).strip()
    if not terms:
        return text[:width]
    pattern = re.compile("|".join(re.escape(_SPACE.sub(" ", t))
                                  for t in sorted(terms, key=len, reverse=True)),
                         re.IGNORECASE)
    first = pattern.search(text)
    start = 0
    if first is not None and first.end() > width * 2 // 3:
        start = max(0, first.start() - width // 3)
        space = text.find(" ", start, first.start())
        if space != -1:
            start = space + 1
    end = min(len(text), start + width)
    if end < len(text):
        space = text.rfind(" ", start, end)
        if first is not None and space > first.end():
            end = space
    pieces: list[str] = ["…" if start > 0 else ""]
    position = start
    for match in pattern.finditer(text, start, end):
        if match.start() == match.end():
            continue
        pieces += [text[position:match.start()], SNIPPET_START, match.group(), SNIPPET_END]
        position = match.end()
    pieces.append(text[position:end])
    if end < len(text):
        pieces.append("…")
    return "".join(pieces)


def snippet_parts(snippet: str) -> list[tuple[str, bool]]:
    """Split a marked snippet into (text, is_match) pieces, for widgets that style runs."""
    parts: list[tuple[str, bool]] = []
    for index, chunk in enumerate(re.split(f"[{SNIPPET_START}{SNIPPET_END}]", snippet)):
        if chunk:
            parts.append((chunk, index % 2 == 1))
    return parts

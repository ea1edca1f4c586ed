"""Syntax highlighting for fenced code blocks: pygments tokens as Qt character formats.

Why pygments rather than a QSyntaxHighlighter with a handful of regex rules: answers contain
code in whatever language the user asked about (Python, shell, C++, SQL, JSON, YAML, Rust,
diff ...), and pygments has maintained lexers for ~600 languages and well-tested colour
styles; a hand-written rule set would cover three languages badly. It is pure Python (no
build step), BSD-licensed, and already installed with pytest. Lexing happens only when a
message is rendered, and messages are rendered only when they become visible; a typical
answer's code block lexes in well under a millisecond.

Highlighting never guesses the language (``guess_lexer`` tries every lexer and is slow):
an untagged block stays plain.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from PySide6.QtGui import QColor, QFont, QTextCharFormat

# Beyond this many characters a block is shown unhighlighted: some lexers are slow on
# pathological input and a pasted log file does not need colours.
MAX_HIGHLIGHT_CHARS = 20_000

LIGHT_STYLE = "default"
DARK_STYLE = "github-dark"

# Fence info strings models commonly write that pygments does not know as aliases.
_ALIASES = {
    "shell": "bash", "sh": "bash", "zsh": "bash", "console": "console", "terminal": "bash",
    "py": "python", "python3": "python", "js": "javascript", "ts": "typescript",
    "c++": "cpp", "h": "c", "hpp": "cpp", "yml": "yaml", "jsonc": "json", "txt": "text",
    "plaintext": "text", "ps1": "powershell", "dockerfile": "docker", "md": "markdown",
}


def normalize_language(info: str) -> str:
    """The language name from a fence info string (```` ```Python title="x" ```` → python)."""
    word = info.strip().split(maxsplit=1)[0].lower() if info.strip() else ""
    word = word.strip("{}.")
    return _ALIASES.get(word, word)


@lru_cache(maxsize=1)
def _known_aliases() -> frozenset[str]:
    """Every alias of pygments' built-in lexers (read from its table, ~4 ms, once).

    Asking ``get_lexer_by_name`` for an unknown name scans the installed packages' entry
    points for plugins (~20 ms), and while an answer streams the fence's info string grows
    a letter at a time ("p", "py", "pyt" ...): unknown names must be cheap.
    """
    from pygments.lexers import get_all_lexers

    return frozenset(alias for _, aliases, _, _ in get_all_lexers(plugins=False)
                     for alias in aliases)


@lru_cache(maxsize=64)
def _lexer(language: str) -> Any | None:
    if not language or language == "text" or language not in _known_aliases():
        return None
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        # No newline stripping or tab expansion: token offsets must match the code exactly.
        return get_lexer_by_name(language, stripnl=False, stripall=False, ensurenl=False,
                                 tabsize=0)
    except ClassNotFound:
        return None


# Loading a lexer the first time costs a module import and its regexes (python: ~17 ms,
# measured here). The view loads these, one per idle turn, once it is first shown, so the
# first code block of a streamed answer does not cost a frame.
COMMON_LANGUAGES = ("python", "bash", "json", "javascript", "typescript", "cpp", "c",
                    "rust", "go", "java", "sql", "yaml", "html", "css", "toml")


def warm_up(language: str) -> None:
    _lexer(normalize_language(language))


def has_lexer(language: str) -> bool:
    return _lexer(normalize_language(language)) is not None


# style name → token type → its format (None: the token is drawn in the text colour)
_FORMATS: dict[str, dict[Any, QTextCharFormat | None]] = {}


def _format_for(style_name: str, token_type: Any) -> QTextCharFormat | None:
    cache = _FORMATS.setdefault(style_name, {})
    if token_type in cache:
        return cache[token_type]
    from pygments.styles import get_style_by_name

    spec = get_style_by_name(style_name).style_for_token(token_type)
    fmt: QTextCharFormat | None = QTextCharFormat()
    assert fmt is not None
    used = False
    if spec.get("color"):
        fmt.setForeground(QColor("#" + spec["color"]))
        used = True
    if spec.get("bold"):
        fmt.setFontWeight(QFont.Weight.Bold)
        used = True
    if spec.get("italic"):
        fmt.setFontItalic(True)
        used = True
    if not used:
        fmt = None
    cache[token_type] = fmt
    return fmt


def highlight_ranges(code: str, language: str,
                     style_name: str = LIGHT_STYLE) -> list[tuple[int, int, QTextCharFormat]]:
    """``(start, length, format)`` for the coloured runs of ``code`` (offsets into ``code``).

    Unstyled tokens (plain text, whitespace) are left out and adjacent tokens with the same
    format are merged, so a typical line costs a handful of ranges.
    """
    lexer = _lexer(normalize_language(language))
    if lexer is None or not code or len(code) > MAX_HIGHLIGHT_CHARS:
        return []
    ranges: list[tuple[int, int, QTextCharFormat]] = []
    last_fmt: QTextCharFormat | None = None
    for start, token_type, value in lexer.get_tokens_unprocessed(code):
        if not value:
            continue
        fmt = _format_for(style_name, token_type)
        if fmt is None:
            last_fmt = None
            continue
        if fmt is last_fmt and ranges and ranges[-1][0] + ranges[-1][1] == start:
            begin, length, _ = ranges[-1]
            ranges[-1] = (begin, length + len(value), fmt)
        else:
            ranges.append((start, len(value), fmt))
        last_fmt = fmt
    return ranges

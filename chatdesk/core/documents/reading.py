"""From a file to its text, with page numbers where the format has pages.

One error type, ``UnreadableDocument``, carries a one-line reason a person can act on
("encrypted PDF: ...", "no text to read: OCR is not supported"), so the window and the CLI
show it as it is and nothing else is lost. Text files are decoded with the encoding
charset-normalizer finds, not an assumed UTF-8; a file with a text extension whose bytes
are binary is refused rather than shown as mojibake.
"""

from __future__ import annotations

import html.parser
import io
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

MAX_FILE_BYTES = 200 * 1024 * 1024  # the limit; bigger files are refused, unread

PDF_SUFFIXES = frozenset({".pdf"})
DOCX_SUFFIXES = frozenset({".docx"})
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
TEXT_SUFFIXES = frozenset({
    ".txt", ".text", ".md", ".markdown", ".rst", ".csv", ".tsv", ".json", ".jsonl", ".xml",
    ".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf", ".log", ".tex", ".org", ".adoc",
    ".py", ".pyi", ".c", ".h", ".cc", ".cpp", ".hpp", ".cs", ".java", ".kt", ".go", ".rs",
    ".js", ".jsx", ".ts", ".tsx", ".rb", ".php", ".pl", ".sh", ".bash", ".zsh", ".ps1",
    ".bat", ".sql", ".r", ".m", ".swift", ".scala", ".lua", ".css", ".scss", ".vue",
    ".dart", ".hs", ".ml", ".ex", ".exs", ".erl", ".clj", ".el", ".vim", ".cmake",
    ".gradle", ".properties", ".env", ".srt", ".vtt",
})
TEXT_NAMES = frozenset({"readme", "license", "makefile", "dockerfile", "changelog", "notice"})
SUPPORTED_SUFFIXES = PDF_SUFFIXES | DOCX_SUFFIXES | HTML_SUFFIXES | TEXT_SUFFIXES

OCR_MESSAGE = "no text to read: OCR is not supported"


class UnreadableDocument(Exception):
    """A file that cannot be given to the model; ``str()`` is the one-line reason."""


@dataclass(frozen=True)
class Page:
    """A page of a PDF (number from 1), or the whole text of a file without pages (0)."""

    number: int
    text: str


@dataclass(frozen=True)
class DocumentText:
    name: str
    kind: str  # "pdf" | "docx" | "html" | "text"
    pages: tuple[Page, ...]
    encoding: str | None = None  # what a text file was decoded as

    @property
    def text(self) -> str:
        return "\n\n".join(page.text for page in self.pages)

    @property
    def page_count(self) -> int:
        return sum(1 for page in self.pages if page.number)


def kind_of(path: Path) -> str | None:
    """The reader a file name asks for, or None when chatdesk cannot read that kind."""
    suffix = path.suffix.lower()
    if suffix in PDF_SUFFIXES:
        return "pdf"
    if suffix in DOCX_SUFFIXES:
        return "docx"
    if suffix in HTML_SUFFIXES:
        return "html"
    if suffix in TEXT_SUFFIXES or (not suffix and path.name.lower() in TEXT_NAMES):
        return "text"
    return None


def read_bytes(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The file's bytes, or UnreadableDocument for a missing, unreadable or too big file,
    and for anything but a regular file: /dev/zero would never end, a named pipe would
    block forever. Opened without blocking and checked on the open file, so a file
    swapped for a pipe after a look cannot hang the reader; never more than ``limit``
    bytes are read, even from a file that grows."""
    try:
        if path.is_dir():
            raise UnreadableDocument(f"{path.name}: is a folder, not a file")
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
                             | getattr(os, "O_BINARY", 0))
        with os.fdopen(descriptor, "rb") as file:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise UnreadableDocument(f"{path.name}: not a regular file (a device, pipe "
                                         "or socket)")
            if info.st_size > limit:
                raise UnreadableDocument(f"{path.name}: too big ({info.st_size / 2**20:.0f} "
                                         f"MB; the limit is {limit / 2**20:.0f} MB)")
            data = file.read(limit + 1)
        if len(data) > limit:
            raise UnreadableDocument(f"{path.name}: too big (it grew past the limit of "
                                     f"{limit / 2**20:.0f} MB while being read)")
        return data
    except FileNotFoundError:
        raise UnreadableDocument(f"{path.name}: the file is gone") from None
    except PermissionError:
        raise UnreadableDocument(f"{path.name}: no permission to read it") from None
    except OSError as exc:
        raise UnreadableDocument(f"{path.name}: cannot be read ({exc.strerror or exc})") \
            from None


def read_document(path: Path, limit: int = MAX_FILE_BYTES) -> DocumentText:
    """Read ``path`` by its extension; raises UnreadableDocument with the reason."""
    path = Path(path)
    kind = kind_of(path)
    if kind is None:
        raise UnreadableDocument(f"{path.name}: chatdesk cannot read {path.suffix or 'this'} "
                                 "files (PDF, DOCX, HTML and text files it can)")
    return parse_document(path.name, read_bytes(path, limit), kind)


def parse_document(name: str, data: bytes, kind: str | None = None) -> DocumentText:
    """Text from a file's bytes (already read: an attachment kept by content hash)."""
    kind = kind or kind_of(Path(name)) or "text"
    if kind == "pdf":
        pages = _pdf_pages(name, data)
        document = DocumentText(name, kind, pages)
    elif kind == "docx":
        document = DocumentText(name, kind, (Page(0, _docx_text(name, data)),))
    else:
        text, encoding = decode_text(name, data)
        if kind == "html":
            text = html_text(text)
        document = DocumentText(name, kind, (Page(0, text),), encoding)
    if not document.text.strip():
        raise UnreadableDocument(f"{name}: {OCR_MESSAGE}" if kind == "pdf"
                                 else f"{name}: the file has no text")
    return document


# -- text -------------------------------------------------------------------------------
_BOMS = (("utf-8-sig", b"\xef\xbb\xbf"), ("utf-32", b"\xff\xfe\x00\x00"),
         ("utf-32", b"\x00\x00\xfe\xff"), ("utf-16", b"\xff\xfe"), ("utf-16", b"\xfe\xff"))


def decode_text(name: str, data: bytes) -> tuple[str, str]:
    """(text, encoding). A BOM or valid UTF-8 decides at once; otherwise charset-normalizer
    guesses, and bytes it finds binary (NULs, control bytes) are refused."""
    for encoding, bom in _BOMS:
        if data.startswith(bom):
            return _clean(data.decode(encoding, errors="replace")), encoding
    if b"\x00" not in data[:65536]:
        try:
            return _clean(data.decode("utf-8")), "utf-8"
        except UnicodeDecodeError:
            pass
    if _looks_binary(data):
        raise UnreadableDocument(f"{name}: binary data, not text")
    from charset_normalizer import from_bytes

    best = from_bytes(data[:1_000_000]).best()
    if best is None:
        raise UnreadableDocument(f"{name}: binary data, not text")
    encoding = best.encoding
    return _clean(data.decode(encoding, errors="replace")), encoding


def _looks_binary(data: bytes) -> bool:
    """NULs, or many control bytes that no text encoding uses, in the first 64 KiB."""
    sample = data[:65536]
    if not sample:
        return False
    if b"\x00" in sample:
        return True
    controls = sum(1 for byte in sample if byte < 32 and byte not in (9, 10, 12, 13, 27))
    return controls / len(sample) > 0.05


def _clean(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


class _HtmlText(html.parser.HTMLParser):
    """The visible text of an HTML page: scripts and styles dropped, block elements on
    lines of their own, headings as Markdown headings (so chunking can split at them)."""

    _SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head"})
    _BLOCK = frozenset({"p", "div", "br", "li", "tr", "section", "article", "header",
                        "footer", "blockquote", "pre", "table", "ul", "ol", "dd", "dt",
                        "hr", "main", "nav", "aside", "figure", "figcaption"})
    _HEADINGS: ClassVar[dict[str, str]] = {f"h{n}": "#" * n + " " for n in range(1, 7)}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._HEADINGS:
            self.parts.append("\n\n" + self._HEADINGS[tag])
        elif tag in self._BLOCK:
            self.parts.append("\n\n" if tag == "p" else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._HEADINGS or tag in ("p", "table", "ul", "ol", "pre"):
            self.parts.append("\n\n")
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_BLANKS = re.compile(r"\n\s*\n\s*(\n\s*)*")


def html_text(markup: str) -> str:
    parser = _HtmlText()
    parser.feed(markup)
    parser.close()
    lines = [_SPACES.sub(" ", line).strip() for line in "".join(parser.parts).split("\n")]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()


# -- PDF and DOCX -----------------------------------------------------------------------
def _pdf_pages(name: str, data: bytes) -> tuple[Page, ...]:
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings are not the user's
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:  # many "encrypted" PDFs only restrict printing: their user password is ""
                if not reader.decrypt(""):
                    raise UnreadableDocument(f"{name}: encrypted PDF (it needs a password)")
            except UnreadableDocument:
                raise
            except Exception as exc:
                raise UnreadableDocument(f"{name}: encrypted PDF that cannot be opened "
                                         f"({exc})") from None
        pages = []
        for number, page in enumerate(reader.pages, start=1):
            text = page.extract_text() or ""
            pages.append(Page(number, _clean(text).strip()))
    except UnreadableDocument:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError,
            RecursionError) as exc:
        raise UnreadableDocument(f"{name}: not a readable PDF ({exc})") from None
    if not pages:
        raise UnreadableDocument(f"{name}: the PDF has no pages")
    return tuple(pages)


def _docx_text(name: str, data: bytes) -> str:
    import zipfile

    try:
        import docx
        from docx.opc.exceptions import PackageNotFoundError

        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise UnreadableDocument(f"{name}: not a readable DOCX file ({exc})") from None
    except PackageNotFoundError:
        raise UnreadableDocument(f"{name}: not a readable DOCX file") from None
    except Exception as exc:  # lxml errors on damaged XML, and the like
        raise UnreadableDocument(f"{name}: not a readable DOCX file ({exc})") from None
    return "\n\n".join(block for block in _docx_blocks(document) if block.strip())


def _docx_blocks(document: object) -> list[str]:
    """Paragraphs (headings as Markdown headings, by their style) and tables (a row per
    line, cells separated by " | "), in document order."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    blocks: list[str] = []
    body = document.element.body  # type: ignore[attr-defined]
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            paragraph = Paragraph(child, document)  # type: ignore[arg-type]
            text = paragraph.text.strip()
            style = (paragraph.style.name if paragraph.style is not None else "") or ""
            level = _heading_level(style)
            blocks.append(("#" * level + " " + text) if level and text else text)
        elif tag == "tbl":
            table = Table(child, document)  # type: ignore[arg-type]
            rows = [" | ".join(cell.text.strip() for cell in row.cells) for row in table.rows]
            blocks.append("\n".join(rows))
    return blocks


def _heading_level(style: str) -> int:
    if style == "Title":
        return 1
    match = re.fullmatch(r"Heading (\d)", style)
    return min(6, int(match.group(1))) if match else 0

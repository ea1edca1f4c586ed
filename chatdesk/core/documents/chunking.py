"""Splitting a document into passages of a few hundred tokens, at headings and
paragraphs, never across a page: a passage is what retrieval ranks and what "Sources"
shows, so it should read as a whole and say where it came from.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from chatdesk.core.documents.reading import DocumentText

CHUNK_TOKENS = 300  # the size aimed at; a passage may be a little smaller or bigger
CHARS_PER_TOKEN = 3.5  # English with a Llama-style tokenizer runs about 4; estimate high


def estimate_tokens(text: str) -> int:
    """Tokens ``text`` will take, estimated without a model (a little on the high side,
    so that what is decided to fit does fit). The context meter counts the real ones."""
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


@dataclass(frozen=True)
class Chunk:
    ordinal: int  # its place in the document, from 0
    page: int  # 0: a document without pages
    heading: str  # the nearest heading above it ("" when there is none)
    text: str


_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_PARAGRAPHS = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")


def chunk_document(document: DocumentText, target_tokens: int = CHUNK_TOKENS) -> list[Chunk]:
    """Passages of about ``target_tokens``: a heading starts a new passage; paragraphs are
    packed together up to the target; a paragraph longer than that is cut at sentences."""
    limit = int(target_tokens * CHARS_PER_TOKEN)
    chunks: list[Chunk] = []
    for page in document.pages:
        heading = ""
        buffer: list[str] = []
        for paragraph in _PARAGRAPHS.split(page.text):
            paragraph = paragraph.strip()
            if not paragraph:
                continue
            match = _HEADING.match(paragraph.split("\n", 1)[0])
            if match:
                _flush(chunks, buffer, page.number, heading)
                heading = match.group(2)
            for piece in _pieces(paragraph, limit):
                if buffer and sum(len(b) + 2 for b in buffer) + len(piece) > limit:
                    _flush(chunks, buffer, page.number, heading)
                buffer.append(piece)
        _flush(chunks, buffer, page.number, heading)
    return chunks


def _flush(chunks: list[Chunk], buffer: list[str], page: int, heading: str) -> None:
    """The paragraphs gathered so far become one passage."""
    text = "\n\n".join(buffer).strip()
    buffer.clear()
    if text:
        chunks.append(Chunk(len(chunks), page, heading, text))


def _pieces(paragraph: str, limit: int) -> list[str]:
    """A paragraph as it is, or cut at sentence ends (else at spaces, else hard) into
    pieces no longer than ``limit``."""
    if len(paragraph) <= limit:
        return [paragraph]
    pieces: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(paragraph):
        while len(sentence) > limit:
            cut = sentence.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            if current:
                pieces.append(current)
                current = ""
            pieces.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if current and len(current) + 1 + len(sentence) > limit:
            pieces.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        pieces.append(current)
    return [piece for piece in pieces if piece]

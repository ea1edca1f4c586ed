"""What of the documents a question is given: whole, or the passages that match it.

* The attachments of the conversation fit next to it (at most ``WHOLE_FRACTION`` of the
  context, as estimated): the model gets them whole, page by page.
* Otherwise (or when a knowledge folder is on): the passages BM25 ranks best for the
  question, up to ``TOP_PASSAGES`` and the same budget, each with its file and page.

``Grounding.passages`` is the one list both the prompt and "Sources" are made from, so
the sources shown are exactly what the model read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chatdesk.core.documents.chunking import Chunk, estimate_tokens
from chatdesk.core.documents.index import DocumentIndex
from chatdesk.core.events import ChatMessage
from chatdesk.core.history.records import FileRef, SourceRef

WHOLE_FRACTION = 0.5  # documents given whole may take up to half the context
TOP_PASSAGES = 5  # retrieved passages given at most (recall@5 is measured on this)
LEAD_PASSAGES = 2  # per file, when no word of the question matches anything

# SmolLM2 135M answered "the author of the passage" when also asked to cite passage
# numbers; with this plainer line it names the answer (tests/integration).
PROMPT_HEAD = "Use these passages from the user's documents to answer."


@dataclass(frozen=True)
class Grounding:
    mode: str  # "none" | "whole" | "retrieved"
    passages: tuple[SourceRef, ...]
    budget: int  # the tokens the documents could take

    @property
    def tokens(self) -> int:
        """Tokens the passages take, estimated (as laid out in the prompt)."""
        return estimate_tokens(passages_text(self.passages)) if self.passages else 0


NO_GROUNDING = Grounding("none", (), 0)


def budget_for(context_length: int) -> int:
    return int(context_length * WHOLE_FRACTION)


def ground(index: DocumentIndex, question: str, files: Sequence[FileRef],
           folders: Sequence[str], context_length: int,
           top: int = TOP_PASSAGES) -> Grounding:
    """The passages ``question`` is given (the files must be in ``index``)."""
    files = unique_files(files)
    if not files and not folders:
        return NO_GROUNDING
    budget = budget_for(context_length)
    whole = sum(_document_tokens(index, f) for f in files)
    if files and not folders and whole <= budget:
        return Grounding("whole", tuple(_whole_passages(index, files)), budget)
    names = {f.sha256: f.name for f in files}
    hits = index.search(question, documents=list(names), folders=folders, limit=top * 3)
    chosen: list[SourceRef] = []
    used = 0
    for hit in hits:
        name = names.get(hit.sha256) or index.folder_name(hit.sha256, folders) or "?"
        passage = SourceRef(name, hit.page, hit.text, hit.sha256, hit.ordinal)
        cost = estimate_tokens(passage_block(len(chosen) + 1, passage))
        if used + cost > budget:
            continue
        chosen.append(passage)
        used += cost
        if len(chosen) >= top:
            break
    if not chosen:  # "summarise this": no word to match; the files' openings then
        for file in files:
            for chunk in index.chunks(file.sha256)[:LEAD_PASSAGES]:
                passage = SourceRef(file.name, chunk.page, chunk.text, file.sha256,
                                    chunk.ordinal)
                cost = estimate_tokens(passage_block(len(chosen) + 1, passage))
                if used + cost <= budget and len(chosen) < top:
                    chosen.append(passage)
                    used += cost
    return Grounding("retrieved", tuple(chosen), budget)


def unique_files(files: Sequence[FileRef]) -> list[FileRef]:
    """Each file once (by content), in order: the same file attached twice counts once."""
    seen: set[str] = set()
    unique = []
    for file in files:
        if file.sha256 not in seen:
            seen.add(file.sha256)
            unique.append(file)
    return unique


def _document_tokens(index: DocumentIndex, file: FileRef) -> int:
    info = index.document(file.sha256)
    return info.tokens if info is not None else file.tokens


def _whole_passages(index: DocumentIndex, files: Sequence[FileRef]) -> list[SourceRef]:
    """Each file whole: one passage per page (a file without pages is one passage)."""
    passages = []
    for file in files:
        pages: dict[int, list[Chunk]] = {}
        for chunk in index.chunks(file.sha256):
            pages.setdefault(chunk.page, []).append(chunk)
        for page, chunks in pages.items():
            passages.append(SourceRef(file.name, page, "\n\n".join(c.text for c in chunks),
                                      file.sha256, chunks[0].ordinal, whole=True))
    return passages


def where(passage: SourceRef) -> str:
    """"report.pdf, page 3" (or just the name for a file without pages)."""
    return f"{passage.file}, page {passage.page}" if passage.page else passage.file


def passage_block(number: int, passage: SourceRef) -> str:
    return f"[{number}] {where(passage)}\n{passage.text}"


def passages_text(passages: Sequence[SourceRef]) -> str:
    return "\n\n".join(passage_block(n, p) for n, p in enumerate(passages, start=1))


def grounded_question(question: str, passages: Sequence[SourceRef]) -> str:
    """The user's message as the model gets it: the passages, then the question. (The
    history keeps the question as typed; the passages are kept as the answer's sources.)"""
    if not passages:
        return question
    return f"{PROMPT_HEAD}\n\n{passages_text(passages)}\n\nQuestion: {question}"


def with_passages(messages: Sequence[ChatMessage], grounding: Grounding) -> list[ChatMessage]:
    """``messages`` with the passages put into the last user message."""
    result = list(messages)
    if not grounding.passages:
        return result
    for i in range(len(result) - 1, -1, -1):
        if result[i].role == "user":
            result[i] = ChatMessage("user", grounded_question(result[i].content,
                                                              grounding.passages))
            break
    return result

"""The documents index and grounding (core/documents/): whole versus retrieved at the
budget's edge, the prompt built from exactly the passages stored as sources, retrieval
quality (recall@5) on a corpus written for it, and incremental folder indexing."""

from __future__ import annotations

import os
import time

import pytest
from documents_corpus import DOCUMENTS, QUESTIONS
from documents_files import write_pdf

from chatdesk.core.documents.grounding import (
    TOP_PASSAGES,
    budget_for,
    grounded_question,
    passages_text,
    with_passages,
)
from chatdesk.core.documents.index import DocumentIndex, match_query
from chatdesk.core.documents.library import DocumentLibrary
from chatdesk.core.events import ChatMessage


@pytest.fixture
def library(tmp_path):
    return DocumentLibrary(tmp_path / "data")


@pytest.fixture
def corpus(tmp_path, library):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name, text in DOCUMENTS.items():
        (folder / name).write_text(text, encoding="utf-8")
    attached = library.attach(sorted(folder.iterdir()))
    assert not attached.refused
    return attached.files


def test_attachments_that_fit_half_the_context_are_given_whole(tmp_path, library):
    path = write_pdf(tmp_path / "report.pdf", ["The keeper is Marguerite Vance.",
                                               "She has kept the light since 1987."])
    (file,) = library.attach([path]).files
    assert file.pages == 2 and file.tokens > 0
    with library.open_index() as index:
        at_edge = library.ground(index, "Who keeps the light?", [file], [], 2 * file.tokens)
        assert budget_for(2 * file.tokens) == file.tokens
        assert at_edge.mode == "whole"
        assert [(p.file, p.page, p.text, p.whole) for p in at_edge.passages] == [
            ("report.pdf", 1, "The keeper is Marguerite Vance.", True),
            ("report.pdf", 2, "She has kept the light since 1987.", True)]
        over = library.ground(index, "Who is the keeper?", [file], [], 2 * file.tokens - 2)
    assert over.mode == "retrieved"
    assert [p.page for p in over.passages] == [1]  # only page 1 says "keeper"
    assert "Marguerite" in over.passages[0].text and not over.passages[0].whole


def test_the_prompt_holds_exactly_the_passages_that_are_the_sources(corpus, library):
    with library.open_index() as index:
        grounding = library.ground(index, "How do bees stay warm in winter?", corpus, [],
                                   context_length=2048)
    assert grounding.mode == "retrieved"  # six documents do not fit 1,024 tokens
    assert 0 < len(grounding.passages) <= TOP_PASSAGES
    messages = with_passages([ChatMessage("system", "Be brief."),
                              ChatMessage("user", "How do bees stay warm in winter?")],
                             grounding)
    prompt = messages[-1].content
    assert messages[0].content == "Be brief."
    assert prompt == grounded_question("How do bees stay warm in winter?", grounding.passages)
    assert passages_text(grounding.passages) in prompt
    blocks = prompt.split("\n\n[")
    assert len(blocks) - 1 == len(grounding.passages)  # nothing given that is not a source
    assert grounding.tokens <= grounding.budget


def test_recall_at_5_on_the_test_corpus(corpus, library, capsys):
    found = 0
    missed = []
    with library.open_index() as index:
        for question, answer in QUESTIONS:
            # 1,024 tokens: half of it cannot hold the six documents, so passages are chosen
            grounding = library.ground(index, question, corpus, [], context_length=1024)
            assert grounding.mode == "retrieved"
            if any(answer in p.text for p in grounding.passages[:5]):
                found += 1
            else:
                missed.append(question)
    recall = found / len(QUESTIONS)
    with capsys.disabled():
        print(f"\nrecall@5 = {recall:.2f} ({found}/{len(QUESTIONS)}); missed: {missed}")
    assert recall >= 0.9, missed


def test_questions_never_break_the_fts_syntax(corpus, library):
    with library.open_index() as index:
        for question in ('"unbalanced', "NOT AND OR", "col:umn * ^", "(((", "", "?!"):
            library.ground(index, question, corpus, [], context_length=512)
    assert match_query("the and of") is None
    assert match_query('say "hi" NEAR') == '"hi" OR "near"'


def test_a_folder_is_indexed_incrementally_and_can_be_cancelled(tmp_path, library):
    folder = tmp_path / "notes"
    (folder / "sub").mkdir(parents=True)
    for n in range(30):
        (folder / ("sub" if n % 2 else "") / f"note{n}.txt").write_text(
            f"Note {n} mentions the word zebra{n}.", encoding="utf-8")
    (folder / "picture.png").write_bytes(b"\x89PNG")  # not a document: not even counted
    (folder / "broken.txt").write_bytes(bytes(range(256)) * 8)
    with library.open_index() as index:
        first = index.index_folder(folder)
        assert (first.files, first.read, first.unchanged) == (31, 30, 0)
        assert [path for path, _ in first.failed] == ["broken.txt"]
        assert "binary data" in first.failed[0][1]
        again = index.index_folder(folder)
        assert (again.read, again.unchanged, len(again.failed)) == (0, 31, 1)
        touched = folder / "note0.txt"
        later = time.time() + 5
        os.utime(touched, (later, later))  # same content, new mtime: hashed, not read
        (folder / "note2.txt").write_text("Note 2 now says okapi.", encoding="utf-8")
        (folder / "sub" / "note1.txt").unlink()
        third = index.index_folder(folder)
        assert (third.read, third.removed) == (1, 1)
        hits = index.search("okapi", folders=[str(folder)])
        assert [h.text for h in hits] == ["Note 2 now says okapi."]
        assert index.search("zebra2", folders=[str(folder)]) == []
        assert index.search("zebra1", folders=[str(folder)]) == []  # its file is gone
        calls = []
        cancelled = index.index_folder(folder, cancelled=lambda: len(calls) > 0,
                                       progress=calls.append)
        assert cancelled.cancelled
        assert index.folder_stats(str(folder)) == (29, 1)  # 30 notes, one deleted
        index.forget_folder(str(folder))
        assert index.folder_stats(str(folder)) == (0, 0)


def test_a_damaged_index_is_moved_aside_and_started_again(tmp_path):
    path = tmp_path / "documents.sqlite3"
    path.write_bytes(b"not a database at all" * 100)
    with DocumentIndex.open(path) as index:
        assert index.search("anything", documents=["0" * 64]) == []
    assert list(tmp_path.glob("documents.sqlite3.damaged-*"))

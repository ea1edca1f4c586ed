"""Attachments kept with the history: stored once by content hash, linked to messages,
freed when the last conversation using them is purged, and carried through a JSON export
and import (the Markdown and HTML exports list them)."""

from __future__ import annotations

import json

from documents_files import write_pdf

from chatdesk.core.documents.grounding import ground
from chatdesk.core.documents.library import DocumentLibrary
from chatdesk.core.exchange import export_conversation, import_file, render
from chatdesk.core.history import HistoryStore


def _conversation_with_a_pdf(tmp_path, history: HistoryStore, library: DocumentLibrary):
    pdf = tmp_path / "harbor.pdf"  # written once: reportlab stamps each PDF it writes
    if not pdf.exists():
        write_pdf(pdf, ["Boats and weather.", "The keeper is Marguerite Vance."])
    (file,) = library.attach([pdf]).files
    conversation = history.create_conversation("Harbor")
    question = history.add_message(conversation.id, "user", "Who is the keeper?")
    history.add_message_files(question.id, [file])
    with library.open_index() as index:
        grounding = ground(index, "Who is the keeper?", [file], [], 4096)
    answer = history.add_message(conversation.id, "assistant", "Marguerite Vance.",
                                 parent_id=question.id)
    history.set_message_sources(answer.id, grounding.passages)
    return conversation, question, answer, file, grounding


def test_files_are_kept_once_and_freed_with_the_last_conversation(tmp_path):
    library = DocumentLibrary(tmp_path / "data")
    with HistoryStore.open(tmp_path / "data" / "chatdesk.sqlite3") as history:
        first, question, answer, file, grounding = _conversation_with_a_pdf(
            tmp_path, history, library)
        second, *_ = _conversation_with_a_pdf(tmp_path, history, library)
        blobs = list((tmp_path / "data" / "attachments").glob("??/*"))
        assert [b.name for b in blobs] == [file.sha256]  # the same file, kept once
        assert history.message_files([question.id]) == {question.id: (file,)}
        assert history.message_sources([answer.id]) == {answer.id: grounding.passages}

        history.delete_conversation(first.id)
        history.purge_conversations([first.id])
        assert library.store.free_unreferenced(history.attachment_hashes()) == 0
        assert library.store.has(file.sha256)  # the second conversation still uses it
        history.delete_conversation(second.id)  # soft: Undo may bring it back
        assert library.store.free_unreferenced(history.attachment_hashes()) == 0
        history.purge_conversations([second.id])
        assert history.message_files([question.id]) == {}
        assert library.store.free_unreferenced(history.attachment_hashes()) == 1
        assert not library.store.has(file.sha256)


def test_json_export_and_import_round_trip_with_attachments(tmp_path):
    source = DocumentLibrary(tmp_path / "data")
    with HistoryStore.open(tmp_path / "data" / "chatdesk.sqlite3") as history:
        conversation, _q, _a, file, grounding = _conversation_with_a_pdf(
            tmp_path, history, source)
        exported = export_conversation(history, conversation.id, "json", tmp_path / "h.json")
        markdown = render(history, conversation.id, "md").decode()
        page = render(history, conversation.id, "html").decode()
    document = json.loads(exported.read_text(encoding="utf-8"))
    assert set(document["attachments"]) == {file.sha256}
    assert document["messages"][0]["files"][0]["name"] == "harbor.pdf"
    assert document["messages"][1]["sources"][1]["text"] == "The keeper is Marguerite Vance."
    assert "Attached: harbor.pdf (2 pages)" in markdown
    assert "Source \\[2\\] harbor.pdf, page 2" in markdown and "Source [2] harbor.pdf" in page

    elsewhere = DocumentLibrary(tmp_path / "other")
    with HistoryStore.open(tmp_path / "other" / "chatdesk.sqlite3") as history:
        (new_id,) = import_file(history, exported).ids
        thread = history.thread(new_id)
        files = history.message_files([m.id for m in thread])
        sources = history.message_sources([m.id for m in thread])
    assert list(files.values()) == [(file,)]
    assert list(sources.values()) == [grounding.passages]
    assert elsewhere.store.read(file.sha256) == (tmp_path / "harbor.pdf").read_bytes()


def test_an_export_whose_attachment_does_not_match_its_hash_imports_nothing(tmp_path):
    library = DocumentLibrary(tmp_path / "data")
    with HistoryStore.open(tmp_path / "data" / "chatdesk.sqlite3") as history:
        conversation, *_ = _conversation_with_a_pdf(tmp_path, history, library)
        exported = export_conversation(history, conversation.id, "json", tmp_path / "h.json")
    document = json.loads(exported.read_text(encoding="utf-8"))
    (sha,) = document["attachments"]
    document["attachments"][sha] = "aGVsbG8="  # "hello": not the file
    exported.write_text(json.dumps(document), encoding="utf-8")
    import pytest

    from chatdesk.core.exchange import ExchangeError

    with HistoryStore.open(tmp_path / "fresh.sqlite3") as history:
        with pytest.raises(ExchangeError, match="does not match its sha256"):
            import_file(history, exported)
        assert history.list_conversations() == []

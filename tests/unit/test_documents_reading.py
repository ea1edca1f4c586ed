"""Reading real files into text (core/documents/reading.py): every format, encodings
detected rather than assumed, and every bad input refused with one clear line."""

from __future__ import annotations

import os

import pytest
from documents_files import write_docx, write_encrypted_pdf, write_pdf

from chatdesk.core.documents.chunking import chunk_document, estimate_tokens
from chatdesk.core.documents.reading import (
    OCR_MESSAGE,
    UnreadableDocument,
    read_document,
)

FRENCH = ("Le château de la forêt est très ancien. Les élèves étudient l'été près du lac, où "
          "l'eau est claire et fraîche. Le garçon a reçu une lettre de sa sœur à Genève. ") * 4
RUSSIAN = ("Съешь же ещё этих мягких французских булок, да выпей чаю. Москва — столица "
           "России, большой и красивый город. ") * 4
JAPANESE = ("吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。何でも薄暗い"
            "じめじめした所でニャーニャー泣いていた事だけは記憶している。") * 3


def test_a_multi_page_pdf_keeps_its_page_numbers(tmp_path):
    path = write_pdf(tmp_path / "report.pdf", ["Alpha page text.", "Beta page text.",
                                               "Gamma page text."])
    document = read_document(path)
    assert document.kind == "pdf" and document.page_count == 3
    assert [(p.number, p.text) for p in document.pages] == [
        (1, "Alpha page text."), (2, "Beta page text."), (3, "Gamma page text.")]
    chunks = chunk_document(document)
    assert [(c.page, c.text) for c in chunks] == [(1, "Alpha page text."),
                                                  (2, "Beta page text."),
                                                  (3, "Gamma page text.")]


def test_a_docx_gives_headings_paragraphs_and_tables(tmp_path):
    path = write_docx(tmp_path / "memo.docx", "Quarterly memo",
                      ["Sales rose in the north.", "Costs fell in the south."],
                      [["Region", "Sales"], ["North", "120"]])
    text = read_document(path).text
    assert text.startswith("# Quarterly memo")
    assert "Sales rose in the north." in text and "Costs fell in the south." in text
    assert "Region | Sales\nNorth | 120" in text


@pytest.mark.parametrize(("text", "encoding"), [
    (FRENCH, "utf-8"), (FRENCH, "cp1252"), (FRENCH, "utf-16"), (RUSSIAN, "cp1251"),
    (RUSSIAN, "utf-8-sig"), (JAPANESE, "shift_jis"), (JAPANESE, "euc_jp")])
def test_text_files_are_decoded_with_the_encoding_found(tmp_path, text, encoding):
    path = tmp_path / "notes.txt"
    path.write_bytes(text.encode(encoding))
    assert read_document(path).text == text


def test_html_gives_its_text_not_its_markup(tmp_path):
    path = tmp_path / "page.html"
    path.write_text("<html><head><title>T</title><style>p {color: red}</style></head><body>"
                    "<h2>Tides</h2><p>High tide is at <b>noon</b> &amp; midnight.</p>"
                    "<script>alert('x')</script></body></html>", encoding="utf-8")
    assert read_document(path).text == "## Tides\n\nHigh tide is at noon & midnight."


def test_markdown_csv_json_and_code_are_read_as_text(tmp_path):
    for name, body in (("a.md", "# Title\n\nBody"), ("b.csv", "x,y\n1,2"),
                       ("c.json", '{"k": "v"}'), ("d.py", "print('hi')")):
        (tmp_path / name).write_text(body, encoding="utf-8")
        assert read_document(tmp_path / name).text == body


@pytest.mark.parametrize("bad", ["encrypted", "scan", "too_big", "binary", "gone", "folder",
                                 "unknown_kind", "not_a_pdf", "not_a_docx", "empty",
                                 "unreadable", "pipe", "device"])
def test_bad_input_is_refused_with_one_clear_line(tmp_path, bad):
    limit = 200 * 1024 * 1024
    if bad == "encrypted":
        path, expected = write_encrypted_pdf(tmp_path / "locked.pdf", "Secret"), "encrypted PDF"
    elif bad == "scan":
        path = write_pdf(tmp_path / "scan.pdf", ["", ""], text_layer=False)
        expected = OCR_MESSAGE
    elif bad == "too_big":
        path = tmp_path / "big.txt"
        path.write_text("x" * 2048)
        limit, expected = 1024, "too big"
    elif bad == "binary":
        path = tmp_path / "fake.txt"
        path.write_bytes(bytes(range(256)) * 64)
        expected = "binary data, not text"
    elif bad == "gone":
        path, expected = tmp_path / "vanished.md", "the file is gone"
    elif bad == "folder":
        path = tmp_path / "dir.txt"
        path.mkdir()
        expected = "is a folder"
    elif bad == "unknown_kind":
        path = tmp_path / "photo.jpeg"
        path.write_bytes(b"\xff\xd8\xff")
        expected = "cannot read .jpeg files"
    elif bad == "not_a_pdf":
        path = tmp_path / "fake.pdf"
        path.write_text("hello, I am not a PDF")
        expected = "not a readable PDF"
    elif bad == "not_a_docx":
        path = tmp_path / "fake.docx"
        path.write_text("hello")
        expected = "not a readable DOCX"
    elif bad == "pipe":  # opening a named pipe for reading would wait for a writer forever
        path = tmp_path / "notes.txt"
        os.mkfifo(path)
        expected = "not a regular file"
    elif bad == "device":  # /dev/zero has size 0 and never ends: a symlink named .txt to it
        path = tmp_path / "zero.txt"
        path.symlink_to("/dev/zero")
        expected = "not a regular file"
    elif bad == "empty":
        path = tmp_path / "empty.txt"
        path.write_text("  \n")
        expected = "has no text"
    else:
        if os.geteuid() == 0:
            pytest.skip("root reads files whatever their permissions")
        path = tmp_path / "private.txt"
        path.write_text("x")
        path.chmod(0)
        expected = "no permission"
    with pytest.raises(UnreadableDocument) as caught:
        read_document(path, limit)
    message = str(caught.value)
    assert message.startswith(path.name + ": ") and expected in message, message
    assert "\n" not in message and "Traceback" not in message


def test_chunks_split_at_headings_and_stay_near_the_target_size(tmp_path):
    sections = []
    for n in range(6):
        body = " ".join(f"Sentence {n}.{i} about topic {n}." for i in range(60))
        sections.append(f"# Section {n}\n\n{body}")
    path = tmp_path / "long.md"
    path.write_text("\n\n".join(sections), encoding="utf-8")
    chunks = chunk_document(read_document(path), target_tokens=150)
    assert {c.heading for c in chunks} == {f"Section {n}" for n in range(6)}
    for chunk in chunks:  # a passage never mixes two sections
        assert f"topic {chunk.heading.split()[-1]}." in chunk.text
        assert estimate_tokens(chunk.text) <= 150 + 10
    assert "".join(c.text for c in chunks).count("Sentence") == 6 * 60  # nothing lost

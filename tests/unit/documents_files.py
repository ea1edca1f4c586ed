"""Real documents for the documents tests, written by the tests: PDFs with reportlab
(a text layer, or none: a "scan"), an encrypted PDF with pypdf, a DOCX with
python-docx. Imported by name (not conftest), like tests/integration/real_model.py."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def write_pdf(path: Path, pages: Sequence[str], *, text_layer: bool = True) -> Path:
    """A PDF with one page per text (lines split at newlines; long lines wrapped)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=A4)
    for text in pages:
        if text_layer:
            y = 800
            for line in _wrapped(text):
                c.drawString(50, y, line)
                y -= 14
                if y < 40:
                    break
        else:  # a scan: only shapes, nothing to extract
            c.rect(50, 500, 300, 200, fill=1)
        c.showPage()
    c.save()
    return path


def _wrapped(text: str, width: int = 95) -> list[str]:
    lines: list[str] = []
    for paragraph in text.split("\n"):
        words = paragraph.split()
        line = ""
        for word in words:
            if len(line) + len(word) + 1 > width:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}".strip()
        lines.append(line)
    return lines


def write_encrypted_pdf(path: Path, text: str, password: str = "secret") -> Path:
    from pypdf import PdfReader, PdfWriter

    plain = write_pdf(path.with_suffix(".plain.pdf"), [text])
    writer = PdfWriter()
    for page in PdfReader(plain).pages:
        writer.add_page(page)
    writer.encrypt(user_password=password, owner_password=password + "-owner")
    with path.open("wb") as out:
        writer.write(out)
    plain.unlink()
    return path


def write_docx(path: Path, heading: str, paragraphs: Sequence[str],
               table: Sequence[Sequence[str]] = ()) -> Path:
    import docx

    document = docx.Document()
    document.add_heading(heading, level=1)
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, cell in enumerate(row):
                grid.cell(r, c).text = cell
    document.save(str(path))
    return path

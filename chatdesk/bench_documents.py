"""`python -m chatdesk.bench_documents`: the documents figures (issue 13), printed.

* indexing speed: a folder of text files (files/s) and a 100-page PDF (pages/s), cold;
* time to first token for a question over a 100-page PDF with the bundled model: reading
  and indexing the PDF, choosing the passages, and the model's own first token.

Run it once on a quiet machine; it writes only under a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

PARAGRAPH = ("The committee reviewed the maintenance schedule for the eastern district and "
             "noted that pumps, valves and the telemetry links were inspected on time. ")


def _write_pdf(path: Path, pages: int) -> Path:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=A4)
    for number in range(1, pages + 1):
        y = 800
        lines = [f"Section {number}", f"On page {number} the inspector of station {number} "
                 f"was named Inspector-{number * 7}."]
        lines += [PARAGRAPH[i:i + 90] for i in range(0, len(PARAGRAPH), 90)] * 12
        for line in lines:
            c.drawString(50, y, line)
            y -= 14
        c.showPage()
    c.save()
    return path


def run(files: int = 2000, pages: int = 100, model: Path | None = None) -> dict[str, float]:
    from chatdesk.core.documents.index import DocumentIndex
    from chatdesk.core.documents.library import DocumentLibrary

    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="chatdesk-bench-docs-") as scratch:
        root = Path(scratch)
        folder = root / "folder"
        for n in range(files):
            sub = folder / f"d{n % 20}"
            sub.mkdir(parents=True, exist_ok=True)
            (sub / f"note{n}.md").write_text(f"# Note {n}\n\n" + PARAGRAPH * 8,
                                             encoding="utf-8")
        with DocumentIndex.open(root / "index.sqlite3") as index:
            report = index.index_folder(folder)
        figures["folder_files"] = report.files
        figures["folder_s"] = round(report.seconds, 3)
        figures["folder_files_per_s"] = round(report.files / report.seconds, 1)

        pdf = _write_pdf(root / "manual.pdf", pages)
        library = DocumentLibrary(root / "data")
        started = time.perf_counter()
        attached = library.attach([pdf])
        attach_s = time.perf_counter() - started
        (file,) = attached.files
        figures["pdf_pages"] = file.pages
        figures["pdf_attach_s"] = round(attach_s, 3)
        figures["pdf_pages_per_s"] = round(file.pages / attach_s, 1)
        figures["pdf_tokens_estimated"] = file.tokens

        question = f"What was the name of the inspector of station {pages - 13}?"
        with library.open_index() as index:
            started = time.perf_counter()
            grounding = library.ground(index, question, [file], [], 4096)
            figures["ground_ms"] = round((time.perf_counter() - started) * 1000, 2)
        figures["grounding"] = grounding.mode  # type: ignore[assignment]
        figures["passages"] = len(grounding.passages)
        figures["right_page_given"] = float(any(p.page == pages - 13
                                                for p in grounding.passages))
        if model is not None:
            figures.update(_first_token(model, question, grounding))
            figures["question_to_first_token_s"] = round(
                attach_s + figures["ground_ms"] / 1000 + figures["model_ttft_s"], 3)
    return figures


def _first_token(model: Path, question: str, grounding: object) -> dict[str, float]:
    import dataclasses

    from chatdesk.core.documents.grounding import with_passages
    from chatdesk.core.engine import LlamaEngine, LoadOptions
    from chatdesk.core.events import ChatMessage
    from chatdesk.core.sampling import GREEDY
    from chatdesk.core.stop_flag import StopFlag

    engine = LlamaEngine()
    try:
        engine.load(model, LoadOptions(context_length=4096))
        messages = with_passages([ChatMessage("user", question)], grounding)  # type: ignore
        result = engine.chat(messages, dataclasses.replace(GREEDY, max_tokens=40),
                             StopFlag(), lambda *_: None)
    finally:
        engine.close()
    return {"model_ttft_s": round(result.ttft_s, 3), "prompt_tokens": result.prompt_tokens,
            "answer": result.text.strip()}  # type: ignore[dict-item]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chatdesk.bench_documents")
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--model", help="a .gguf (default: the bundled SmolLM2); "
                        "'none' skips the time to first token")
    args = parser.parse_args(argv)
    model: Path | None
    if args.model == "none":
        model = None
    elif args.model:
        model = Path(args.model)
    else:
        from chatdesk.core.bundled_model import smollm2_source

        model = smollm2_source()
    print(json.dumps(run(args.files, args.pages, model), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

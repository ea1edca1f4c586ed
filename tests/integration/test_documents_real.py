"""Chat with your documents on the real SmolLM2 model, headless: `chatdesk chat --attach`
answers over a PDF the test writes, names the fact that is only in the PDF, and --json
lists exactly the passages it was given; a file that cannot be read stops it with one
line. (The window's path is the same core: tests/gui/test_documents_window.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from real_model import smollm2_path

from chatdesk.core.history import HistoryStore

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from documents_files import write_pdf

pytestmark = pytest.mark.integration
RUN_TIMEOUT_S = 300


def chat(env: dict[str, str], data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatdesk", "chat", "--data-dir", str(data),
         "--model", str(smollm2_path()), "--temperature", "0", "--max-tokens", "60", *args],
        env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)


def test_smollm2_answers_from_an_attached_pdf_with_its_sources(tmp_path, subprocess_env):
    pdf = write_pdf(tmp_path / "harbor.pdf", [
        "The Harbor Report. Boats and weather on the coast of Port Elsa.",
        "The lighthouse keeper of Port Elsa is named Marguerite Vance.\n"
        "She has kept the light since 1987."])
    data = tmp_path / "data"
    done = chat(subprocess_env, data, "--json", "--attach", str(pdf),
                "Who is the lighthouse keeper of Port Elsa?")
    print(f"\nstdout:\n{done.stdout}\nstderr:\n{done.stderr[-2000:]}")
    assert done.returncode == 0, done.stderr[-3000:]
    reply = json.loads(done.stdout)
    assert "Marguerite Vance" in reply["answer"]  # only the PDF says so
    assert reply["grounding"] == "whole"
    assert reply["sources"] == [
        {"file": "harbor.pdf", "page": 1,
         "text": "The Harbor Report. Boats and weather on the coast of Port Elsa."},
        {"file": "harbor.pdf", "page": 2,
         "text": "The lighthouse keeper of Port Elsa is named Marguerite Vance.\n"
                 "She has kept the light since 1987."}]
    with HistoryStore.open(data / "chatdesk.sqlite3") as history:
        question, answer = history.thread(reply["conversation_id"])
        assert question.content == "Who is the lighthouse keeper of Port Elsa?"
        assert [f.name for f in history.message_files([question.id])[question.id]] == [
            "harbor.pdf"]
        stored = history.message_sources([answer.id])[answer.id]
    assert [(s.file, s.page, s.text) for s in stored] == [
        (s["file"], s["page"], s["text"]) for s in reply["sources"]]


def test_an_unreadable_attachment_stops_with_one_line(tmp_path, subprocess_env):
    scan = write_pdf(tmp_path / "scan.pdf", [""], text_layer=False)
    done = chat(subprocess_env, tmp_path / "data", "--attach", str(scan),
                str(tmp_path / "gone.txt"), "What does it say?")
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == (
        "chatdesk: scan.pdf: no text to read: OCR is not supported; "
        "gone.txt: the file is gone")
    assert "Traceback" not in done.stderr

"""Rebuild the README's screenshots: the real main window, light and dark, wide and narrow.

    QT_QPA_PLATFORM=offscreen python docs/screenshots/make_screenshots.py [OUT_DIR]

The window is the app's own (``chatdesk.app.build_window``) over a real SQLite history in a
temporary folder. Only the model is a stand-in: the GUI tests' scripted engine
(tests/gui/fake_engine.py) "writes" the answers below at about 90 tokens/s, so the figures
under each answer (and the energy estimate) come from a real run of the app's code. Needs a
font with Latin glyphs (Debian: fonts-dejavu); emoji are not used.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "gui"), str(ROOT / "tests" / "unit")]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from fake_engine import FakeEngine  # noqa: E402  (the GUI tests' scripted engine)
from gguf_builder import STRING, GGUFBuilder  # noqa: E402  (the header tests' GGUF writer)
from PySide6.QtCore import QCoreApplication, QEventLoop  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from chatdesk.app import build_window, shutdown  # noqa: E402
from chatdesk.core.catalog import catalog_path, load_catalog  # noqa: E402
from chatdesk.core.energy import EnergyMeter  # noqa: E402
from chatdesk.core.paths import AppPaths  # noqa: E402
from chatdesk.core.settings import Settings  # noqa: E402
from chatdesk.ui.theme import apply_theme  # noqa: E402
from chatdesk.worker import EngineHost  # noqa: E402

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_INFO = dict(name="SmolLM2 135M Instruct", architecture="llama", parameters=135_000_000,
                  quantization="Q4_1", trained_context=8192, context_length=4096,
                  chat_template_name="chatml",
                  chat_template_source="the model's own (GGUF metadata)",
                  file_size=98_000_000)

POEM = ("**The Keeper**\n\n"
        "The lamp turns slow above the sea,\n"
        "a patient eye that will not sleep;\n"
        "it writes its name in light for me\n"
        "on every wave, on every deep.\n\n"
        "The ships it guards will never know\n"
        "the hands that trimmed the wick at night,\n"
        "yet still they steer by what they owe\n"
        "to one small room of stubborn light.")

CODE = ("Here is a small function that ignores case, spaces and punctuation:\n\n"
        "```python\n"
        "def is_palindrome(text: str) -> bool:\n"
        "    \"\"\"True when text reads the same both ways, letters and digits only.\"\"\"\n"
        "    kept = [c.lower() for c in text if c.isalnum()]\n"
        "    return kept == kept[::-1]\n\n"
        "print(is_palindrome(\"A man, a plan, a canal: Panama\"))  # True\n"
        "```\n\n"
        "It keeps only letters and digits, lowers them, and compares the list with its "
        "reverse. For very long strings, compare from both ends with two indices instead "
        "of building a reversed copy.")

TABLE = ("| | SQLite | PostgreSQL | DuckDB |\n"
         "|---|---|---|---|\n"
         "| Runs as | a library in your app | a server | a library in your app |\n"
         "| Best at | small apps, local files | many users, transactions | analytics |\n"
         "| Setup | none | install and configure | none |\n\n"
         "For a desktop app that keeps its own data, **SQLite** is the usual choice.")

FOLLOW_UP = ("Two common ways:\n\n"
             "| Approach | Extra memory | Stops early |\n"
             "|---|---|---|\n"
             "| Compare with the reversed copy | a full copy | no |\n"
             "| Two indices moving inwards | none | yes, at the first mismatch |\n\n"
             "Both take time in proportion to the length; the second is kinder to memory.")

# (when the chat was last used, days ago; pinned; its questions and answers)
CHATS = (
    (40, False, (("What's the capital of Australia?",
                  "The capital of Australia is **Canberra**, not Sydney."),)),
    (4, False, (("Compare SQLite, PostgreSQL and DuckDB in a small table", TABLE),)),
    (1, True, (("Write a short poem about a lighthouse", POEM),)),
    (0, False, (("Write a Python function that checks whether a string is a palindrome",
                 CODE),
                ("Which approach is better for very long strings?", FOLLOW_UP))),
)
SHOTS = (("light", 1600, 1000), ("dark", 1600, 1000), ("light", 800, 600),
         ("dark", 800, 600))


def pieces(text: str) -> list[str]:
    """The answer cut into word-sized tokens, spaces and newlines kept."""
    out, word = [], ""
    for char in text:
        word += char
        if char in " \n":
            out.append(word)
            word = ""
    return [*out, word] if word else out


def settle(app: QApplication, until=lambda: True, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        if until() or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    for _ in range(5):  # let layouts and deferred paints finish
        app.processEvents()
        time.sleep(0.02)


def main(out_dir: Path, token_delay_s: float = 0.011) -> list[Path]:
    app = QApplication.instance() or QApplication([sys.argv[0]])
    QCoreApplication.setApplicationName("chatdesk")
    data = Path(tempfile.mkdtemp(prefix="chatdesk-shots-"))
    paths = AppPaths(models_dir=data / "models", database=data / "chatdesk.sqlite3",
                     settings_file=data / "settings.json", logs_dir=data / "logs").ensure()
    model = paths.models_dir / MODEL_FILE
    # A tiny GGUF (one tensor): listed as installed and named like the real model; the
    # scripted engine never reads it.
    model.write_bytes(GGUFBuilder().kv("general.architecture", STRING, "llama")
                      .kv("general.name", STRING, MODEL_INFO["name"])
                      .tensor("token_embd.weight", (8, 4)).build())
    engine = FakeEngine(token_delay_s=token_delay_s, info_changes=MODEL_INFO)
    host = EngineHost(engine, paths.models_dir, meter=EnergyMeter(tdp_watts=28.0))
    apply_theme(app, "light")
    window = build_window(host, paths, Settings(right_panel_visible=True),
                          load_catalog(catalog_path(None)))
    window.resize(1600, 1000)
    window.show()
    window.load_model(str(model))
    settle(app, lambda: window.session.model is not None)

    session = window.session
    ids = []
    for _days, _pinned, turns in CHATS:
        window.new_chat()
        for question, answer in turns:
            engine.pieces = pieces(answer)
            window.send_message(question)
            settle(app, lambda: not session.busy and not window.chat_view.streaming, 60)
        ids.append(session.conversation_id)
    with sqlite3.connect(paths.database) as db:  # spread the chats over the sidebar's groups
        for conversation_id, (days, pinned, _turns) in zip(ids, CHATS, strict=True):
            db.execute("UPDATE conversations SET updated_at = ?, pinned = ? WHERE id = ?",
                       (time.time() - days * 86_400, int(pinned), conversation_id))
    db.close()
    window.refresh_conversations()

    out_dir.mkdir(parents=True, exist_ok=True)
    saved = []
    for theme, width, height in SHOTS:
        session.open_conversation(ids[-1] if width > 1000 else ids[2])  # narrow: the poem
        apply_theme(app, theme)
        window.resize(width, height)
        settle(app)
        window.chat_view.scrollToTop()
        settle(app)
        path = out_dir / f"main-window-{theme}-{width}x{height}.png"
        window.grab().save(str(path))
        saved.append(path)
    window.close()
    shutdown(window)
    session.history.close()
    return saved


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    for saved_path in main(target):
        print(saved_path)

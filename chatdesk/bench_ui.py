"""`chatdesk bench ui`: does the conversation view keep up? No model needed.

Two figures, offscreen (``QT_QPA_PLATFORM=offscreen`` unless a platform is set):

* ``open_conversation_ms``: ``MessageView.set_messages`` of a stored 2,000-message
  conversation (a realistic Markdown mix: prose, lists, tables, fenced code in several
  languages) until it is painted. "Painted" means: ``set_messages``, then
  ``QApplication.processEvents()`` (Qt's delayed layout and posted events), then
  ``window.repaint()``, which paints the whole window synchronously. The figure is the
  slowest of ``--opens`` openings into a fresh view (the first runs cold: fonts, lexers).
* ``stream_stall_*``: a 500-message conversation is open, scrolled to the bottom and
  following, while a scripted answer streams in at a realistic rate (default 50 tokens/s,
  ~4 characters a token) from a QTimer on the GUI thread — the same thread and the same
  ``append_stream`` path as the worker's queued signals. A 5 ms ``Qt::PreciseTimer`` on
  the GUI thread records the gaps between its ticks; any work the view does on the GUI
  thread (flushes, rendering, layout, painting) shows up as a longer gap.

The common pygments lexers are loaded before anything is timed, as the view does in its
first idle turns after it is shown.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from typing import Any

STALL_TIMER_MS = 5

_PARAGRAPHS = (
    "The short answer is yes, but it depends on how you measure it. Local models trade "
    "some quality for privacy and cost, and for many everyday tasks that trade is fine.",
    "Quantization stores weights in fewer bits. Q4_K_M keeps most of the quality of the "
    "16-bit model at roughly a quarter of the memory, which is why it is a popular default.",
    "If the answer is slow, check how many layers run on the GPU and whether the context "
    "is much longer than you need: the KV cache grows with it.",
    "Paris is the capital of France. It has been the seat of government for most of the "
    "last thousand years, with a few notable interruptions.",
)
_CODE = (
    ("python", "def fibonacci(n: int) -> list[int]:\n    \"\"\"The first n numbers.\"\"\"\n"
               "    a, b = 0, 1\n    out = []\n    for _ in range(n):\n        out.append(a)\n"
               "        a, b = b, a + b\n    return out\n\n\nprint(fibonacci(10))  # 0 1 1 2"),
    ("bash", "python -m venv .venv\nsource .venv/bin/activate\npip install llama-cpp-python\n"
             "chatdesk bench --json | jq .app_tokens_per_s"),
    ("json", '{\n  "model": "gemma-3-270m",\n  "temperature": 0.7,\n  "top_p": 0.95,\n'
             '  "stop": ["\\nUser:"]\n}'),
    ("rust", "fn main() {\n    let v: Vec<u32> = (1..=10).filter(|x| x % 2 == 0).collect();\n"
             "    println!(\"{:?}\", v);\n}"),
    ("", "plain text in a fence\nwith two lines"),
)


def _answer(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.35:
        return rng.choice(_PARAGRAPHS)
    parts = [f"## {rng.choice(('Overview', 'How it works', 'Steps', 'Result'))}",
             rng.choice(_PARAGRAPHS)]
    if kind < 0.55:
        parts.append("- **first**, read the `README`\n- then run the tests\n"
                     "  1. unit\n  2. gui\n- see [the docs](https://example.com/docs)")
    if 0.45 < kind < 0.7:
        parts.append("| model | size | tok/s |\n|---|--:|--:|\n| gemma-3-270m | 253 MB | 95 |\n"
                     "| qwen2.5-0.5b | 398 MB | 61 |")
    if kind >= 0.55:
        language, code = rng.choice(_CODE)
        parts.append(f"```{language}\n{code}\n```")
    parts.append(rng.choice(_PARAGRAPHS))
    return "\n\n".join(parts)


def sample_conversation(count: int, seed: int = 1, first_id: int = 1) -> list:
    """``count`` messages alternating user / assistant, a realistic Markdown mix."""
    from chatdesk.ui.chat import MessageItem

    rng = random.Random(seed)
    items = []
    for n in range(count):
        message_id = first_id + n
        if n % 2 == 0:
            text = rng.choice(("What is the capital of France?",
                               "Can you show me how to compute Fibonacci numbers?",
                               "Why is my model slow on this laptop?\nIt has 16 GB of RAM.",
                               "Explain quantization in two sentences."))
            items.append(MessageItem(message_id, "user", text, "You"))
        else:
            tokens = rng.randint(40, 400)
            note = (f"{tokens} tokens · {rng.uniform(20, 90):.1f} tok/s · first token "
                    f"{rng.uniform(0.05, 0.6):.2f} s · {rng.uniform(0.01, 0.3):.3f} Wh")
            items.append(MessageItem(message_id, "assistant", _answer(rng), "gemma-3-270m",
                                     note=note, tooltip=note,
                                     incomplete=rng.random() < 0.02))
    return items


STREAM_ANSWER = (
    "## Streaming answer\n\nHere is a longer answer, written a few characters at a time, "
    "the way a local model produces it. It has **bold** text, `inline code`, and a list:\n\n"
    "- one item\n- another item with a [link](https://example.com)\n- a third\n\n"
    "```python\nimport statistics\n\n\ndef p99(values):\n    ordered = sorted(values)\n"
    "    return ordered[int(len(ordered) * 0.99)]\n\n\nprint(p99(range(1000)))\n```\n\n"
    "| step | time |\n|---|---|\n| render | small |\n| layout | smaller |\n\n"
    "And a closing paragraph that keeps going for a while, so that the message wraps over "
    "several lines and grows as the stream goes on. "
)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[rank]


def _quiet_offscreen_warnings() -> None:
    """The offscreen platform says it cannot pass size hints to a window manager each
    time a window is shown; harmless, and noise in a benchmark's output."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    def handler(kind: QtMsgType, _context: object, message: str) -> None:
        if "does not support propagateSizeHints" in message:
            return
        if kind != QtMsgType.QtDebugMsg:
            print(message, file=sys.stderr)

    qInstallMessageHandler(handler)


def run_ui_bench(duration_s: float = 5.0, messages: int = 500, open_messages: int = 2000,
                 tokens_per_s: float = 50.0, chars_per_token: int = 4, opens: int = 3,
                 width: int = 1000, height: int = 760) -> dict[str, Any]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import QCoreApplication, QElapsedTimer, QEvent, QEventLoop, Qt, QTimer
    from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget

    from chatdesk.ui.chat import MessageItem, MessageView

    app = QApplication.instance()
    if app is None:
        app = QApplication([])
        _quiet_offscreen_warnings()

    def make_window() -> tuple[QWidget, MessageView]:
        window = QWidget()
        window.resize(width, height)
        layout = QVBoxLayout(window)
        view = MessageView(window)
        layout.addWidget(view)
        window.show()
        app.processEvents()
        return window, view

    def dispose(window: QWidget) -> None:
        window.close()
        window.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)

    # The view loads common lexers in its first idle turns after it is shown (about 0.1 s
    # of a fresh app's idle time); do that first so that it is not counted as opening.
    from chatdesk.ui.code_highlight import COMMON_LANGUAGES, warm_up

    for language in COMMON_LANGUAGES:
        warm_up(language)

    # -- opening a stored conversation
    conversation = sample_conversation(open_messages, seed=7)
    open_runs = []
    for _ in range(max(1, opens)):
        window, view = make_window()
        started = time.perf_counter()
        view.set_messages(conversation)
        app.processEvents()
        window.repaint()
        open_runs.append((time.perf_counter() - started) * 1000)
        dispose(window)

    # -- streaming into a 500-message conversation
    window, view = make_window()
    view.set_messages(sample_conversation(messages, seed=11))
    app.processEvents()
    window.repaint()

    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append((now - last[0]) * 1000)
        last[0] = now

    source = STREAM_ANSWER
    position = [0]
    sent = [0]

    def token() -> None:
        start = position[0] % len(source)
        piece = source[start:start + chars_per_token]
        position[0] += chars_per_token
        sent[0] += 1
        view.append_stream(piece)

    stall_timer = QTimer()
    stall_timer.setTimerType(Qt.TimerType.PreciseTimer)
    stall_timer.setInterval(STALL_TIMER_MS)
    stall_timer.timeout.connect(tick)
    token_timer = QTimer()
    token_timer.setTimerType(Qt.TimerType.PreciseTimer)
    token_timer.setInterval(max(1, round(1000 / tokens_per_s)))
    token_timer.timeout.connect(token)
    loop = QEventLoop()
    clock = QElapsedTimer()

    view.begin_stream(MessageItem(10**9, "assistant", "", "gemma-3-270m"))
    clock.start()
    last[0] = time.perf_counter()
    stall_timer.start()
    token_timer.start()
    QTimer.singleShot(round(duration_s * 1000), loop.quit)
    loop.exec()
    token_timer.stop()
    stall_timer.stop()
    elapsed = clock.elapsed() / 1000
    streamed = view.message_text(10**9)
    view.end_stream(MessageItem(10**9, "assistant", "", "gemma-3-270m", note="done"))
    dispose(window)

    gaps = gaps[1:]  # the first gap includes starting the loop
    return {
        "messages": messages,
        "open_messages": open_messages,
        "open_conversation_ms": round(max(open_runs), 1),
        "open_conversation_runs_ms": [round(v, 1) for v in open_runs],
        "open_paint": "set_messages + processEvents + window.repaint",
        "stream_stall_p99_ms": round(_percentile(gaps, 0.99), 2),
        "stream_stall_max_ms": round(max(gaps) if gaps else 0.0, 2),
        "stream_stall_median_ms": round(statistics.median(gaps) if gaps else 0.0, 2),
        "stream_timer_ms": STALL_TIMER_MS,
        "stream_ticks": len(gaps),
        "stream_seconds": round(elapsed, 2),
        "stream_tokens": sent[0],
        "stream_chars": len(streamed),
        "tokens_per_s": tokens_per_s,
        "qt_platform": QApplication.platformName(),
        "pyside6": pyside_version,
    }


def run_ui_bench_command(args: argparse.Namespace) -> int:
    result = run_ui_bench(duration_s=getattr(args, "duration", 5.0) or 5.0,
                          messages=getattr(args, "messages", None) or 500,
                          open_messages=getattr(args, "open_messages", None) or 2000)
    if getattr(args, "json", False):
        print(json.dumps(result, indent=2))
        return 0
    print(f"UI benchmark ({result['qt_platform']}, PySide6 {result['pyside6']})")
    print(f"  open a {result['open_messages']}-message conversation until painted: "
          f"{result['open_conversation_ms']} ms (slowest of "
          f"{result['open_conversation_runs_ms']})")
    print(f"  streaming {result['stream_tokens']} tokens over {result['stream_seconds']} s "
          f"into {result['messages']} messages, gaps of a {STALL_TIMER_MS} ms timer: "
          f"p99 {result['stream_stall_p99_ms']} ms, max {result['stream_stall_max_ms']} ms, "
          f"median {result['stream_stall_median_ms']} ms")
    sys.stdout.flush()
    return 0

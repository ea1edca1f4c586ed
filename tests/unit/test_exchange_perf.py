"""A 10,000-message conversation exports in seconds (run with -s to see the timings).

No wall-clock asserts (machines differ); the test checks the files are complete, and the
printed table is what docs/export-format.md quotes.
"""

from __future__ import annotations

import json
import time

from test_exchange_formats import STATS, history  # noqa: F401

from chatdesk.core.exchange import export_conversation, import_file
from chatdesk.core.history import NewMessage

N = 10_000


def _messages() -> list[NewMessage]:
    out = []
    for i in range(N):
        if i % 2 == 0:
            text = f"Question {i}: how do I sort a list in Python? 🙂 日本語"
            out.append(NewMessage(i, i - 1 if i else None, "user", text))
        else:
            text = (f"Answer {i}. Use **sorted()**:\n\n```python\nitems = [3, 1, 2]\n"
                    "print(sorted(items))  # [1, 2, 3]\n```\n\n- stable\n- returns a new "
                    "list\n\nSee `list.sort()` for in-place sorting.")
            out.append(NewMessage(i, i - 1, "assistant", text, model="gemma-3-270m",
                                  sampling={"temperature": 0.7}, stats=STATS,
                                  energy={"joules": 1.0, "source": "estimate"}))
    return out


def test_exporting_10k_messages_takes_seconds(history, tmp_path):  # noqa: F811
    cid = history.import_conversation("Ten thousand", _messages()).id
    timings = {}
    for fmt in ("md", "json", "html", "txt"):
        start = time.perf_counter()
        path = export_conversation(history, cid, fmt, tmp_path)
        timings[fmt] = (time.perf_counter() - start, path.stat().st_size)
        text = path.read_text(encoding="utf-8")
        assert f"Question {N - 2}:" in text and f"Answer {N - 1}." in text
    start = time.perf_counter()
    [new_id] = import_file(history, tmp_path / "Ten thousand.json")
    import_s = time.perf_counter() - start
    assert history.message_count(new_id) == N
    assert len(json.loads((tmp_path / "Ten thousand.json").read_text())["messages"]) == N
    print("\n10,000 messages: " + ", ".join(
        f"{fmt} {s:.2f} s ({size / 1e6:.1f} MB)" for fmt, (s, size) in timings.items())
        + f"; JSON import {import_s:.2f} s")

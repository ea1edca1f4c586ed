"""A 10,000-message conversation stays quick. Timings are printed (run with -s); the
assertions are only generous sanity bounds, never wall-clock targets."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from chatdesk.core.history import HistoryStore

MESSAGES = 10_000
WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india")


def timed(action, repeat: int = 5) -> tuple[float, object]:
    """Best of ``repeat`` runs, in milliseconds, and the last result."""
    best = float("inf")
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - start)
    return best * 1000, result


def test_ten_thousand_messages(tmp_path: Path):
    path = tmp_path / "history.sqlite3"
    store = HistoryStore.open(path)
    other = store.create_conversation("other chat")
    store.add_message(other.id, "user", "a rare needle elsewhere")
    conversation = store.create_conversation("long chat")
    start = time.perf_counter()
    for i in range(MESSAGES):
        text = (f"message {i} {WORDS[i % len(WORDS)]} common words 你好世界 "
                + "lorem ipsum " * (i % 20))
        store.add_message(conversation.id, "user" if i % 2 == 0 else "assistant", text)
    add_ms = (time.perf_counter() - start) * 1000 / MESSAGES

    thread_ms, thread = timed(lambda: store.thread(conversation.id))
    assert len(thread) == MESSAGES
    assert thread[0].content.startswith("message 0 ") and thread[-1].content.startswith(
        f"message {MESSAGES - 1} ")

    searches = {}
    for query in ("common", "needle", "message 4242 ", "42", "世界", "foxtrot lorem", "zq"):
        searches[query], hits = timed(lambda q=query: store.search(q))
        assert bool(hits) == (query != "zq"), query  # "zq": a short miss, a full scan
    assert [h.conversation_title for h in store.search("needle")] == ["other chat"]
    assert len(store.search("common")) == 50

    # a long answer streaming at the end of the conversation
    user = store.add_message(conversation.id, "user", "one more question")
    reply = store.begin_answer(conversation.id, user.id, model="m", sampling={})
    appends = []
    for i in range(600):
        start = time.perf_counter()
        store.append_answer_text(reply.id, f"token{i} and some more text ")
        appends.append((time.perf_counter() - start) * 1000)
    assert len(store.message(reply.id).content) > 15_000
    first_leaf_ms, _ = timed(lambda: store.switch_to_sibling(thread[0].id), repeat=1)
    assert store.get_conversation(conversation.id).current_leaf_id == reply.id
    store.close()
    open_ms, reopened = timed(lambda: HistoryStore.open(path), repeat=1)
    reopened.delete_conversation(conversation.id)
    purge_ms, purged = timed(lambda: reopened.purge_deleted(), repeat=1)
    assert purged == 1 and reopened.search("common") == []
    reopened.close()

    size_mb = path.stat().st_size / 1e6
    print(f"\n10k-message conversation ({size_mb:.1f} MB file):"
          f"\n  add_message        {add_ms:7.3f} ms each (one commit each)"
          f"\n  thread()           {thread_ms:7.1f} ms for {MESSAGES} messages"
          + "".join(f"\n  search({q!r:16}) {ms:6.1f} ms" for q, ms in searches.items())
          + f"\n  append_answer_text {statistics.mean(appends):7.3f} ms mean, "
          f"{statistics.quantiles(appends, n=100)[98]:.3f} ms p99, {max(appends):.3f} ms max"
          f" (answer grown to {15_000 // 1000}k+ chars)"
          f"\n  switch_to_sibling  {first_leaf_ms:7.1f} ms (walking 10k levels down)"
          f"\n  open() + check     {open_ms:7.1f} ms"
          f"\n  purge the chat     {purge_ms:7.1f} ms (10k rows and their index entries)")
    assert thread_ms < 5000 and max(searches.values()) < 5000
    assert statistics.mean(appends) < 250 and open_ms < 10_000
